"""The instance secret that signs session cookies and one-click links."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from strideguard.settings import Settings


def secret_key(settings: Settings) -> str:
    """The configured key, else one generated once into ``data_dir/secret_key`` (mode 0600).

    Generated on first use so a fresh install is secure without configuration; kept on disk so
    sessions and links survive restarts; created with O_EXCL so concurrent workers agree.
    """
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.data_dir) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another worker won the race: use its key
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()
