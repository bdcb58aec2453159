"""SRResNet pretraining: pixel MSE, Adam, resumable."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from srgan.models.generator import Generator
from srgan.train.common import LoopSettings, NullLog, PairBatches, TrainingLog, Validation, autocast, run_loop
from srgan.train.tricks import Growth


@dataclass(frozen=True)
class PretrainConfig:
    steps: int
    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    precision: str = "fp32"
    log_every: int = 50
    checkpoint_every: int = 200
    validate_every: int = 0


def pretrain(generator: Generator, batches: PairBatches, config: PretrainConfig, *, checkpoint: Path,
             fingerprint: str, log_to: TrainingLog = NullLog(), validation: Validation | None = None,
             growth: Growth | None = None) -> Generator:
    """Train the generator with MSE for config.steps steps; resume from `checkpoint` when it matches.

    With `growth`, the generator grows x2 -> x4 (-> x8) in phases, each against HR at its resolution.
    """
    growth = growth or Growth(generator.stages)
    device = batches.device
    generator.to(device, memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=config.betas)

    def step(index: int) -> dict[str, torch.Tensor]:
        lr, hr = batches(index)
        stages, alpha = growth.at(index)
        with autocast(device, config.precision):
            sr = generator(lr, stages, alpha)
        loss = F.mse_loss(sr.float(), growth.target(hr, stages))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"train/mse": loss.detach()}

    def growth_values(index: int) -> dict[str, float]:
        stages, alpha = growth.at(index)
        return {"progressive/scale": float(2**stages), "progressive/alpha": alpha} if growth.phase_steps else {}

    def load(state: dict) -> None:
        generator.load_state_dict(state["generator"])
        optimizer.load_state_dict(state["optimizer"])

    run_loop("pretrain", step, LoopSettings(config.steps, config.log_every, config.checkpoint_every,
                                            config.validate_every),
             generator=generator, state=lambda: {"generator": generator.state_dict(),
                                                 "optimizer": optimizer.state_dict()},
             load_state=load, checkpoint=checkpoint, fingerprint=fingerprint, log_to=log_to, validation=validation,
             extra_values=growth_values)
    return generator.eval()
