"""SRGAN fine-tuning: content + weighted adversarial loss for G, BCE for D, with the tricks that make it work.

Step numbering: the first `d_warmup_steps` steps train D alone against the frozen generator; the
`steps` GAN steps follow. Adversarial-weight ramps and learning-rate decay count GAN steps only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from srgan.losses import ContentLoss, generator_adversarial_loss
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
)
from srgan.train.tricks import Growth, ReplayBuffer, adv_weight_at


@dataclass(frozen=True)
class GanConfig:
    steps: int
    adv_weight: float = 1e-3
    adv_schedule: str = "constant"
    adv_start: float = 0.0
    adv_ramp_steps: int = 0
    d_warmup_steps: int = 0
    d_steps: int = 1
    replay_size: int = 0
    replay_fraction: float = 0.5
    real_label: float = 1.0
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas_g: tuple[float, float] = (0.9, 0.999)
    betas_d: tuple[float, float] = (0.9, 0.999)
    lr_decay_at: tuple[int, ...] = ()
    lr_decay_factor: float = 0.1
    precision: str = "fp32"
    log_every: int = 50
    checkpoint_every: int = 200
    validate_every: int = 0
    seed: int = 0

    @property
    def total_steps(self) -> int:
        return self.d_warmup_steps + self.steps


@dataclass
class GanTrainer:
    """G, D, their optimisers and schedulers, the content loss and the replay buffer: all of a run's state."""
    g: Generator
    d: Discriminator
    content: ContentLoss
    config: GanConfig
    device: torch.device
    growth: Growth | None = None
    replay: ReplayBuffer = field(init=False)

    def __post_init__(self):
        self.growth = self.growth or Growth(self.g.stages)
        for module in (self.g, self.d, self.content):
            module.to(self.device, memory_format=torch.channels_last).train()
        config = self.config
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=config.lr_g, betas=config.betas_g)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=config.lr_d, betas=config.betas_d)
        self.sched_g, self.sched_d = (
            torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(config.lr_decay_at), gamma=config.lr_decay_factor)
            for opt in (self.opt_g, self.opt_d))
        self.replay = ReplayBuffer(config.replay_size, config.replay_fraction, seed=config.seed)

    def parts(self) -> dict:
        return {"generator": self.g, "discriminator": self.d, "opt_g": self.opt_g, "opt_d": self.opt_d,
                "sched_g": self.sched_g, "sched_d": self.sched_d, "replay": self.replay}

    def state(self) -> dict:
        return parts_state(self.parts())

    def load_state(self, state: dict) -> None:
        load_parts_state(self.parts(), state)

    def warmup_step(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        """Train D alone against the frozen generator (at the resolution of the first GAN step)."""
        stages, alpha = self.growth.at(0)
        with torch.no_grad(), autocast(self.device, self.config.precision):
            fake = self.g.eval()(lr, stages, alpha)
        self.g.train()
        return self.discriminator_step(fake, self.growth.target(hr, stages), stages, alpha)

    def discriminator_step(self, fake: torch.Tensor, hr: torch.Tensor, stages: int | None = None,
                           alpha: float = 1.0) -> dict[str, torch.Tensor]:
        skip = self.g.stages - (stages or self.g.stages)
        fake = self.replay.mix(fake.detach().float())
        return discriminator_update(self.d, self.opt_d, hr, fake, device=self.device, precision=self.config.precision,
                                    real_label=self.config.real_label, skip=skip, alpha=alpha)

    def generator_step(self, sr: torch.Tensor, hr: torch.Tensor, adv_weight: float, stages: int | None = None,
                       alpha: float = 1.0) -> dict[str, torch.Tensor]:
        content, parts = self.content(sr.float(), hr)
        adversarial = torch.zeros((), device=self.device)
        if adv_weight > 0:
            with autocast(self.device, self.config.precision):
                fake_logits = self.d(sr, self.g.stages - (stages or self.g.stages), alpha)
            adversarial = generator_adversarial_loss(fake_logits.float())
        total = content + adv_weight * adversarial
        self.opt_g.zero_grad(set_to_none=True)
        total.backward()
        self.opt_g.step()
        return {"g/total": total.detach(), "g/content": content.detach(), "g/adversarial": adversarial.detach(),
                **{f"g/content_{name}": value.detach() for name, value in parts.items()}}

    def gan_step(self, batch_at, gan_step: int) -> dict[str, torch.Tensor]:
        """config.d_steps D updates (each on its own batch), then one G update on the first batch."""
        config = self.config
        stages, alpha = self.growth.at(gan_step)
        losses: dict[str, torch.Tensor] = {}
        first = None
        for k in range(config.d_steps):
            lr, hr = batch_at(gan_step * config.d_steps + k)
            hr = self.growth.target(hr, stages)
            with autocast(self.device, config.precision):
                sr = self.g(lr, stages, alpha)
            if first is None:
                first = (sr, hr)
            losses = self.discriminator_step(sr, hr, stages, alpha)
        adv_weight = adv_weight_at(gan_step, config.adv_weight, config.adv_schedule, config.adv_start,
                                   config.adv_ramp_steps)
        losses.update(self.generator_step(*first, adv_weight, stages, alpha))
        self.sched_g.step()
        self.sched_d.step()
        return losses


def train_gan(trainer: GanTrainer, batches: PairBatches, *, checkpoint: Path, fingerprint: str,
              log_to: TrainingLog = NullLog(), validation: Validation | None = None) -> Generator:
    """Run the D warm-up then the GAN steps, resuming from `checkpoint` when it belongs to this run."""
    config = trainer.config

    def step(index: int) -> dict[str, torch.Tensor]:
        if index < config.d_warmup_steps:
            return trainer.warmup_step(*batches(index))
        return trainer.gan_step(lambda k: batches(config.d_warmup_steps + k), index - config.d_warmup_steps)

    run_loop("train_gan", step, LoopSettings(config.total_steps, config.log_every, config.checkpoint_every,
                                             config.validate_every),
             generator=trainer.g, state=trainer.state, load_state=trainer.load_state, checkpoint=checkpoint,
             fingerprint=fingerprint, log_to=log_to, validation=validation,
             extra_values=lambda index: _schedule_values(trainer, max(index - config.d_warmup_steps, 0)))
    return trainer.g.eval()


def _schedule_values(trainer: GanTrainer, gan_step: int) -> dict[str, float]:
    config = trainer.config
    values = {"adv_weight": adv_weight_at(gan_step, config.adv_weight, config.adv_schedule, config.adv_start,
                                          config.adv_ramp_steps),
              "lr/g": trainer.opt_g.param_groups[0]["lr"], "lr/d": trainer.opt_d.param_groups[0]["lr"]}
    if trainer.growth.phase_steps:
        stages, alpha = trainer.growth.at(gan_step)
        values.update({"progressive/scale": float(2**stages), "progressive/alpha": alpha})
    return values
