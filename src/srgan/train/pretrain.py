"""SRResNet pretraining: pixel MSE, Adam, resumable."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from srgan.models.generator import Generator
from srgan.train.common import (Logger, PairBatches, RunningMean, autocast, check_finite, load_checkpoint,
                                save_checkpoint, set_rng_state)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainConfig:
    steps: int
    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    precision: str = "fp32"
    log_every: int = 50
    checkpoint_every: int = 200


def pretrain(generator: Generator, batches: PairBatches, config: PretrainConfig, *, checkpoint: Path,
             fingerprint: str, logger: Logger = lambda step, metrics: None) -> Generator:
    """Train the generator with MSE for config.steps steps; resume from `checkpoint` when it matches."""
    device = batches.device
    generator.to(device, memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=config.betas)
    start = 0
    saved = load_checkpoint(checkpoint, fingerprint)
    if saved:
        generator.load_state_dict(saved["generator"])
        optimizer.load_state_dict(saved["optimizer"])
        set_rng_state(saved["rng"])
        start = saved["step"]
        log.warning("resuming pretraining from step %d (%s)", start, checkpoint)
    mean = RunningMean()
    for step in tqdm(range(start, config.steps), desc="pretrain", initial=start, total=config.steps):
        lr, hr = batches(step)
        with autocast(device, config.precision):
            sr = generator(lr)
        loss = F.mse_loss(sr.float(), hr)
        check_finite(step + 1, {"mse": loss}, checkpoint)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        mean.add({"train/mse": loss.item()})
        done = step + 1
        if done % config.log_every == 0 or done == config.steps:
            logger(done, mean.pop())
        if done % config.checkpoint_every == 0 and done < config.steps:
            save_checkpoint(checkpoint, fingerprint, done,
                            {"generator": generator.state_dict(), "optimizer": optimizer.state_dict()})
    return generator.eval()
