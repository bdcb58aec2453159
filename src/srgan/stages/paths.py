"""Every path the pipeline reads or writes, in one place (dvc.yaml names the same ones: tests/stages/test_paths.py).

The library under src/srgan knows nothing of these: stages and command-line tools pass them in.

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
TRAIN = PREPARED / "train"  # train_lr.npy, train_hr.npy, train_ids.npy, manifest.json; train_hr_margin.npy if realistic
TRAIN_LR, TRAIN_HR, TRAIN_IDS = TRAIN / "train_lr.npy", TRAIN / "train_hr.npy", TRAIN / "train_ids.npy"
TRAIN_HR_MARGIN = TRAIN / "train_hr_margin.npy"  # the HR crops with data.realistic.margin pixels around them
VALIDATION = PREPARED / "validation.npz"
BACKBONES = Path("data/backbones")
WEIGHTS_RECORD = Path("data/weights.json")

MODELS = Path("models")
MODEL_FILES = {"srresnet": MODELS / "srresnet.pt", "srgan": MODELS / "srgan.pt",
               "unsupervised": MODELS / "unsupervised.pt"}

REPORTS = Path("reports")
EVALUATIONS = REPORTS / "evaluate"
FIGURES = REPORTS / "figures"
EVALUATED_CARDS = REPORTS / "cards"  # each model's card with its metrics on every evaluation set
PERCEPTION_DISTORTION_FIGURE = FIGURES / "perception_distortion.png"
CURVES_FIGURE = FIGURES / "training_curves.png"
REPORT_PAGE = REPORTS / "index.html"
REPORT_MARKDOWN = REPORTS / "report.md"
METRICS_TABLE = REPORTS / "metrics_table.tex"
COMPARE = REPORTS / "compare"  # srgan-compare's default output folder: made by no stage
TRAINING_STAGES = ("pretrain", "train_gan", "train_unsupervised")
TRAINING_LOG_OUTPUTS = ("plots/metrics", "plots/images", "metrics.json")  # in each training log: DVCLive's layout
STAGE_OUTPUTS = (RAW, PREPARED, BACKBONES, WEIGHTS_RECORD, MODELS, REPORTS)  # what stages make for later ones


def raw_eval(name: str) -> Path:
    return RAW / "eval" / name


def prepared_eval(name: str) -> Path:
    """One evaluation set's images (images.npz) and preparation manifest."""
    return PREPARED / "eval" / name


def evaluation(name: str) -> Path:
    """One evaluation set's results: the four below."""
    return EVALUATIONS / name


def evaluation_metrics(name: str) -> Path:
    return evaluation(name) / "metrics.json"


def evaluation_provenance(name: str) -> Path:
    return evaluation(name) / "provenance.json"


def evaluation_table(name: str) -> Path:
    """The metrics of every image and method."""
    return evaluation(name) / "per_image.csv"


def evaluation_samples(name: str) -> Path:
    return evaluation(name) / "samples"


def training_log(stage: str) -> Path:
    """A training stage's DVCLive folder."""
    return REPORTS / stage


def training_log_outputs(stage: str) -> list[Path]:
    """What dvc.yaml declares of a training stage's DVCLive folder: curves, images and the summary."""
    return [training_log(stage) / name for name in TRAINING_LOG_OUTPUTS]


def training_summary(stage: str) -> Path:
    return training_log(stage) / "metrics.json"


def workspace() -> Path:
    return Path(os.environ.get("DVC_ROOT", "."))


def downloads() -> Path:
    return workspace() / "data" / "downloads"


def checkpoints() -> Path:
    return workspace() / "checkpoints"
