"""What every stage script shares: project paths, params loading, logging, DVCLive and clean errors."""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from pathlib import Path
from typing import Callable

from srgan.config import load_params
from srgan.errors import SrganError

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


def live(name: str, resume: bool = False):
    """A DVCLive logger writing reports/<name>/; dvc.yaml declares its plots itself."""
    from dvclive import Live

    return Live(dir=str(REPORTS / name), resume=resume, report=None, save_dvc_exp=False, dvcyaml=None)


def live_logger(tracker) -> Callable[[int, dict[str, float]], None]:
    def log_step(step: int, metrics: dict[str, float]) -> None:
        tracker.step = step
        for key, value in metrics.items():
            tracker.log_metric(key, value)
    return log_step
