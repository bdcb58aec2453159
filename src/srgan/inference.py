"""Applying a generator to images of any size: overlapping tiles, run in batches, feather-blended.

Inference runs under torch.inference_mode, in the chosen precision (`auto`: bf16 where the device computes it
natively, several times faster there, else fp32), with channels-last activations. Memory is bounded by
`batch` tiles, whatever the image size.
"""

from __future__ import annotations

import numpy as np
import torch

from srgan.models.generator import Generator
from srgan.precision import autocast, resolve_precision


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


def _ramp(length: int, ramp: int) -> torch.Tensor:
    """1 in the middle, rising linearly over `ramp` pixels at both ends (never 0)."""
    index = torch.arange(length, dtype=torch.float32)
    return torch.clamp(torch.minimum(index + 0.5, length - index - 0.5) / max(ramp, 1), max=1.0)


@torch.inference_mode()
def upscale_tensor(generator: Generator, lr: torch.Tensor, tile: int = 128, overlap: int = 16,
                   precision: str = "fp32", batch: int = 4) -> torch.Tensor:
    """(1, 3, h, w) float in [0, 1] -> (1, 3, h*s, w*s) float on the CPU, clamped to [0, 1].

    Images no larger than `tile` run whole; larger ones run tile by tile (tile x tile LR pixels,
    `overlap` shared with each neighbour), `batch` tiles per forward pass, blended with linear
    weights across each overlap.
    """
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap {overlap} must be at least 0 and smaller than tile {tile}")
    device = next(generator.parameters()).device
    precision = resolve_precision(precision, device).name
    generator = generator.to(memory_format=torch.channels_last)
    scale = generator.scale
    _, channels, height, width = lr.shape
    boxes = [(top, left) for top in _starts(height, tile, overlap) for left in _starts(width, tile, overlap)]
    if len(boxes) == 1:
        with autocast(device, precision):
            sr = generator(lr.to(device).contiguous(memory_format=torch.channels_last))
        return sr.float().clamp_(0, 1).cpu()
    h, w = min(tile, height), min(tile, width)
    weight = _ramp(h * scale, overlap * scale)[:, None] * _ramp(w * scale, overlap * scale)[None, :]
    out = torch.zeros(channels, height * scale, width * scale)
    total = torch.zeros(1, height * scale, width * scale)
    for first in range(0, len(boxes), batch):
        group = boxes[first:first + batch]
        patches = torch.cat([lr[:, :, top:top + h, left:left + w] for top, left in group])
        patches = patches.to(device).contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            srs = generator(patches)
        srs = srs.float().cpu()
        for (top, left), sr in zip(group, srs):
            rows = slice(top * scale, (top + h) * scale)
            cols = slice(left * scale, (left + w) * scale)
            out[:, rows, cols] += sr * weight
            total[:, rows, cols] += weight
    return out.div_(total).clamp_(0, 1)[None]


def upscale_image(generator: Generator, lr: np.ndarray, tile: int = 128, overlap: int = 16,
                  precision: str = "fp32", batch: int = 4) -> np.ndarray:
    """uint8 HxWx3 -> uint8 (H*s)x(W*s)x3, rounded as every metric expects."""
    tensor = torch.from_numpy(np.array(lr, copy=True)).permute(2, 0, 1)[None].float() / 255.0
    sr = upscale_tensor(generator, tensor, tile, overlap, precision, batch)[0]
    return (sr * 255.0).round().byte().permute(1, 2, 0).numpy()
