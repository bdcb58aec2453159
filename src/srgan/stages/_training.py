"""What the three training stages share: their process and device, their data, their run store and their log."""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import statistics
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from srgan.code import PACKAGE, import_closure
from srgan.config import DataParams, ExecutionParams, LoopParams, TrainParams
from srgan.data.crops import load_eval_images
from srgan.data.degradations import degraded_pair
from srgan.devices import pick_device
from srgan.models.card import model_card, write_card
from srgan.models.generator import Generator
from srgan.models.io import save_generator
from srgan.precision import resolve_precision
from srgan.stages.paths import (
    MODEL_FILES,
    TRAIN_HR,
    TRAIN_HR_MARGIN,
    TRAIN_IDS,
    TRAIN_LR,
    TRAINING_LOG_OUTPUTS,
    VALIDATION,
    checkpoints,
    training_log,
    training_summary,
)
from srgan.train.batches import DegradedBatches, PairBatches, Prefetched, SubCropped
from srgan.train.checkpoint import RunStore, fingerprint
from srgan.train.distributed import Dist, from_environment
from srgan.train.health import DiscriminatorWatch
from srgan.train.loop import THROUGHPUT, NullLog, Trainer, Validation, run_loop

# The few numbers of a training run worth a column in `dvc exp show`: the final validation PSNR-Y (val/psnr_y) and
# the median throughput (perf/images_per_s); every curve stays in `dvc plots`.
SUMMARY = ("val", "perf")
TRAINING_DATA = [TRAIN_LR, TRAIN_HR, TRAIN_IDS, TRAIN_HR_MARGIN, VALIDATION]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Session:
    """Where this training process runs: its device, its place among the data-parallel processes, and the worker
    processes that draw its realistic LR (0: drawn in this process)."""
    device: torch.device
    dist: Dist
    degradation_workers: int = 0

    def describe(self, execution: ExecutionParams, precision: str) -> dict:
        """What was used, for the model's metadata: how the run was executed, and the precision `precision`
        resolved to on this device."""
        return {"device": self.device.type, "processes": self.dist.world, "compile": execution.compile,
                "precision": resolve_precision(precision, self.device).record(),
                "torch": torch.__version__.split("+")[0]}


def start_training(execution: ExecutionParams, seed: int) -> Session:
    """Pick the device, join the other processes (under torchrun) and seed every generator."""
    device = pick_device(execution.device, key="execution.device")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True  # crops have one size: autotuned kernels pay off from step 2
    session = Session(device, from_environment(device), degradation_workers(execution, device))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return session


class LiveLog:
    """The training loops' log (srgan.train.loop.TrainingLog) written with DVCLive."""

    def __init__(self, tracker):
        self.tracker = tracker
        self.rates: list[float] = []

    def metrics(self, step: int, values: dict[str, float]) -> None:
        self.tracker.step = step
        for key, value in values.items():
            self.tracker.log_metric(key, value)
        if THROUGHPUT in values:
            self.rates.append(values[THROUGHPUT])

    def summary(self) -> dict:
        """SUMMARY's keys of the last logged values, the throughput as the median of every interval's: one interval
        catches a machine's hiccups."""
        summary = {key: value for key, value in self.tracker.summary.items() if key in SUMMARY}
        if self.rates:
            section, name = THROUGHPUT.split("/")
            summary[section] = {**summary.get(section, {}), name: statistics.median(self.rates)}
        return summary

    def image(self, step: int, name: str, image) -> None:
        self.tracker.log_image(f"{name}_{step:07d}.png", image)


@contextmanager
def training_log_for(stage: str, is_main: bool) -> Iterator:
    """DVCLive on rank 0, nothing on the other ranks. It logs into a temporary folder (DVCLive empties its folder
    when it starts), which replaces the declared outputs in reports/<stage>/ only when training has finished: a
    run that stops half-way leaves no half-written curves there.

    Its metrics.json keeps only SUMMARY, so `dvc exp show` stays readable.
    """
    if not is_main:
        yield NullLog()
        return
    from dvclive import Live

    with tempfile.TemporaryDirectory(prefix=f"srgan-{stage}-log-") as folder:
        with Live(dir=folder, report=None, save_dvc_exp=False, dvcyaml=None) as tracker:
            live_log = LiveLog(tracker)
            yield live_log
            tracker.summary = live_log.summary()
        publish_log(Path(folder), training_log(stage))


def publish_log(log: Path, folder: Path) -> None:
    """Replace the DVCLive outputs dvc.yaml declares in `folder` with those of `log`; the plot folders are made even
    when nothing of their kind was logged (validate_every: 0 logs no image), since DVC expects every output."""
    for name in TRAINING_LOG_OUTPUTS:
        source, target = log / name, folder / name
        if name.startswith("plots/"):
            source.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, target)


