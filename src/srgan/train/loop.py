"""The one training loop: every method (MSE, GAN, unsupervised) is a Trainer, and run_loop drives it.

run_loop owns what all methods share: resuming, the exponential moving average of G, reading
losses back (at log steps only, so a GPU never waits on the host in between), the finiteness
check, throughput, validation, logging and checkpoints. In data-parallel runs every rank runs the
loop; rank 0 alone logs, validates and checkpoints.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from srgan.config import LoopParams
from srgan.errors import SrganError
from srgan.inference import TILE, overlap_for, upscale_image
from srgan.metrics import psnr_y
from srgan.models.norm import exact_spectral_vectors
from srgan.train.checkpoint import RunStore, rng_state, set_rng_state
from srgan.train.distributed import Dist
from srgan.train.health import DiscriminatorWatch

log = logging.getLogger(__name__)


THROUGHPUT = "perf/images_per_s"  # HR crops per second of training steps, logged with every interval's losses


class TrainingLog(Protocol):
    """Where a loop reports curves and sample images (the stages adapt DVCLive to it)."""

    def metrics(self, step: int, values: dict[str, float]) -> None: ...

    def image(self, step: int, name: str, image: np.ndarray) -> None: ...


class NullLog:
    def metrics(self, step: int, values: dict[str, float]) -> None:
        pass

    def image(self, step: int, name: str, image: np.ndarray) -> None:
        pass


class Trainer(Protocol):
    """One training method. `generator` is the bare network it trains (not a DDP wrapper)."""
    name: str
    generator: nn.Module
    total_steps: int
    images_per_step: int  # HR crops of the global batch drawn per step, for the throughput

    def step(self, index: int) -> dict[str, torch.Tensor]:
        """One optimisation step; its losses as device tensors (read back only when logged)."""

    def schedule(self, index: int) -> dict[str, float]:
        """Scheduled values worth a curve at this step (learning rates, adversarial weight)."""

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


@dataclass
class Validation:
    """Held-out (lq, gt) images: mean PSNR-Y of the generator on them, and the first output as a sample."""
    images: dict[str, tuple[np.ndarray, np.ndarray]]
    scale: int
    tile: int = TILE

    def run(self, generator: nn.Module) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        was_training = generator.training
        generator.eval()
        scores, samples = [], {}
        for name, (lq, gt) in self.images.items():
            sr = upscale_image(generator, lq, tile=self.tile, overlap=overlap_for(self.tile))
            scores.append(psnr_y(sr, gt, self.scale))
            if not samples:
                samples[f"val/{name}"] = sr
        generator.train(was_training)
        return {"val/psnr_y": float(np.mean(scores))}, samples


class RunningMean:
    """Sums of each logged loss since the last log, kept on the device; means read back (and checked) when logged."""

    def __init__(self):
        self.totals: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, losses: dict[str, torch.Tensor]) -> None:
        for name, value in losses.items():
            value = value.detach().float().reshape(())
            self.totals[name] = self.totals[name] + value if name in self.totals else value
            self.counts[name] = self.counts.get(name, 0) + 1

    def means(self, dist: Dist, step: int, checkpoint: str) -> dict[str, float]:
        """The global means since the last pop, read back from the device; an error if any is not finite."""
        if not self.totals:
            return {}
        names = list(self.totals)
        values = dist.detached_mean(torch.stack([self.totals[name] / self.counts[name] for name in names])).tolist()
        for name, value in zip(names, values):
            if not math.isfinite(value):
                raise SrganError(f"step {step}: loss '{name}' is {value}; training stopped. The last good "
                                 f"checkpoint is kept ({checkpoint}). Lower the learning rate or use precision: fp32")
        return dict(zip(names, values))

    def pop(self, dist: Dist, step: int, checkpoint: str) -> dict[str, float]:
        means = self.means(dist, step, checkpoint)
        self.totals, self.counts = {}, {}
        return means


class Averaged:
    """An exponential moving average of the generator's weights and BatchNorm statistics (torch's AveragedModel)."""

    def __init__(self, generator: nn.Module, decay: float):
        self.model = AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        self.spectral = any(key.endswith("._u") for key in generator.state_dict())

    def update(self, generator: nn.Module) -> None:
        self.model.update_parameters(generator)

    @property
    def generator(self) -> nn.Module:
        """The average, each spectrally normalised weight with its own norm (the average of its vectors is not)."""
        if self.spectral:
            state = self.model.module.state_dict()
            exact_spectral_vectors(state)
            self.model.module.load_state_dict(state)
        return self.model.module


def run_loop(trainer: Trainer, params: LoopParams, *, store: RunStore, log_to: TrainingLog = NullLog(),
             validation: Validation | None = None, dist: Dist = Dist(),
             watch: DiscriminatorWatch | None = None) -> nn.Module:
    """Drive trainer.step for every step; return the generator to save (its average when params.ema).

    The checkpoint holds the trainer's state, the average, the RNG state and the logged history
    (its images in the run's folder); a resumed run replays that history to the log (and to `watch`,
    which sees every logged step on rank 0) so its curves, images and verdict are whole, then
    continues where it stopped.
    """
    with store.lock() if dist.is_main else nullcontext():
        return _run(trainer, params, store, log_to, validation, dist, watch or DiscriminatorWatch())


def _run(trainer: Trainer, params: LoopParams, store: RunStore, log_to: TrainingLog,
         validation: Validation | None, dist: Dist, watch: DiscriminatorWatch) -> nn.Module:
    average = Averaged(trainer.generator, params.ema) if params.ema else None
    start, history = _resume(trainer, average, store, log_to, dist)
    for entry in history:
        watch.observe(entry["step"], entry["values"])
    running, total = RunningMean(), trainer.total_steps
    # The throughput counts the steps and the read-back of their losses, not validation, logging or checkpoints.
    clock, since, paused = time.perf_counter(), start, 0.0
    bar = tqdm(range(start, total), desc=trainer.name, initial=start, total=total, disable=not dist.is_main)
    kept, done = start, start  # the step of the checkpoint on disk (0: none), the last step done
    try:
        for index in bar:
            running.add(trainer.step(index))
            if average:
                average.update(trainer.generator)
            done = index + 1
            entry: dict = {"step": done, "values": {}, "images": []}
            if done % params.log_every == 0 or done == total:
                entry["values"] = {**running.pop(dist, done, store.describe()), **trainer.schedule(index)}
                now = time.perf_counter()
                rate = trainer.images_per_step * (done - since) / (now - clock - paused)
                entry["values"][THROUGHPUT] = rate
                bar.set_postfix_str(f"{rate:.1f} img/s")
                clock, since, paused = now, done, 0.0
            elif done % params.checkpoint_every == 0:
                running.means(dist, done, store.describe())  # never checkpoint a diverged run
            began = time.perf_counter()
            if validation and dist.is_main and params.validate_every and (
                    done % params.validate_every == 0 or done == total):
                scores, samples = validation.run(average.generator if average else trainer.generator)
                entry["values"].update(scores)
                entry["images"] = _log_images(store, log_to, done, samples)
            if entry["values"] and dist.is_main:
                history.append(entry)
                log_to.metrics(done, entry["values"])
                watch.observe(done, entry["values"])
            if done % params.checkpoint_every == 0 and done < total:
                if dist.is_main:
                    store.save({"step": done, "trainer": trainer.state_dict(), "rng": rng_state(),
                                "history": history, "average": average.model.state_dict() if average else None})
                kept = done
            paused += time.perf_counter() - began
    except KeyboardInterrupt:
        raise KeyboardInterrupt(_what_is_kept(trainer, params, store, done, kept)) from None
    bar.close()
    return average.generator if average else trainer.generator


def _resume(trainer: Trainer, average: Averaged | None, store: RunStore, log_to: TrainingLog,
            dist: Dist) -> tuple[int, list]:
    saved = dist.broadcast(store.load() if dist.is_main else None)
    if not saved or not _restore(trainer, average, saved, store, dist):
        return 0, []
    set_rng_state(saved["rng"])
    if dist.is_main:
        log.warning("%s: resuming from step %d of %d (%s)", trainer.name, saved["step"], trainer.total_steps,
                    store.describe())
        for entry in saved["history"]:
            log_to.metrics(entry["step"], entry["values"])
            for name in entry["images"]:
                log_to.image(entry["step"], name, store.read_image(entry["step"], name))
    return saved["step"], saved["history"]


def _what_is_kept(trainer: Trainer, params: LoopParams, store: RunStore, done: int, kept: int) -> str:
    where = f"{trainer.name}: interrupted after step {done} of {trainer.total_steps}"
    if kept:
        return f"{where}; its checkpoint of step {kept} is kept ({store.describe()}) and `dvc repro` resumes from it"
    return (f"{where}, before its first checkpoint (checkpoint_every: {params.checkpoint_every}): nothing is kept, "
            "and `dvc repro` starts over")


def _restore(trainer: Trainer, average: Averaged | None, saved: dict, store: RunStore, dist: Dist) -> bool:
    """Load a checkpoint into the trainer; when it does not fit (another architecture, another torch), put the
    fresh state back and say why: the run starts over."""
    fresh = copy.deepcopy((trainer.state_dict(), average.model.state_dict() if average else None))
    try:
        trainer.load_state_dict(saved["trainer"])
        if average:
            average.model.load_state_dict(saved["average"])
    except (RuntimeError, KeyError, ValueError, TypeError) as err:
        trainer.load_state_dict(fresh[0])
        if average:
            average.model.load_state_dict(fresh[1])
        if dist.is_main:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            log.warning("%s: does not fit this model (%s); training starts over from step 0", store.describe(),
                        reason)
        return False
    return True


def _log_images(store: RunStore, log_to: TrainingLog, step: int, samples: dict[str, np.ndarray]) -> list[str]:
    for name, image in samples.items():
        store.write_image(step, name, image)
        log_to.image(step, name, image)
    return list(samples)
