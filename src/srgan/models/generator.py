"""SRResNet (Ledig et al. 2017): residual blocks, a long skip, pixel-shuffle upsampling."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from srgan.data.resize import upscale
from srgan.models.norm import conv, feature_norm
from srgan.models.polyphase import PolyphaseConv2d


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, norm: str):
        super().__init__()
        self.body = nn.Sequential(
            conv(channels, channels, 3, norm), feature_norm(channels, norm), nn.PReLU(channels),
            conv(channels, channels, 3, norm), feature_norm(channels, norm),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Upsample2x(nn.Sequential):
    """x2 upsampling: the paper's sub-pixel conv (conv to 4C channels, pixel shuffle), or a nearest-neighbour
    resize then a conv (Odena et al. 2016, as in ESRGAN), which cannot make the checkerboard patterns that
    pixel shuffle can learn under an adversarial loss."""

    def __init__(self, channels: int, norm: str, mode: str = "pixel_shuffle"):
        if mode == "pixel_shuffle":
            layers = [conv(channels, 4 * channels, 3, norm, bias=True), nn.PixelShuffle(2)]
        elif mode == "nearest":
            layers = [nn.Upsample(scale_factor=2, mode="nearest"), conv(channels, channels, 3, norm, bias=True)]
        else:
            raise ValueError(f"upsample must be pixel_shuffle or nearest, got {mode!r}")
        super().__init__(*layers, nn.PReLU(channels))
        self.mode = mode

    def phases(self, x: torch.Tensor) -> torch.Tensor:
        """pixel_unshuffle(self(x), 2) of a pixel_shuffle step, without the shuffle: PReLU acts pixel by pixel, so
        it can act before the shuffle, each channel's slope repeated over the four phases that make it."""
        conv, _, prelu = self
        slope = prelu.weight.repeat_interleave(4) if prelu.weight.numel() > 1 else prelu.weight
        return F.prelu(conv(x), slope)


class Generator(nn.Module):
    """LR in [0, 1] (N, 3, h, w) -> SR (N, 3, h*scale, w*scale), unclamped while training.

    bicubic_skip adds the bicubic upscale of the input to the output, so the network learns
    only the residual; it is not in the paper (off there) but trains much faster on a CPU budget.

    progressive adds an RGB head after every x2 stage but the last, so the network can be grown
    x2 -> x4 -> x8 (ProGAN-style): forward(lr, upsample_steps=k, alpha=a) outputs at x2^k, the newest stage
    blended with the x2-upsampled output of the stage before it by a (fade-in).
    """

    def __init__(self, scale: int = 4, blocks: int = 16, channels: int = 64, norm: str = "batch",
                 bicubic_skip: bool = False, progressive: bool = False, upsample: str = "pixel_shuffle"):
        super().__init__()
        if scale not in (2, 4, 8):
            raise ValueError(f"scale must be 2, 4 or 8, got {scale}")
        self.arch = {"scale": scale, "blocks": blocks, "channels": channels, "norm": norm,
                     "bicubic_skip": bicubic_skip, "progressive": progressive, "upsample": upsample}
        self.scale = scale
        self.upsample_steps = int(math.log2(scale))  # x2 upsampling steps
        self.bicubic_skip = bicubic_skip
        edge_norm = "none" if norm == "batch" else norm
        self.head = nn.Sequential(conv(3, channels, 9, edge_norm, bias=True), nn.PReLU(channels))
        self.body = nn.Sequential(*[ResidualBlock(channels, norm) for _ in range(blocks)],
                                  conv(channels, channels, 3, norm), feature_norm(channels, norm))
        self.upsample = nn.Sequential(*[Upsample2x(channels, norm, upsample) for _ in range(self.upsample_steps)])
        self.tail = conv(channels, 3, 9, edge_norm, bias=True, polyphase=True)
        self.side = nn.ModuleList([conv(channels, 3, 9, edge_norm, bias=True, polyphase=True)
                                   for _ in range(self.upsample_steps - 1)] if progressive else [])

    def forward(self, lr: torch.Tensor, upsample_steps: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        steps = self.upsample_steps if upsample_steps is None else upsample_steps
        if steps != self.upsample_steps and not self.side:
            raise ValueError("only a progressive generator can output at an intermediate scale")
        features = self.head(lr)
        previous = features + self.body(features)
        for index in range(steps - 1):
            previous = self.upsample[index](previous)
        last, rgb = self.upsample[steps - 1], self._rgb_layer(steps)
        if last.mode == "pixel_shuffle" and isinstance(rgb, PolyphaseConv2d):
            sr = rgb.forward_phases(last.phases(previous))  # the same, without a shuffle the RGB conv would undo
        else:
            sr = rgb(last(previous))
        if alpha < 1.0 and steps > 1:
            faded = F.interpolate(self._rgb_layer(steps - 1)(previous), scale_factor=2, mode="nearest")
            sr = alpha * sr + (1.0 - alpha) * faded
        if self.bicubic_skip:  # added in float32: the bicubic image itself must not be rounded to bf16
            sr = sr.float() + upscale(lr.float(), 2**steps)
        return sr

    def _rgb_layer(self, steps: int) -> nn.Module:
        return self.tail if steps == self.upsample_steps else self.side[steps - 1]


def start_at_bicubic(generator: Generator) -> Generator:
    """Zero the output convs of a bicubic-skip generator so that, untrained, it is exactly bicubic.

    For training from scratch without paired HR: the network starts from the baseline and learns
    only what its losses ask for, instead of first undoing the noise of a random output layer.
    """
    if not generator.bicubic_skip:
        raise ValueError("start_at_bicubic needs a generator with bicubic_skip")
    layers = [generator.tail, *generator.side]
    if any(hasattr(layer, "parametrizations") for layer in layers):
        raise ValueError("a spectrally normalised output conv cannot be zeroed (its norm would be 0)")
    for layer in layers:
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    return generator