def training_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The prepared (lq, gt, image id) crops, memory-mapped: the LR inputs, their HR ground truth, their image."""
    return (np.load(TRAIN_LR, mmap_mode="r"), np.load(TRAIN_HR, mmap_mode="r"), np.load(TRAIN_IDS))


def validation_set(validate_every: int, scale: int) -> Validation | None:
    """The validation images (data.validation), when the section validates at all."""
    return Validation(load_eval_images(VALIDATION), scale) if validate_every else None


def run_store(stage: str, params: dict, data: DataParams, extra_inputs: tuple = ()) -> RunStore:
    """Where this run's checkpoints live, keyed by its params, how it draws its LR (realistic degradations are drawn
    afresh while training, so their settings reach no prepared file), the content of its inputs and its code (the
    stage's import closure, which dvc.yaml lists as its code deps)."""
    drawing = {"degradation": data.degradation}
    if data.degradation == "realistic":
        drawing["realistic"] = data.realistic.model_dump()
    inputs = [path for path in (*TRAINING_DATA, *extra_inputs) if path.exists()]
    code = {str(path.relative_to(PACKAGE)): path for path in import_closure(f"srgan.stages.{stage}")}
    return RunStore(checkpoints(), stage, fingerprint({**params, "lr_drawing": drawing}, inputs, code))


def degradation_workers(execution: ExecutionParams, device: torch.device) -> int:
    """`execution.degradation_workers` resolved. `auto`: none on a CPU, where workers would take the cores training
    runs on; on a GPU, this process's share of the machine's cores less two (the training loop and the thread that
    copies batches to the GPU)."""
    if execution.degradation_workers != "auto":
        return execution.degradation_workers
    if device.type != "cuda":
        return 0
    return max(1, len(os.sched_getaffinity(0)) // execution.nproc_per_node - 2)


def paired_batches(batch_size: int, seed: int, session: Session, data: DataParams, crop_size: int = 0) -> Prefetched:
    """Seeded (lq, gt) batches of the prepared crops, this process's share of each, made ahead on a GPU. With
    `data.degradation: realistic` LR is degraded afresh for every sample of every step, from the crops with their
    margin: a model shown one draw per crop learns those draws (measured: benchmarks/realistic_training.py). A
    `crop_size` (HR pixels, 0: the whole crop) cuts every sample to a random aligned sub-crop of that side."""
    where = session.device, session.dist.rank, session.dist.world
    if data.degradation == "realistic":
        regions = TRAIN_HR_MARGIN if data.realistic.margin else TRAIN_HR
        degrade = partial(degraded_pair, scale=data.scale, params=data.realistic)  # a lambda cannot be pickled
        source = DegradedBatches(np.load(regions, mmap_mode="r"), degrade, batch_size, seed, *where,
                                 workers=session.degradation_workers)
    else:
        lq, gt, _ = training_arrays()
        source = PairBatches(lq, gt, batch_size, seed, *where)
    if crop_size:
        first = session.dist.rank * batch_size // session.dist.world
        source = SubCropped(source, crop_size, data.scale, seed, first)
    return Prefetched(source, session.device)


def train(stage: str, trainer: Trainer, params: LoopParams, *, session: Session, store: RunStore,
          batches: Prefetched, scale: int, watch: DiscriminatorWatch | None = None) -> nn.Module:
    """Run the training loop with the stage's log and validation images, then stop making batches; the generator
    to save."""
    for late in params.past_the_end() if isinstance(params, TrainParams) and session.dist.is_main else ():
        log.warning("%s", late)
    with training_log_for(stage, session.dist.is_main) as log_to:
        result = run_loop(trainer, params, store=store, log_to=log_to, dist=session.dist,
                          validation=validation_set(params.validate_every, scale), watch=watch)
    batches.close()
    return result


def save_and_discard(stage: str, model: str, generator: nn.Module, meta: dict, data: DataParams, *,
                     session: Session, store: RunStore, execution: ExecutionParams, precision: str) -> None:
    """How every training stage ends: on rank 0, the model file (MODEL_FILES[model]) and its card, its metadata
    `meta` plus how the run was executed, then the run's checkpoints are discarded."""
    if session.dist.is_main:
        save_model(stage, MODEL_FILES[model], generator, {**meta, "execution": session.describe(execution, precision)},
                   data)
        store.discard()


def save_model(stage: str, path: Path, generator: Generator, meta: dict, data: DataParams) -> None:
    """The model file, and its card beside it (models/<name>.card.json and .card.md) with the final validation
    metrics DVCLive summarised in reports/<stage>/metrics.json."""
    save_generator(path, generator, meta)
    summary = training_summary(stage)
    validation = json.loads(summary.read_text()).get("val") if summary.exists() else None
    metrics = {f"validation ({data.validation.source}, {data.validation.images} images)": validation} \
        if validation else {}
    degradation = "the pairs' own LR" if data.train.startswith("pairs:") else data.degradation
    write_card(path, model_card(path, generator, meta, {"data": data.train, "degradation": degradation}, metrics))
