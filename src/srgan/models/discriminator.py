"""The SRGAN discriminator: eight 3x3 convs (every other one strided), LeakyReLU, a dense head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srgan.models.norm import conv, feature_norm, linear


def _layer(in_ch: int, out_ch: int, stride: int, norm: str) -> list[nn.Module]:
    return [conv(in_ch, out_ch, 3, norm, stride=stride), feature_norm(out_ch, norm), nn.LeakyReLU(0.2)]


class Discriminator(nn.Module):
    """HR-sized image (N, 3, S, S) in [0, 1] -> one real/fake logit per image; S must be a multiple of 16.

    The convs form four halving stages (64s2 128 | 128s2 256 | 256s2 512 | 512s2 for channels=64).
    With max_skip > 0 it can grow (ProGAN-style): forward(x, skip=k) takes an image 2^k times
    smaller through its own from-RGB conv straight into stage k, and alpha < 1 fades stage k in,
    blended with the path of the 2x average-pooled image into stage k+1.
    """

    def __init__(self, hr_size: int = 96, channels: int = 64, norm: str = "batch", dense: int = 1024,
                 max_skip: int = 0):
        super().__init__()
        if hr_size % 16:
            raise ValueError(f"hr_size must be a multiple of 16, got {hr_size}")
        if not 0 <= max_skip <= 3:
            raise ValueError(f"max_skip must be 0 to 3, got {max_skip}")
        self.hr_size = hr_size
        self.max_skip = max_skip
        widths = [channels * 2**k for k in range(4)]
        edge_norm = "none" if norm == "batch" else norm
        self.from_rgb = nn.ModuleList([nn.Sequential(conv(3, widths[k], 3, edge_norm, bias=True), nn.LeakyReLU(0.2))
                                       for k in range(max_skip + 1)])
        # The four halving blocks. The attribute keeps its name because it is in the state-dict keys
        # ("stages.0.0.weight", ...) of saved checkpoints.
        self.stages = nn.ModuleList([
            nn.Sequential(*_layer(width, width, 2, norm), *(_layer(width, 2 * width, 1, norm) if k < 3 else []))
            for k, width in enumerate(widths)])
        side = hr_size // 16
        self.head = nn.Sequential(nn.Flatten(), linear(widths[3] * side * side, dense, norm), nn.LeakyReLU(0.2),
                                  linear(dense, 1, norm))

    def forward(self, image: torch.Tensor, skip: int = 0, alpha: float = 1.0,
                features: bool = False) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits (N,); with features=True also the output of every stage, for feature matching."""
        if skip > self.max_skip:
            raise ValueError(f"this discriminator was built for inputs at most {2**self.max_skip}x smaller")
        x = self.stages[skip](self.from_rgb[skip](image))
        if alpha < 1.0 and skip < self.max_skip:
            older = self.from_rgb[skip + 1](F.avg_pool2d(image, 2))
            x = alpha * x + (1.0 - alpha) * older
        outputs = [x]
        for block in self.stages[skip + 1:]:
            x = block(x)
            outputs.append(x)
        logits = self.head(x).squeeze(1)
        return (logits, outputs) if features else logits
