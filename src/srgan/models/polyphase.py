"""A conv with few output channels, computed on the CPU as the same conv of its input's 2x2 polyphase components.

oneDNN computes a conv with 3 output channels at about a fifth of the speed it reaches with 32 or more: the
generator's 9x9 RGB output conv took 40 % of a default pretraining step and 14 % of a GAN step, more than all its
residual blocks. Split the input into its four pixel phases (pixel_unshuffle) and the same conv becomes one of 12
output and 4C input channels with a 5x5 kernel: 23 % more multiply-adds in a shape oneDNN runs well. Measured in
fp32 on 2 cores (benchmarks/cpu_levers.py), its forward and backward pass are x1.34 faster at the pretraining batch
and x1.49 at the GAN batch, and inference x1.39. Same weights, same output to float rounding.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

PHASES = 2  # pixel phases per side


@lru_cache
def _phase_map(kernel: int) -> tuple[torch.Tensor, int]:
    """The 0/1 matrix M (k*k, r*r*r*r*k'*k') with w.view(-1, k*k) @ M = the polyphase kernel W'[o, c, ay, ax, by,
    bx, ty, tx] (output phase (ay, ax) reads input phase (by, bx) at tap (ty, tx) of a k' x k' kernel), and k'.
    A matmul, not an index: its gradient is a matmul too, the same bits on every run (an indexed gather's gradient
    adds up in an order that varies when the CPU is busy).

    Output pixel r*Y + a reads input pixel r*X + b at kernel offset i (zero-based) when
    r*Y + a + i - p = r*X + b, i.e. i = r*(X - Y) + b - a + p, with X - Y = t - q for the polyphase kernel's tap t.
    """
    r, p = PHASES, kernel // 2
    q = (p + r - 1) // r
    with torch.inference_mode(False):  # cached: first made under inference_mode, autograd could not use it
        phase = torch.arange(r)
        offset = torch.arange(2 * q + 1) - q
        i = r * offset.view(1, 1, -1) + phase.view(1, -1, 1) - phase.view(-1, 1, 1) + p  # [a, b, t]
        exists = (i >= 0) & (i < kernel)
        size = (r, r, r, r, 2 * q + 1, 2 * q + 1)  # ay, ax, by, bx, ty, tx
        tap = (i.view(r, 1, r, 1, -1, 1) * kernel + i.view(1, r, 1, r, 1, -1)).expand(size).reshape(-1)
        exists = (exists.view(r, 1, r, 1, -1, 1) & exists.view(1, r, 1, r, 1, -1)).expand(size).reshape(-1)
        phase_map = torch.zeros(kernel * kernel, tap.numel())
        phase_map[tap[exists], torch.arange(tap.numel())[exists]] = 1.0
    return phase_map, 2 * q + 1


def polyphase_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """F.conv2d(x, weight, bias, padding=k // 2) for an odd k, through the 2x2 polyphase components of x."""
    r, (height, width) = PHASES, x.shape[-2:]
    if height % r or width % r:  # zero rows and columns: the conv's own zero padding, exact after the crop
        x = F.pad(x, (0, -width % r, 0, -height % r))
    return F.pixel_shuffle(phases_conv2d(F.pixel_unshuffle(x, r), weight, bias), r)[..., :height, :width]


def phases_conv2d(phases: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """The polyphase components of F.conv2d(pixel_shuffle(phases, 2), weight, bias, padding=k // 2), from those of
    its input: a conv with r*r times the channels and a kernel of about k / r."""
    r = PHASES
    out_ch, in_ch, kernel, _ = weight.shape
    phase_map, taps = _phase_map(kernel)
    phase_weight = weight.reshape(-1, kernel * kernel) @ phase_map.to(weight.dtype)
    phase_weight = phase_weight.view(out_ch, in_ch, r, r, r, r, taps, taps)
    phase_weight = phase_weight.permute(0, 2, 3, 1, 4, 5, 6, 7).reshape(out_ch * r * r, in_ch * r * r, taps, taps)
    phase_bias = None if bias is None else bias[:, None].expand(out_ch, r * r).reshape(-1)
    return F.conv2d(phases, phase_weight, phase_bias, padding=taps // 2)


class PolyphaseConv2d(nn.Conv2d):
    """A same-padded, stride-1 nn.Conv2d with an odd kernel, computed by polyphase_conv2d on the CPU.

    Its parameters and state-dict keys are nn.Conv2d's. On other devices (cuDNN has no such weakness, and it is
    not measured there) and in ONNX export (the file stays a plain conv for every runtime) it is a plain conv.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True):
        if kernel_size % 2 == 0:
            raise ValueError(f"PolyphaseConv2d needs an odd kernel, got {kernel_size}")
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or torch.onnx.is_in_onnx_export():
            return super().forward(x)
        return polyphase_conv2d(x, self.weight, self.bias)

    def forward_phases(self, phases: torch.Tensor) -> torch.Tensor:
        """self(pixel_shuffle(phases, 2)) without the shuffle and the unshuffle that would undo it: when the input is
        made by a pixel shuffle, as after the generator's last upsampling step, its phases are already at hand."""
        if phases.device.type != "cpu" or torch.onnx.is_in_onnx_export():
            return super().forward(F.pixel_shuffle(phases, PHASES))
        return F.pixel_shuffle(phases_conv2d(phases, self.weight, self.bias), PHASES)
