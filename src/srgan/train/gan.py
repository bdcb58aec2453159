"""SRGAN fine-tuning: content + weighted adversarial loss for G, BCE for D, resumable."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from srgan.losses import ContentLoss, discriminator_loss, generator_adversarial_loss
from srgan.models.discriminator import Discriminator
from srgan.models.generator import Generator
from srgan.train.common import (Logger, PairBatches, RunningMean, autocast, check_finite, load_checkpoint,
                                save_checkpoint, set_rng_state)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GanConfig:
    steps: int
    adv_weight: float = 1e-3
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas_g: tuple[float, float] = (0.9, 0.999)
    betas_d: tuple[float, float] = (0.9, 0.999)
    real_label: float = 1.0
    precision: str = "fp32"
    log_every: int = 50
    checkpoint_every: int = 200


class GanTrainer:
    """One object holding G, D, their optimisers and the losses; `step` does one D update and one G update."""

    def __init__(self, generator: Generator, discriminator: Discriminator, content: ContentLoss, config: GanConfig,
                 device: torch.device):
        self.g, self.d, self.content, self.config, self.device = generator, discriminator, content, config, device
        for module in (self.g, self.d, self.content):
            module.to(device, memory_format=torch.channels_last).train()
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=config.lr_g, betas=config.betas_g)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=config.lr_d, betas=config.betas_d)

    def state(self) -> dict:
        return {"generator": self.g.state_dict(), "discriminator": self.d.state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict()}

    def load_state(self, state: dict) -> None:
        self.g.load_state_dict(state["generator"])
        self.d.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])

    def step(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        config = self.config
        with autocast(self.device, config.precision):
            sr = self.g(lr)
        d_loss, d_real, d_fake = self._discriminator_step(sr.detach(), hr)
        with autocast(self.device, config.precision):
            fake_logits = self.d(sr)
        content, parts = self.content(sr.float(), hr)
        adversarial = generator_adversarial_loss(fake_logits.float())
        g_loss = content + config.adv_weight * adversarial
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        return {"g/total": g_loss.detach(), "g/content": content.detach(), "g/adversarial": adversarial.detach(),
                **{f"g/content_{name}": value.detach() for name, value in parts.items()},
                "d/loss": d_loss, "d/real": d_real, "d/fake": d_fake}

    def _discriminator_step(self, fake: torch.Tensor, hr: torch.Tensor):
        with autocast(self.device, self.config.precision):
            real_logits, fake_logits = self.d(hr), self.d(fake)
        loss = discriminator_loss(real_logits.float(), fake_logits.float(), self.config.real_label)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        return loss.detach(), torch.sigmoid(real_logits.float()).mean().detach(), \
            torch.sigmoid(fake_logits.float()).mean().detach()


def train_gan(trainer: GanTrainer, batches: PairBatches, *, checkpoint: Path, fingerprint: str,
              logger: Logger = lambda step, metrics: None) -> Generator:
    """Run trainer.config.steps steps, resuming from `checkpoint` when it belongs to this run."""
    config = trainer.config
    start = 0
    saved = load_checkpoint(checkpoint, fingerprint)
    if saved:
        trainer.load_state(saved)
        set_rng_state(saved["rng"])
        start = saved["step"]
        log.warning("resuming GAN training from step %d (%s)", start, checkpoint)
    mean = RunningMean()
    for step in tqdm(range(start, config.steps), desc="train_gan", initial=start, total=config.steps):
        losses = trainer.step(*batches(step))
        check_finite(step + 1, losses, checkpoint)
        mean.add({name: value.item() for name, value in losses.items()})
        done = step + 1
        if done % config.log_every == 0 or done == config.steps:
            logger(done, {**mean.pop(), "adv_weight": config.adv_weight,
                          "lr/g": trainer.opt_g.param_groups[0]["lr"], "lr/d": trainer.opt_d.param_groups[0]["lr"]})
        if done % config.checkpoint_every == 0 and done < config.steps:
            save_checkpoint(checkpoint, fingerprint, done, trainer.state())
    return trainer.g.eval()
