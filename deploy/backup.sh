#!/usr/bin/env bash
# Back up an embedded Strideguard: a consistent SQLite copy plus the raw files.
set -euo pipefail
data="${STRIDEGUARD_DATA_DIR:-./data}"
dest="${1:?usage: backup.sh DEST_DIR}"
mkdir -p "$dest"
python3 - "$data/strideguard.db" "$dest/strideguard.db" <<'PY'
import sqlite3, sys
src, dst = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2])
src.backup(dst)
dst.close(); src.close()
PY
cp -a "$data/raw" "$dest/"
echo "backed up to $dest"
