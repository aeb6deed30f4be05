"""Content-addressed raw file storage."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from store.blobs import BlobStore


def test_put_stores_under_the_sha256_and_is_idempotent(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    data = b"\x0e\x10" + b"x" * 100
    digest = blobs.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert blobs.put(data) == digest
    assert blobs.get(digest) == data
    assert digest in blobs
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [tmp_path / digest[:2] / digest[2:4] / digest]


@pytest.mark.parametrize("bad", ["../../etc/passwd", "abc", "G" * 64])
def test_paths_only_come_from_hex_digests(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="sha256"):
        BlobStore(tmp_path).path_for(bad)
