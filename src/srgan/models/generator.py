"""SRResNet (Ledig et al. 2017): residual blocks, a long skip, pixel-shuffle upsampling."""

from __future__ import annotations

import math

import torch
from torch import nn

from srgan.data.resize import upscale
from srgan.models.norm import conv, feature_norm


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
    def __init__(self, channels: int, norm: str):
        super().__init__(conv(channels, 4 * channels, 3, norm, bias=True), nn.PixelShuffle(2), nn.PReLU(channels))


class Generator(nn.Module):
    """LR in [0, 1] (N, 3, h, w) -> SR (N, 3, h*scale, w*scale), unclamped while training.

    bicubic_skip adds the bicubic upscale of the input to the output, so the network learns
    only the residual; it is not in the paper (off there) but trains much faster on a CPU budget.
    """

    def __init__(self, scale: int = 4, blocks: int = 16, channels: int = 64, norm: str = "batch",
                 bicubic_skip: bool = False):
        super().__init__()
        if scale not in (2, 4, 8):
            raise ValueError(f"scale must be 2, 4 or 8, got {scale}")
        self.arch = {"scale": scale, "blocks": blocks, "channels": channels, "norm": norm, "bicubic_skip": bicubic_skip}
        self.scale = scale
        self.bicubic_skip = bicubic_skip
        self.head = nn.Sequential(conv(3, channels, 9, "none" if norm == "batch" else norm, bias=True),
                                  nn.PReLU(channels))
        self.body = nn.Sequential(*[ResidualBlock(channels, norm) for _ in range(blocks)],
                                  conv(channels, channels, 3, norm), feature_norm(channels, norm))
        self.upsample = nn.Sequential(*[Upsample2x(channels, norm) for _ in range(int(math.log2(scale)))])
        self.tail = conv(channels, 3, 9, "none" if norm == "batch" else norm, bias=True)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        features = self.head(lr)
        features = features + self.body(features)
        sr = self.tail(self.upsample(features))
        if self.bicubic_skip:
            sr = sr + upscale(lr.float(), self.scale).to(sr.dtype)
        return sr
