"""Optimisation: Adam with its gradient scaler (for fp16) and its learning-rate decay.

fp16 needs a gradient scaler (small gradients underflow to zero in half precision); bf16 and fp32
do not, so for them the scaler is a pass-through. The scaler's state is part of the checkpoint.
"""

from __future__ import annotations

import warnings

import torch

from srgan.config import LrDecay


def adam(parameters, lr: float, betas: tuple[float, float], device: torch.device) -> torch.optim.Adam:
    """Adam, fused into one kernel per step where torch has one for the device (CUDA and CPU)."""
    return torch.optim.Adam(parameters, lr=lr, betas=tuple(betas), fused=device.type in ("cuda", "cpu"))


class Optimiser:
    """One network's Adam, its step decay (a params `lr_decay` section, as MultiStepLR) and, in fp16, its gradient
    scaler."""

    def __init__(self, module: torch.nn.Module, lr: float, betas: tuple[float, float], *, precision: str,
                 device: torch.device, decay: LrDecay = LrDecay()):
        self.optimizer = adam(module.parameters(), lr, betas, device)
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, milestones=list(decay.at),
                                                              gamma=decay.factor)
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def step(self, loss: torch.Tensor) -> None:
        """Backpropagate `loss` and update. A loss with no gradient (nothing to learn from this step,
        e.g. an adversarial-only loss whose ramp is still at 0) changes nothing."""
        self.optimizer.zero_grad(set_to_none=True)
        if not loss.requires_grad:
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def end_of_step(self) -> None:
        """Advance the learning-rate schedule by one training step (also one whose update was skipped)."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
            self.scheduler.step()

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
