"""File hashing: hex digests of a file's bytes, read once in chunks for every algorithm asked for."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    return digests_of(path, ("sha256",))["sha256"]


def md5_of(path: Path) -> str:
    """Hex md5 of a file."""
    return digests_of(path, ("md5",))["md5"]


def digests_of(path: Path, names: tuple[str, ...]) -> dict[str, str]:
    """{algorithm: hex digest} of a file, hashed in one pass for all the algorithms named."""
    hashes = {name: hashlib.new(name, usedforsecurity=False) for name in names}
    if not hashes:
        return {}
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            for h in hashes.values():
                h.update(chunk)
    return {name: h.hexdigest() for name, h in hashes.items()}
