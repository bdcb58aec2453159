"""Resumable training state on disk: one folder per run, keyed by the run's fingerprint.

checkpoints/<stage>-<fingerprint>/ holds state.pt (the trainer, the average, the RNG state and the
logged history) and the validation images logged so far, so a resumed run replays its curves and
images whole. Checkpoints are loaded with weights_only=True: a planted or shared file cannot run
code. One that cannot be read is reported, naming the file and the reason, and training starts over.
"""

from __future__ import annotations

import collections
import fcntl
import hashlib
import json
import logging
import os
import pickle
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

import numpy as np
import torch
from PIL import Image

from srgan.atomic import write_torch
from srgan.errors import SrganError
from srgan.hashing import sha256_of
from srgan.imageio import write_png

log = logging.getLogger(__name__)
# Plain data types a checkpoint holds besides tensors (MultiStepLR keeps its milestones in a Counter).
SAFE_TYPES = [collections.Counter]


def fingerprint(params: dict, inputs: list[Path], code: dict[str, Path] | None = None) -> str:
    """Identifies one training run: its params, the content of its input files and of its code ({name: file})
    (content, not mtimes, so a fresh checkout of the same data and code resumes; an edit starts over)."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for path in inputs:
        digest.update(path.name.encode())
        digest.update(_content_hash(path).encode())
    for name, path in sorted((code or {}).items()):
        digest.update(name.encode())
        digest.update(_content_hash(path).encode())
    return digest.hexdigest()


def _content_hash(path: Path) -> str:
    if path.is_dir():
        return hashlib.sha256("".join(f"{p.relative_to(path)}:{_content_hash(p)}" for p in sorted(path.rglob("*"))
                                      if p.is_file()).encode()).hexdigest()
    return sha256_of(path)


class RunStore:
    def __init__(self, root: Path, name: str, fingerprint: str):
        self.fingerprint, self.name = fingerprint, name
        self.folder = Path(root) / f"{name}-{fingerprint[:16]}"
        self.state = self.folder / "state.pt"

    def describe(self) -> str:
        return str(self.state)

    def save(self, state: dict) -> None:
        write_torch(self.state, {"fingerprint": self.fingerprint, **state})

    def load(self) -> dict | None:
        """The saved state of this run, or None (with a warning when a file was there but unusable)."""
        if not self.state.exists():
            others = [path for path in self.folder.parent.glob(f"{self.name}-*/state.pt") if path != self.state]
            if others:
                log.warning("%s: not resumed: made with other settings, data or code than this run (%s); "
                            "training starts from step 0", ", ".join(sorted(map(str, others))), self.folder.name)
            return None
        try:
            with torch.serialization.safe_globals(SAFE_TYPES):
                state = torch.load(self.state, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            refused = next((line.strip() for line in str(err).splitlines() if "Unsupported global" in line), "")
            if not refused:
                return self._unreadable(err)
            log.warning("%s: holds objects that are not plain data, so it was not loaded (no code in it ran: %s); "
                        "training starts over from step 0", self.state, refused)
            return None
        except Exception as err:  # noqa: BLE001 - truncated or corrupt files mean "start over"
            return self._unreadable(err)
        if not isinstance(state, dict) or state.get("fingerprint") != self.fingerprint:
            log.warning("%s: belongs to another run; training starts over from step 0", self.state)
            return None
        return state

    def _unreadable(self, err: Exception) -> None:
        log.warning("%s: cannot be read (%s: %s); training starts over from step 0", self.state,
                    type(err).__name__, str(err).splitlines()[0] if str(err) else "")

    def write_image(self, step: int, name: str, image: np.ndarray) -> None:
        write_png(self._image_path(step, name), image)

    def read_image(self, step: int, name: str) -> np.ndarray:
        with Image.open(self._image_path(step, name)) as image:
            return np.asarray(image.convert("RGB"))

    def _image_path(self, step: int, name: str) -> Path:
        return self.folder / "images" / f"{step:09d}-{name.replace('/', '--')}.png"

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold this run's lock while training: a second process with the same fingerprint (an orphan of a killed
        `dvc`, a concurrent experiment) is refused instead of writing the same checkpoints. The lock is the
        kernel's (flock), so a killed holder never leaves it stale."""
        handle = self._acquire()
        if handle is None:
            owner = self.lock_file.read_text().strip() if self.lock_file.exists() else "?"
            raise SrganError(f"{self.folder}: another process (pid {owner}) is training this same run (same "
                             f"settings, data and code); wait for it to end, or end it (kill {owner}), then run again")
        try:
            yield
        finally:
            handle.close()

    def discard(self) -> None:
        """Forget the run once its outputs are written, unless another process has taken it up meanwhile."""
        handle = self._acquire()
        if handle is None:
            log.warning("%s: left in place: another process is training this run", self.folder)
            return
        try:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.lock_file.unlink(missing_ok=True)
        finally:
            handle.close()

    @property
    def lock_file(self) -> Path:
        return self.folder.with_name(self.folder.name + ".lock")

    def _acquire(self) -> IO | None:
        """This run's lock file, open and locked by this process, its pid written in it; None when another holds it."""
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        while True:
            handle = open(self.lock_file, "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                return None
            try:
                if os.stat(self.lock_file).st_ino == os.fstat(handle.fileno()).st_ino:
                    break
            except FileNotFoundError:
                pass
            handle.close()  # the holder discarded the run and removed this file: lock the new one
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        return handle


def rng_state() -> dict:
    """The global RNG states training draws from (batches and the replay buffer have their own)."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
