"""Every path the pipeline reads or writes, in one place (dvc.yaml names the same ones).

Persistent caches (downloaded archives, resumable checkpoints) live under DVC_ROOT: DVC sets it to
the main workspace even for queued and --temp experiments, which run in copies of the project, so
every experiment finds the same archives and can resume its own checkpoints.
"""

from __future__ import annotations

import os
from pathlib import Path

PARAMS = Path("params.yaml")

RAW = Path("data/raw")
RAW_TRAIN = RAW / "train"
RAW_VALIDATION = RAW / "validation"
PREPARED = Path("data/prepared")
TRAIN = PREPARED / "train"  # train_lr.npy, train_hr.npy, train_ids.npy, manifest.json
TRAIN_LR, TRAIN_HR, TRAIN_IDS = TRAIN / "train_lr.npy", TRAIN / "train_hr.npy", TRAIN / "train_ids.npy"
VALIDATION = PREPARED / "validation.npz"
BACKBONES = Path("data/backbones")
WEIGHTS_RECORD = Path("data/weights.json")

MODELS = Path("models")
MODEL_FILES = {"srresnet": MODELS / "srresnet.pt", "srgan": MODELS / "srgan.pt",
               "unsupervised": MODELS / "unsupervised.pt"}

REPORTS = Path("reports")
FIGURES = REPORTS / "figures"
STAGE_OUTPUTS = (RAW, PREPARED, BACKBONES, WEIGHTS_RECORD, MODELS, REPORTS)  # what stages make for later ones


def raw_eval(name: str) -> Path:
    return RAW / "eval" / name


def prepared_eval(name: str) -> Path:
    """One evaluation set's images (images.npz) and preparation manifest."""
    return PREPARED / "eval" / name


def evaluation(name: str) -> Path:
    """One evaluation set's results: metrics.json, provenance.json, per_image.csv, samples/."""
    return REPORTS / "evaluate" / name


def training_log(stage: str) -> Path:
    """A training stage's DVCLive folder."""
    return REPORTS / stage


def workspace() -> Path:
    return Path(os.environ.get("DVC_ROOT", "."))


def downloads() -> Path:
    return workspace() / "data" / "downloads"


def checkpoints() -> Path:
    return workspace() / "checkpoints"
