"""Atomic writes: a temp file in the target's folder, then a rename, so a killed run leaves no half file.

The file ends with the permissions a plain write would give it (0666 less the umask), not the temp
file's 0600, so a team sharing a server can read what the pipeline writes. A full disk is reported
as such, naming the file.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from srgan.errors import SrganError


def default_mode() -> int:
    """The mode a newly created file gets: 0o666 less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{_shortened(path.name)}.", suffix=path.suffix or ".tmp")
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise SrganError(f"no space left on the device holding {path}; free some space and run again") from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


def _shortened(name: str, most: int = 200) -> str:
    """`name` cut to at most `most` of its bytes (at a character's end): a temp file's name adds about 10 bytes
    to its target's, and a name that fits the file system's 255 must not fail for its temp file alone."""
    data = os.fsencode(name)  # a name's bytes, also those no encoding reads (kept as surrogates)
    return name if len(data) <= most else data[:most].decode(errors="ignore")


def write_text(path: Path | str, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: Path | str, value) -> None:
    write_text(path, json.dumps(value, indent=2, sort_keys=False) + "\n")


def write_torch(path: Path | str, payload) -> None:
    """torch.save through a file handle: the archive's inner folder is then always 'archive', never the temp
    file's random name, so the same payload gives the same bytes (DVC sees an unchanged file)."""
    import torch  # here: most stages write no torch file and need not load torch

    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(payload, handle)
