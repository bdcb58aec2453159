"""Resumable training state on disk: one folder per run, keyed by the run's fingerprint.

checkpoints/<stage>-<fingerprint>/ holds state.pt (the trainer, the average, the RNG state and the
logged history) and the validation images logged so far, so a resumed run replays its curves and
images whole. Checkpoints are loaded with weights_only=True: a planted or shared file cannot run
code. One that cannot be read is reported, naming the file and the reason, and training starts over.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import pickle
import shutil
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from srgan.atomic import write_torch
from srgan.imageio import write_png

log = logging.getLogger(__name__)
# Plain data types a checkpoint holds besides tensors (MultiStepLR keeps its milestones in a Counter).
SAFE_TYPES = [collections.Counter]


def fingerprint(settings: dict, inputs: list[Path], code: dict[str, Path] | None = None) -> str:
    """Identifies one training run: its settings, the content of its input files and of its code ({name: file})
    (content, not mtimes, so a fresh checkout of the same data and code resumes; an edit starts over)."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
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
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


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

    def discard(self) -> None:
        """Forget the run once its outputs are written."""
        shutil.rmtree(self.folder, ignore_errors=True)


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
