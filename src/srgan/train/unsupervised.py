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

from typing import Callable

import torch
import torch.nn.functional as F

from srgan.config import UnsupervisedParams
from srgan.data.resize import downscale
from srgan.losses import discriminator_loss, generator_adversarial_loss
from srgan.models.discriminator import Discriminator
from srgan.models.generator import Generator
from srgan.precision import autocast, resolve_precision
from srgan.train.distributed import Dist
from srgan.train.optim import Optimiser


def random_measurement(images: torch.Tensor, scale: int, generator: torch.Generator) -> tuple[torch.Tensor, tuple]:
    """F(x): a random circular shift of up to scale-1 pixels, then the antialiased bicubic downscale."""
    dy, dx = (int(v) for v in torch.randint(scale, (2,), generator=generator))
    shifted = torch.roll(images, shifts=(dy, dx), dims=(2, 3))
    return downscale(shifted.float(), scale), (dy, dx)


def consistency_loss(sr: torch.Tensor, lq: torch.Tensor, scale: int) -> torch.Tensor:
    """Mean squared difference between downscale(SR) and the LR it came from: zero for a perfect inverse."""
    return F.mse_loss(downscale(sr.float(), scale), lq.float())


class UnsupervisedTrainer:
    """G and D trained from batches(step) -> (lq, real HR crops of other images, or None in measurement mode)."""
    name = "train_unsupervised"

    def __init__(self, generator: Generator, discriminator: Discriminator, batches: Callable[[int], tuple],
                 params: UnsupervisedParams, device: torch.device, *, seed: int = 0, dist: Dist = Dist(),
                 compile: bool = False):
        self.params, self.device, self.batches = params, device, batches
        self.precision = resolve_precision(params.precision, device).name
        for module in (generator, discriminator):
            module.to(device, memory_format=torch.channels_last).train()
        self.generator, self.discriminator = generator, discriminator
        self.g, self.d = dist.wrap(generator, device), dist.wrap(discriminator, device)
        if compile:
            self.g, self.d = torch.compile(self.g), torch.compile(self.d)
        self.opt_g = Optimiser(generator, params.lr_g, (0.9, 0.999), precision=self.precision, device=device)
        self.opt_d = Optimiser(discriminator, params.lr_d, (0.9, 0.999), precision=self.precision, device=device)
        self.shifts = torch.Generator().manual_seed(seed)
        self.total_steps = params.steps
        self.images_per_step = params.batch_size

    def step(self, index: int) -> dict[str, torch.Tensor]:
        lq, reals = self.batches(index)
        precision, scale = self.precision, self.generator.scale
        with autocast(self.device, precision):
            sr = self.g(lq)
        if self.params.mode == "unpaired":
            real, fake = reals, sr
            content = consistency_loss(sr, lq, scale)
        else:
            measured, shift = random_measurement(sr, scale, self.shifts)
            real, fake = lq, measured
            with autocast(self.device, precision):
                undone = self.g(measured)
            content = F.mse_loss(undone.float(), torch.roll(sr.float(), shift, dims=(2, 3)).detach())
        with autocast(self.device, precision):
            real_logits, fake_logits = self.d(real).float(), self.d(fake.detach().float()).float()
        d_loss = discriminator_loss(real_logits, fake_logits)
        self.opt_d.step(d_loss)
        self.discriminator.requires_grad_(False)
        with autocast(self.device, precision):
            adversarial = generator_adversarial_loss(self.discriminator(fake).float())
        self.discriminator.requires_grad_(True)
        total = self.params.consistency_weight * content + self.params.adv_weight * adversarial
        self.opt_g.step(total)
        return {"g/total": total.detach(), "g/consistency": content.detach(), "g/adversarial": adversarial.detach(),
                "d/loss": d_loss.detach(), "d/real": torch.sigmoid(real_logits).mean().detach(),
                "d/fake": torch.sigmoid(fake_logits).mean().detach()}

    def schedule(self, index: int) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict:
        return {"generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(), "shifts": self.shifts.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.shifts.set_state(state["shifts"])
