"""What every stage script shares: project paths, params loading, logging, DVCLive and clean errors."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from srgan.config import load_params
from srgan.data.crops import load_eval_images
from srgan.data.sources import raw_name
from srgan.errors import SrganError
from srgan.train.common import PairBatches, Validation
from srgan.train.tricks import Growth

PARAMS = Path("params.yaml")
RAW = Path("data/raw")
PREPARED = Path("data/prepared")
WEIGHTS_RECORD = Path("data/weights.json")
MODELS = Path("models")
CHECKPOINTS = Path("checkpoints")
REPORTS = Path("reports")

log = logging.getLogger("srgan")


def params(*sections: str) -> dict:
    return load_params(PARAMS, *sections)


def run(main: Callable[[], None]) -> None:
    """Run a stage: log to stderr, turn user errors into one message and exit status 1."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        main()
    except SrganError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    except FileNotFoundError as err:
        print(f"error: {err.filename}: missing; it is made by an earlier stage: run `dvc repro`", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted: the last checkpoint is kept; `dvc repro` resumes from it", file=sys.stderr)
        sys.exit(130)


def read_weights_record() -> dict:
    if not WEIGHTS_RECORD.exists():
        raise SrganError(f"{WEIGHTS_RECORD}: missing; run the download stage first (dvc repro download)")
    return json.loads(WEIGHTS_RECORD.read_text())


def fingerprint(settings: dict, inputs: list[Path]) -> str:
    """Identifies one training run: its settings and its input files (size and mtime)."""
    stats = [(str(path), path.stat().st_size, path.stat().st_mtime_ns) for path in inputs]
    blob = json.dumps({"settings": settings, "inputs": stats}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def live(name: str):
    """A DVCLive logger writing reports/<name>/; dvc.yaml declares its plots itself."""
    from dvclive import Live

    return Live(dir=str(REPORTS / name), report=None, save_dvc_exp=False, dvcyaml=None)


class LiveLog:
    """The training loops' log (srgan.train.common.TrainingLog) written with DVCLive."""

    def __init__(self, tracker):
        self.tracker = tracker

    def metrics(self, step: int, values: dict[str, float]) -> None:
        self.tracker.step = step
        for key, value in values.items():
            self.tracker.log_metric(key, value)

    def image(self, step: int, name: str, image) -> None:
        self.tracker.log_image(f"{name}_{step:07d}.png", image)


def eval_file(source: str) -> Path:
    return PREPARED / "eval" / f"{raw_name(source)}.npz"


def validation_set(data, settings) -> Validation | None:
    """The first held-out images of the first evaluation source, when the params ask for validation."""
    if not settings.validate_every:
        return None
    images = load_eval_images(eval_file(data.eval[0]))
    return Validation(dict(list(images.items())[: settings.validate_images]), data.scale)


def growth_for(settings, scale: int, section: str) -> Growth:
    """The growth schedule of a training section, checked against the scale."""
    stages = int(math.log2(scale))
    phases = settings.progressive.phase_steps
    if phases and len(phases) != stages - 1:
        raise SrganError(f"params.yaml: {section}.progressive.phase_steps: x{scale} grows in {stages} phases, "
                         f"so give {stages - 1} phase length(s) before the last, got {len(phases)}")
    return Growth(stages, tuple(phases), settings.progressive.fade_steps)


def training_pairs(batch_size: int, seed: int, device) -> tuple[PairBatches, list[Path]]:
    """Seeded batches over the prepared crops (memory-mapped), and the files they come from."""
    files = [PREPARED / "train_lr.npy", PREPARED / "train_hr.npy"]
    arrays = [np.load(path, mmap_mode="r") for path in files]
    return PairBatches(*arrays, batch_size, seed, device), files
