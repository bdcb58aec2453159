"""The training tricks that make SRGAN work, each small and testable on its own."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from srgan.config import Progressive
from srgan.data.resize import downscale


def adv_weight_at(step: int, target: float, schedule: str = "constant", start: float = 0.0,
                  ramp_steps: int = 0) -> float:
    """Adversarial weight at a GAN step: constant, or ramped from `start` to `target` over `ramp_steps`."""
    if schedule == "constant" or ramp_steps <= 0 or step >= ramp_steps:
        return target
    progress = step / ramp_steps
    if schedule == "linear":
        return start + (target - start) * progress
    if schedule == "cosine":
        return start + (target - start) * (1 - math.cos(math.pi * progress)) / 2
    raise ValueError(f"unknown adversarial weight schedule {schedule!r}")


class ReplayBuffer:
    """Past generated images for the discriminator (after Shrivastava et al. 2017 and CycleGAN's pool).

    `mix(fresh)` returns a batch where round(fraction * N) images are drawn from the buffer (once it
    holds enough) and the rest are fresh; every fresh image then enters the buffer, replacing a random
    old one when full. Its randomness has its own seeded generator, saved with its state.
    """

    def __init__(self, size: int, fraction: float, seed: int = 0):
        self.size, self.fraction = size, fraction
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def mix(self, fresh: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return fresh
        fresh = fresh.detach()
        if self.images and self.images[0].shape != fresh.shape[1:]:
            self.images = []  # progressive growing changed the resolution: older fakes no longer fit
        count = len(fresh)
        replayed = round(self.fraction * count) if len(self.images) >= count else 0
        out = fresh.clone()
        if replayed:
            slots = torch.randperm(count, generator=self.generator)[:replayed]
            picks = torch.randint(len(self.images), (replayed,), generator=self.generator)
            for slot, pick in zip(slots.tolist(), picks.tolist()):
                out[slot] = self.images[pick].to(out.device, out.dtype)
        self._push(fresh)
        return out

    def _push(self, fresh: torch.Tensor) -> None:
        for image in fresh.cpu():
            if len(self.images) < self.size:
                self.images.append(image.clone())
            else:
                self.images[int(torch.randint(self.size, (1,), generator=self.generator))] = image.clone()

    def state_dict(self) -> dict:
        stacked = torch.stack(self.images) if self.images else torch.empty(0)
        return {"images": stacked, "rng": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.images = list(state["images"]) if state["images"].numel() else []
        self.generator.set_state(state["rng"])


@dataclass(frozen=True)
class Growth:
    """Progressive growing x2 -> x4 -> x8: how many of the generator's x2 upsampling steps are active,
    and the fade-in weight, at a step.

    Phase k (1-based) trains the output at x2^k for phase_steps[k-1] steps; the last phase runs to the
    end. The first `fade_steps` steps of each new phase blend its new stage in, alpha rising to 1.
    With no phase_steps every stage is active from the start (direct training).
    """
    upsample_steps: int  # the generator's, all active in the last phase
    phase_steps: tuple[int, ...] = ()
    fade_steps: int = 0

    @classmethod
    def of(cls, upsample_steps: int, progressive: Progressive) -> Growth:
        """The growth a run's `progressive` section asks of a generator with `upsample_steps` x2 steps."""
        return cls(upsample_steps, tuple(progressive.phase_steps), progressive.fade_steps)

    def at(self, step: int) -> tuple[int, float]:
        if not self.phase_steps:
            return self.upsample_steps, 1.0
        start = 0
        for phase, length in enumerate(self.phase_steps, start=1):
            if step < start + length:
                return phase, self._alpha(phase, step - start)
            start += length
        return self.upsample_steps, self._alpha(self.upsample_steps, step - start)

    def _alpha(self, phase: int, into_phase: int) -> float:
        if phase == 1 or self.fade_steps == 0:
            return 1.0
        return min(1.0, (into_phase + 1) / self.fade_steps)

    def target(self, gt: torch.Tensor, upsample_steps: int) -> torch.Tensor:
        """The HR batch at the resolution of `upsample_steps` active upsampling steps, by the one degradation."""
        factor = 2 ** (self.upsample_steps - upsample_steps)
        return gt if factor == 1 else downscale(gt, factor)
