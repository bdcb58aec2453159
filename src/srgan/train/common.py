"""What both training loops share: device and precision, seeded batches, resumable checkpoints."""

from __future__ import annotations

import contextlib
import logging
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import torch
from tqdm import tqdm

from srgan.atomic import atomic_path
from srgan.errors import SrganError
from srgan.inference import upscale_image
from srgan.losses import discriminator_loss
from srgan.metrics import psnr_y


class TrainingLog(Protocol):
    """Where a loop reports curves and sample images (the stages adapt DVCLive to it)."""

    def metrics(self, step: int, values: dict[str, float]) -> None: ...

    def image(self, step: int, name: str, image: np.ndarray) -> None: ...


class NullLog:
    def metrics(self, step: int, values: dict[str, float]) -> None:
        pass

    def image(self, step: int, name: str, image: np.ndarray) -> None:
        pass


AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SrganError(f"device: {name} requested but CUDA is not available here; use device: auto or cpu")
    return torch.device(name)


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=AUTOCAST_DTYPES[precision])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class PairBatches:
    """Seeded random batches of (lr, hr) float tensors from uint8 NHWC arrays (memory-mapped is fine).

    The batch of step k is a pure function of (seed, k): each epoch is a fresh permutation seeded by
    (seed, epoch), so a resumed run draws exactly the batches an uninterrupted run would.
    """

    def __init__(self, lr: np.ndarray, hr: np.ndarray, batch_size: int, seed: int, device: torch.device):
        if len(lr) != len(hr) or len(hr) == 0:
            raise SrganError(f"training pairs are empty or mismatched ({len(lr)} LR, {len(hr)} HR); rerun prepare")
        self.lr, self.hr = lr, hr
        self.batch_size = batch_size
        self.seed = seed
        self.device = device
        self._epoch, self._order = -1, None

    def indices(self, step: int) -> np.ndarray:
        count = len(self.hr)
        positions = np.arange(step * self.batch_size, (step + 1) * self.batch_size)
        out = np.empty(self.batch_size, dtype=np.int64)
        for i, position in enumerate(positions):
            epoch = int(position // count)
            if epoch != self._epoch:
                generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                self._epoch, self._order = epoch, torch.randperm(count, generator=generator).numpy()
            out[i] = self._order[position % count]
        return out

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = np.sort(self.indices(step))
        return to_tensor(self.lr[index], self.device), to_tensor(self.hr[index], self.device)


def to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [0, 1], channels-last in memory (faster convs)."""
    tensor = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return tensor.permute(0, 3, 1, 2).float().div_(255.0).contiguous(memory_format=torch.channels_last)


class RunningMean:
    """Means of logged values since the last pop."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.sums[name] = self.sums.get(name, 0.0) + float(value)
        self.count += 1

    def pop(self) -> dict[str, float]:
        means = {name: total / max(self.count, 1) for name, total in self.sums.items()}
        self.sums, self.count = {}, 0
        return means


def check_finite(step: int, losses: dict[str, torch.Tensor], checkpoint: Path) -> None:
    for name, value in losses.items():
        number = float(value.detach()) if torch.is_tensor(value) else float(value)
        if not math.isfinite(number):
            raise SrganError(f"step {step}: loss '{name}' is {number}; training stopped. The last good "
                             f"checkpoint is kept at {checkpoint}. Lower the learning rate or use precision: fp32")


def discriminator_update(d: torch.nn.Module, optimizer: torch.optim.Optimizer, real: torch.Tensor,
                         fake: torch.Tensor, *, device: torch.device, precision: str, real_label: float = 1.0,
                         **forward) -> dict[str, torch.Tensor]:
    """One D step on real and (detached) fake images; returns D's loss and its mean outputs on each."""
    with autocast(device, precision):
        real_logits, fake_logits = d(real, **forward), d(fake.detach(), **forward)
    loss = discriminator_loss(real_logits.float(), fake_logits.float(), real_label)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"d/loss": loss.detach(), "d/real": torch.sigmoid(real_logits.float()).mean().detach(),
            "d/fake": torch.sigmoid(fake_logits.float()).mean().detach()}


