"""Applying a generator to images of any size: overlapping tiles, feather-blended, memory bounded by the tile."""

from __future__ import annotations

import numpy as np
import torch

from srgan.models.generator import Generator


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


@torch.no_grad()
def upscale_tensor(generator: Generator, lr: torch.Tensor, tile: int = 128, overlap: int = 16) -> torch.Tensor:
    """(1, 3, h, w) float in [0, 1] -> (1, 3, h*s, w*s) float on the CPU, clamped to [0, 1].

    Images no larger than `tile` run whole; larger ones run tile by tile (tile x tile LR pixels,
    `overlap` shared with each neighbour) and are blended with linear weights across each overlap.
    """
    if overlap >= tile:
        raise ValueError(f"overlap {overlap} must be smaller than tile {tile}")
    device = next(generator.parameters()).device
    scale = generator.scale
    _, channels, height, width = lr.shape
    if height <= tile and width <= tile:
        return generator(lr.to(device)).float().clamp_(0, 1).cpu()
    out = torch.zeros(channels, height * scale, width * scale)
    total = torch.zeros(1, height * scale, width * scale)
    for top in _starts(height, tile, overlap):
        for left in _starts(width, tile, overlap):
            patch = lr[:, :, top:top + tile, left:left + tile].to(device)
            sr = generator(patch).float().cpu()[0]
            h, w = sr.shape[-2:]
            weight = _ramp(h, overlap * scale)[:, None] * _ramp(w, overlap * scale)[None, :]
            rows = slice(top * scale, top * scale + h)
            cols = slice(left * scale, left * scale + w)
            out[:, rows, cols] += sr * weight
            total[:, rows, cols] += weight
    return out.div_(total).clamp_(0, 1)[None]


def upscale_image(generator: Generator, lr: np.ndarray, tile: int = 128, overlap: int = 16) -> np.ndarray:
    """uint8 HxWx3 -> uint8 (H*s)x(W*s)x3, rounded as every metric expects."""
    tensor = torch.from_numpy(np.ascontiguousarray(lr)).permute(2, 0, 1)[None].float() / 255.0
    sr = upscale_tensor(generator, tensor, tile, overlap)[0]
    return (sr * 255.0).round().byte().permute(1, 2, 0).numpy()
