"""The SRGAN discriminator: eight 3x3 convs (every other one strided), LeakyReLU, a dense head."""

from __future__ import annotations

import torch
from torch import nn

from srgan.models.norm import conv, feature_norm, linear


class Discriminator(nn.Module):
    """HR-sized image (N, 3, S, S) in [0, 1] -> one real/fake logit per image; S must be a multiple of 16."""

    def __init__(self, hr_size: int = 96, channels: int = 64, norm: str = "batch", dense: int = 1024):
        super().__init__()
        if hr_size % 16:
            raise ValueError(f"hr_size must be a multiple of 16, got {hr_size}")
        self.hr_size = hr_size
        layers: list[nn.Module] = [conv(3, channels, 3, "none" if norm == "batch" else norm, bias=True),
                                   nn.LeakyReLU(0.2)]
        width = channels
        for index in range(7):  # 64s2, 128, 128s2, 256, 256s2, 512, 512s2 for channels=64
            out = channels * 2 ** ((index + 1) // 2)
            stride = 2 if index % 2 == 0 else 1
            layers += [conv(width, out, 3, norm, stride=stride), feature_norm(out, norm), nn.LeakyReLU(0.2)]
            width = out
        self.features = nn.Sequential(*layers)
        side = hr_size // 16
        self.head = nn.Sequential(nn.Flatten(), linear(width * side * side, dense, norm), nn.LeakyReLU(0.2),
                                  linear(dense, 1, norm))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image)).squeeze(1)
