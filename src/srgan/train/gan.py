"""SRGAN fine-tuning: content + weighted adversarial loss for G, BCE for D, with the tricks that make it work.

Step numbering: the first `d_warmup_steps` steps train D alone against the frozen generator; the
`steps` GAN steps follow. Adversarial-weight ramps and learning-rate decay count GAN steps only.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from srgan.config import GanParams
from srgan.data.resize import downscale, upscale
from srgan.losses import (
    ContentLoss,
    artifact_loss,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    r1_penalty,
    relativistic_discriminator_loss,
    relativistic_generator_loss,
)
from srgan.metrics import LUMA_WEIGHTS
from srgan.models.discriminator import Discriminator
from srgan.models.generator import Generator
from srgan.precision import autocast, resolve_precision
from srgan.train.distributed import Dist
from srgan.train.loop import Averaged
from srgan.train.optim import Optimiser
from srgan.train.tricks import Growth, ReplayBuffer, adv_weight_at

LUMA = torch.tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)  # what D sees with discriminator_luma
REFERENCE_DECAY = 0.999  # of the running average of G that content.artifacts compares G with (LDL's)


class GanTrainer:
    """G, D, their optimisers, the content loss and the replay buffer: all of a GAN run's state."""
    name = "train_gan"

    def __init__(self, generator: Generator, discriminator: Discriminator, content: ContentLoss,
                 batches: Callable[[int], tuple], params: GanParams, device: torch.device, *, seed: int = 0,
                 dist: Dist = Dist(), compile: bool = False):
        self.params, self.device, self.batches, self.dist = params, device, batches, dist
        self.precision = resolve_precision(params.precision, device).name
        self.growth = Growth.of(generator.upsample_steps, params.progressive)
        for module in (generator, discriminator, content):
            module.to(device, memory_format=torch.channels_last).train()
        self.generator, self.discriminator, self.content = generator, discriminator, content
        growing = bool(self.growth.phase_steps)
        self.g = dist.wrap(generator, device, find_unused=growing)
        self.d = dist.wrap(discriminator, device, find_unused=growing)
        if compile and not growing:
            self.g, self.d = torch.compile(self.g), torch.compile(self.d)
        self.opt_g = Optimiser(generator, params.lr_g, params.betas_g, precision=self.precision, device=device,
                               decay=params.lr_decay)
        self.opt_d = Optimiser(discriminator, params.lr_d, params.betas_d, precision=self.precision, device=device,
                               decay=params.lr_decay)
        self.replay = ReplayBuffer(params.replay.size, params.replay.fraction, seed=seed)
        self.reference = Averaged(generator, REFERENCE_DECAY) if params.content.artifacts > 0 else None
        self.total_steps = params.d_warmup_steps + params.steps
        self.images_per_step = params.batch_size * params.d_steps

    def step(self, index: int) -> dict[str, torch.Tensor]:
        warmup = self.params.d_warmup_steps
        if index < warmup:
            return self.warmup_step(*self.batches(index))
        return self.gan_step(lambda k: self.batches(warmup + k), index - warmup)

    def adv_weight(self, gan_step: int) -> float:
        ramp = self.params.adv_ramp
        return adv_weight_at(gan_step, self.params.adv_weight, ramp.schedule, ramp.start, ramp.steps)

    def schedule(self, index: int) -> dict[str, float]:
        gan_step = max(index - self.params.d_warmup_steps, 0)
        values = {"adv_weight": self.adv_weight(gan_step), "lr/g": self.opt_g.lr, "lr/d": self.opt_d.lr}
        if self.growth.phase_steps:
            upsample_steps, alpha = self.growth.at(gan_step)
            values.update({"progressive/scale": float(2**upsample_steps), "progressive/alpha": alpha})
        return values

    def warmup_step(self, lq: torch.Tensor, gt: torch.Tensor) -> dict[str, torch.Tensor]:
        """Train D alone against the frozen generator (at the resolution of the first GAN step)."""
        upsample_steps, alpha = self.growth.at(0)
        with torch.no_grad(), autocast(self.device, self.precision):
            fake = self.g.eval()(lq, upsample_steps, alpha)
        self.g.train()
        return self.discriminator_step(fake, self.growth.target(gt, upsample_steps), upsample_steps, alpha)

    def gan_step(self, batch_at: Callable[[int], tuple], gan_step: int) -> dict[str, torch.Tensor]:
        """params.d_steps D updates (each on its own batch), then one G update on the first batch."""
        upsample_steps, alpha = self.growth.at(gan_step)
        losses: dict[str, torch.Tensor] = {}
        first = None
        for k in range(self.params.d_steps):
            lq, gt = batch_at(gan_step * self.params.d_steps + k)
            gt = self.growth.target(gt, upsample_steps)
            with torch.set_grad_enabled(k == 0), autocast(self.device, self.precision):
                sr = self.g(lq, upsample_steps, alpha)  # only the first batch's SR trains G
            if k == 0:
                first = (lq, sr, gt)
            losses = self.discriminator_step(sr, gt, upsample_steps, alpha)
        losses.update(self.generator_step(*first, self.adv_weight(gan_step), upsample_steps, alpha))
        if self.reference:
            self.reference.update(self.generator)
        self.opt_g.end_of_step()
        self.opt_d.end_of_step()
        return losses

    def discriminator_step(self, fake: torch.Tensor, gt: torch.Tensor, upsample_steps: int | None = None,
                           alpha: float = 1.0) -> dict[str, torch.Tensor]:
        """One D update on real HR and (detached, possibly replayed) fakes; its loss and mean outputs."""
        upsample_steps = upsample_steps or self.generator.upsample_steps
        skip = self.generator.upsample_steps - upsample_steps
        fake = self.dist.share(self.replay.mix(self.dist.gather(fake.detach().float())))
        real = self.seen_by_d(gt, upsample_steps)
        if self.params.r1_weight > 0:
            real = real.detach().requires_grad_(True)
        with autocast(self.device, self.precision):
            real_logits = self.d(real, skip, alpha).float()
            fake_logits = self.d(self.seen_by_d(fake, upsample_steps), skip, alpha).float()
        if self.params.adversarial == "relativistic":
            loss = relativistic_discriminator_loss(real_logits, fake_logits, self.dist.differentiable_mean(real_logits),
                                                   self.dist.differentiable_mean(fake_logits), self.params.real_label)
        else:
            loss = discriminator_loss(real_logits, fake_logits, self.params.real_label)
        logged = {"d/loss": loss.detach(), "d/real": torch.sigmoid(real_logits).mean().detach(),
                  "d/fake": torch.sigmoid(fake_logits).mean().detach()}
        if self.params.r1_weight > 0:
            penalty = r1_penalty(real_logits, real)
            loss = loss + self.params.r1_weight / 2 * penalty
            logged["d/r1"] = penalty.detach()
        self.opt_d.step(loss)
        return logged

    def seen_by_d(self, images: torch.Tensor, upsample_steps: int) -> torch.Tensor:
        """What D judges: the images, or (discriminator_input: high_pass) only the detail their LR version
        cannot hold, x - upscale(downscale(x)) at the stage's scale, times high_pass_gain. Colours and shapes
        are then fixed by the content loss alone, and D rules on texture (frequency separation, Fritsche et al.
        2019). The gain matters for a spectrally normalised D: each of its layers has a gain of at most 1, and
        the detail of a photo is small (std about 0.05), so unscaled its logits can hardly tell real from fake.
        With discriminator_luma D sees the luma only (in all three channels): G gains nothing from coloured
        fringes, which a short run otherwise paints along strong edges to please a BatchNorm D."""
        if self.params.discriminator_input == "high_pass":
            factor = 2**upsample_steps
            detail = images - upscale(downscale(images.float(), factor), factor).to(images.dtype)
            images = detail * self.params.high_pass_gain
        if self.params.discriminator_luma:
            images = (images * LUMA.to(images)).sum(1, keepdim=True).expand_as(images)
        return images

    def generator_step(self, lq: torch.Tensor, sr: torch.Tensor, gt: torch.Tensor, adv_weight: float,
                       upsample_steps: int | None = None, alpha: float = 1.0) -> dict[str, torch.Tensor]:
        """One G update: content terms, feature matching on D's features and the weighted adversarial term.

        D is frozen (no gradients for its weights) and called unwrapped: this step trains G only. `lq` is the LR
        batch that made `sr`, which content.artifacts gives G's running average too.
        """
        upsample_steps = upsample_steps or self.generator.upsample_steps
        skip = self.generator.upsample_steps - upsample_steps
        with autocast(self.device, self.precision):
            content, parts = self.content(sr, gt)
        if self.params.content.low_pass > 0:
            factor = 2**upsample_steps
            parts["low_pass"] = F.mse_loss(downscale(sr.float(), factor), downscale(gt.float(), factor))
            content = content + self.params.content.low_pass * parts["low_pass"]
        if self.reference:
            parts["artifacts"] = artifact_loss(sr, gt, self._reference_output(lq, upsample_steps, alpha))
            content = content + self.params.content.artifacts * parts["artifacts"]
        adversarial = torch.zeros((), device=self.device)
        matching = self.params.content.feature_matching
        if adv_weight > 0 or matching > 0:
            self.discriminator.requires_grad_(False)
            with autocast(self.device, self.precision):
                fake_logits, fake_features = self.discriminator(self.seen_by_d(sr, upsample_steps), skip, alpha,
                                                                features=True)
                real_logits = real_features = None
                if matching > 0 or self.params.adversarial == "relativistic":  # else D(HR) is not needed here
                    with torch.no_grad():
                        real_logits, real_features = self.discriminator(self.seen_by_d(gt, upsample_steps), skip, alpha,
                                                                        features=True)
            self.discriminator.requires_grad_(True)
            adversarial = self._adversarial(real_logits, fake_logits.float())
            if matching > 0:
                parts["feature_matching"] = feature_matching_loss(fake_features, real_features)
                content = content + matching * parts["feature_matching"]
        total = content + adv_weight * adversarial
        self.opt_g.step(total)
        return {"g/total": total.detach(), "g/content": content.detach(), "g/adversarial": adversarial.detach(),
                **{f"g/content_{name}": value.detach() for name, value in parts.items()}}

    def _reference_output(self, lq: torch.Tensor, upsample_steps: int, alpha: float) -> torch.Tensor:
        """The running average of G (in eval mode, as it would be used) applied to the LR batch."""
        with torch.no_grad(), autocast(self.device, self.precision):
            return self.reference.generator.eval()(lq, upsample_steps, alpha)

    def _adversarial(self, real_logits: torch.Tensor | None, fake_logits: torch.Tensor) -> torch.Tensor:
        if self.params.adversarial == "relativistic":
            real_logits = real_logits.float()
            return relativistic_generator_loss(real_logits, fake_logits, self.dist.differentiable_mean(real_logits),
                                               self.dist.differentiable_mean(fake_logits))
        return generator_adversarial_loss(fake_logits)

    def state_dict(self) -> dict:
        state = {"generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
                 "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(), "replay": self.replay.state_dict()}
        if self.reference:
            state["reference"] = self.reference.model.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.replay.load_state_dict(state["replay"])
        if self.reference:
            self.reference.model.load_state_dict(state["reference"])
