"""SRResNet pretraining: pixel MSE, Adam; optionally growing the generator x2 -> x4 (-> x8)."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from srgan.config import PretrainParams
from srgan.models.generator import Generator
from srgan.precision import autocast, resolve_precision
from srgan.train.distributed import Dist
from srgan.train.optim import Optimiser
from srgan.train.tricks import Growth


class MSETrainer:
    """Trains the generator on batches(step) -> (lq, gt) with the pixel MSE (the SRResNet of the paper)."""
    name = "pretrain"

    def __init__(self, generator: Generator, batches: Callable[[int], tuple], params: PretrainParams,
                 device: torch.device, dist: Dist = Dist(), compile: bool = False):
        self.params, self.device, self.batches = params, device, batches
        self.precision = resolve_precision(params.precision, device).name
        self.generator = generator.to(device, memory_format=torch.channels_last).train()
        self.growth = Growth.of(generator.upsample_steps, params.progressive)
        self.network = dist.wrap(self.generator, device, find_unused=bool(self.growth.phase_steps))
        if compile:
            self.network = torch.compile(self.network)
        self.optimiser = Optimiser(self.generator, params.lr, params.betas, precision=self.precision,
                                   device=device, decay=params.lr_decay)
        self.total_steps = params.steps
        self.images_per_step = params.batch_size

    def step(self, index: int) -> dict[str, torch.Tensor]:
        lq, gt = self.batches(index)
        upsample_steps, alpha = self.growth.at(index)
        with autocast(self.device, self.precision):
            sr = self.network(lq, upsample_steps, alpha)
        loss = F.mse_loss(sr.float(), self.growth.target(gt, upsample_steps))
        self.optimiser.step(loss)
        self.optimiser.end_of_step()
        return {"train/mse": loss.detach()}

    def schedule(self, index: int) -> dict[str, float]:
        values = {"lr": self.optimiser.lr}
        if self.growth.phase_steps:
            upsample_steps, alpha = self.growth.at(index)
            values.update({"progressive/scale": float(2**upsample_steps), "progressive/alpha": alpha})
        return values

    def state_dict(self) -> dict:
        return {"generator": self.generator.state_dict(), "optimiser": self.optimiser.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        self.optimiser.load_state_dict(state["optimiser"])