def parts_state(parts: dict) -> dict:
    """The state of every part of a run (modules, optimisers, schedulers, buffers), by name."""
    return {name: part.state_dict() for name, part in parts.items()}


def load_parts_state(parts: dict, state: dict) -> None:
    for name, part in parts.items():
        part.load_state_dict(state[name])


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, fingerprint: str, step: int, state: dict) -> None:
    """Everything to continue from `step`: modules, optimisers, RNG states, and what run it belongs to."""
    with atomic_path(path) as tmp:
        torch.save({"fingerprint": fingerprint, "step": step, "rng": rng_state(), **state}, tmp)


def load_checkpoint(path: Path, fingerprint: str) -> dict | None:
    """The checkpoint at path if it belongs to this run (same fingerprint), else None."""
    if not path.exists():
        return None
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # noqa: BLE001 - a damaged checkpoint is ignored: training starts over
        return None
    if checkpoint.get("fingerprint") != fingerprint:
        return None
    return checkpoint


@dataclass
class Validation:
    """Held-out (lr, hr) images: mean PSNR-Y of the generator on them, and the first output as a sample."""
    images: dict[str, tuple[np.ndarray, np.ndarray]]
    scale: int
    tile: int = 128

    def run(self, generator: torch.nn.Module, step: int, log_to: TrainingLog) -> dict[str, float]:
        was_training = generator.training
        generator.eval()
        scores = []
        for index, (name, (lr, hr)) in enumerate(self.images.items()):
            sr = upscale_image(generator, lr, tile=self.tile, overlap=min(16, self.tile // 4))
            scores.append(psnr_y(sr, hr, self.scale))
            if index == 0:
                log_to.image(step, f"val/{name}", sr)
        generator.train(was_training)
        return {"val/psnr_y": float(np.mean(scores))}


@dataclass(frozen=True)
class LoopSettings:
    total_steps: int
    log_every: int
    checkpoint_every: int
    validate_every: int = 0


def run_loop(name: str, step_fn: Callable[[int], dict[str, torch.Tensor]], settings: LoopSettings, *,
             generator: torch.nn.Module, state: Callable[[], dict], load_state: Callable[[dict], None],
             checkpoint: Path, fingerprint: str, log_to: TrainingLog, validation: Validation | None = None,
             extra_values: Callable[[int], dict[str, float]] = lambda step: {}) -> None:
    """Drive step_fn(step) for every step: resume, check losses, log means, validate, checkpoint.

    The checkpoint holds the run's state, the RNG states and the logged history; a resumed run
    replays that history to the log so its curves are whole, then continues where it stopped.
    """
    start, history = 0, []
    saved = load_checkpoint(checkpoint, fingerprint)
    if saved:
        load_state(saved)
        set_rng_state(saved["rng"])
        start, history = saved["step"], saved["history"]
        logging.getLogger(__name__).warning("%s: resuming from step %d of %d (%s)", name, start,
                                            settings.total_steps, checkpoint)
        for step, values in history:
            log_to.metrics(step, values)
    mean = RunningMean()
    total = settings.total_steps
    for step in tqdm(range(start, total), desc=name, initial=start, total=total):
        losses = step_fn(step)
        check_finite(step + 1, losses, checkpoint)
        mean.add({key: value.item() for key, value in losses.items()})
        done = step + 1
        values: dict[str, float] = {}
        if done % settings.log_every == 0 or done == total:
            values.update(mean.pop(), **extra_values(step))
        if validation and settings.validate_every and (done % settings.validate_every == 0 or done == total):
            values.update(validation.run(generator, done, log_to))
        if values:
            history.append((done, values))
            log_to.metrics(done, values)
        if done % settings.checkpoint_every == 0 and done < total:
            save_checkpoint(checkpoint, fingerprint, done, {**state(), "history": history})
