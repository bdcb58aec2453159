"""Super-resolution trained without any LR-HR pair.

unpaired: G maps LR to SR; a consistency loss keeps downscale(SR) close to the input LR (the same
degradation as prepare), and D compares SR with real HR crops of *other* images, never the inputs'
own ground truth.

measurement (after Pajot, de Bezenac and Gallinari, "Unsupervised Adversarial Image Reconstruction",
ICLR 2019): no HR image at all. D compares real LR images with a random measurement F(G(y)) of the
generator's output (random shift, then the antialiasing blur and downscale), and G is also trained to
undo that measurement of its own outputs: G(F(G(y))) close to the shifted G(y).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from srgan.data.resize import downscale
from srgan.errors import SrganError
from srgan.losses import generator_adversarial_loss
from srgan.models.discriminator import Discriminator
from srgan.models.generator import Generator
from srgan.train.common import (
    LoopSettings,
    NullLog,
    PairBatches,
    TrainingLog,
    Validation,
    autocast,
    discriminator_update,
    load_parts_state,
    parts_state,
    run_loop,
    to_tensor,
)

MODES = ("unpaired", "measurement")


class UnpairedBatches:
    """LR inputs from one half of the training images, real HR crops from the other half.

    Images are split by their index (even: inputs, odd: real HR), so no batch can ever pair an
    input with its own HR. Batches are a pure function of (seed, step), like PairBatches.
    """

    def __init__(self, lr: np.ndarray, hr: np.ndarray, image_ids: np.ndarray, batch_size: int, seed: int,
                 device: torch.device):
        inputs = np.flatnonzero(image_ids % 2 == 0)
        reals = np.flatnonzero(image_ids % 2 == 1)
        if len(inputs) == 0 or len(reals) == 0:
            raise SrganError("unpaired training needs at least two training images (inputs and real HR come "
                             "from different images); add images to data.train")
        self.image_ids = image_ids
        self.inputs = PairBatches(lr[inputs], lr[inputs], batch_size, seed, device)
        self.reals = PairBatches(hr[reals], hr[reals], batch_size, seed + 1, device)
        self.input_index, self.real_index = inputs, reals

    def indices(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Crop indices (into the full arrays) of the LR inputs and of the real HR crops of a step."""
        return self.input_index[self.inputs.indices(step)], self.real_index[self.reals.indices(step)]

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs(step)[0], self.reals(step)[0]


class LRBatches:
    """Seeded batches of LR crops alone: the measurement mode never sees an HR image."""

    def __init__(self, lr: np.ndarray, batch_size: int, seed: int, device: torch.device):
        self.batches = PairBatches(lr, lr, batch_size, seed, device)

    def __call__(self, step: int) -> tuple[torch.Tensor, None]:
        index = np.sort(self.batches.indices(step))
        return to_tensor(self.batches.lr[index], self.batches.device), None


def random_measurement(images: torch.Tensor, scale: int, generator: torch.Generator) -> tuple[torch.Tensor, tuple]:
    """F(x): a random circular shift of up to scale-1 pixels, then the antialiased bicubic downscale."""
    dy, dx = (int(v) for v in torch.randint(scale, (2,), generator=generator))
    shifted = torch.roll(images, shifts=(dy, dx), dims=(2, 3))
    return downscale(shifted.float(), scale), (dy, dx)


def consistency_loss(sr: torch.Tensor, lr: torch.Tensor, scale: int) -> torch.Tensor:
    """Mean squared difference between downscale(SR) and the LR it came from: zero for a perfect inverse."""
    return F.mse_loss(downscale(sr.float(), scale), lr.float())


@dataclass(frozen=True)
class UnsupervisedConfig:
    mode: str
    steps: int
    adv_weight: float = 1e-3
    consistency_weight: float = 1.0
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    precision: str = "fp32"
    log_every: int = 50
    checkpoint_every: int = 200
    validate_every: int = 0
    seed: int = 0


class UnsupervisedTrainer:
    def __init__(self, g: Generator, d: Discriminator, config: UnsupervisedConfig, device: torch.device):
        if config.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {config.mode!r}")
        self.g, self.d, self.config, self.device = g, d, config, device
        for module in (g, d):
            module.to(device, memory_format=torch.channels_last).train()
        self.opt_g = torch.optim.Adam(g.parameters(), lr=config.lr_g, betas=(0.9, 0.999))
        self.opt_d = torch.optim.Adam(d.parameters(), lr=config.lr_d, betas=(0.9, 0.999))
        self.shifts = torch.Generator().manual_seed(config.seed)

    def parts(self) -> dict:
        return {"generator": self.g, "discriminator": self.d, "opt_g": self.opt_g, "opt_d": self.opt_d}

    def state(self) -> dict:
        return {**parts_state(self.parts()), "shifts": self.shifts.get_state()}

    def load_state(self, state: dict) -> None:
        load_parts_state(self.parts(), state)
        self.shifts.set_state(state["shifts"])

    def step(self, lr: torch.Tensor, real_hr: torch.Tensor | None) -> dict[str, torch.Tensor]:
        with autocast(self.device, self.config.precision):
            sr = self.g(lr)
        if self.config.mode == "unpaired":
            real, fake = real_hr, sr
            content = consistency_loss(sr, lr, self.g.scale)
        else:
            measured, shift = random_measurement(sr, self.g.scale, self.shifts)
            real, fake = lr, measured
            with autocast(self.device, self.config.precision):
                undone = self.g(measured)
            content = F.mse_loss(undone.float(), torch.roll(sr.float(), shift, dims=(2, 3)).detach())
        d_losses = discriminator_update(self.d, self.opt_d, real, fake.float(), device=self.device,
                                        precision=self.config.precision)
        with autocast(self.device, self.config.precision):
            adversarial = generator_adversarial_loss(self.d(fake).float())
        total = self.config.consistency_weight * content + self.config.adv_weight * adversarial
        self.opt_g.zero_grad(set_to_none=True)
        total.backward()
        self.opt_g.step()
        return {"g/total": total.detach(), "g/consistency": content.detach(), "g/adversarial": adversarial.detach(),
                **d_losses}


def train_unsupervised(trainer: UnsupervisedTrainer, batches, *, checkpoint: Path, fingerprint: str,
                       log_to: TrainingLog = NullLog(), validation: Validation | None = None) -> Generator:
    """Train for config.steps steps on batches(step) -> (lr, real HR or None); resumable like the others."""
    config = trainer.config
    run_loop(f"unsupervised ({config.mode})", lambda index: trainer.step(*batches(index)),
             LoopSettings(config.steps, config.log_every, config.checkpoint_every, config.validate_every),
             generator=trainer.g, state=trainer.state, load_state=trainer.load_state, checkpoint=checkpoint,
             fingerprint=fingerprint, log_to=log_to, validation=validation)
    return trainer.g.eval()
