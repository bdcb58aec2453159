"""Applying a generator to images of any size: overlapping tiles, spread evenly, feather-blended.

Inference runs under torch.inference_mode, in the chosen precision (`auto`: bf16 where the device computes it
natively, several times faster there, else fp32), with channels-last activations, on a copy of an eval-mode
generator whose BatchNorms are folded into the convs before them. Memory is bounded by `batch` tiles, whatever the
image size, and the output by its 8-bit bytes plus a band of rows about a tile high.
"""

from __future__ import annotations

import copy
import math
from typing import Iterator

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from srgan.models.generator import Generator
from srgan.precision import autocast, resolve_precision

# The defaults of `upscale` and of evaluation. A tile's cost is its pixels: the overlap is computed twice, so
# large tiles pay for it least (16 of 256 px: about 1.1x the image's pixels; of 128 px: about 1.3x). One
# 256-px tile a pass holds as many pixels as four of 128, so peak memory stays the same (about 1 GB in fp32 for
# the paper's generator at x4).
TILE, OVERLAP, BATCH = 256, 16, 1


def overlap_for(tile: int) -> int:
    """The default overlap of tiles of `tile` pixels: OVERLAP, or a quarter of a smaller tile."""
    return min(OVERLAP, tile // 4)


def fold_batch_norms(generator: nn.Module) -> nn.Module:
    """A copy of an eval-mode network with each BatchNorm that follows a conv folded into that conv's weights and
    bias: in eval mode a BatchNorm is a fixed affine map, so the output is the same to float rounding, without a
    pass over every activation (a tenth of the paper's generator's CPU time). A network in train mode, whose
    BatchNorms use the batch's statistics, is returned as it is."""
    if generator.training:
        return generator
    folded = copy.deepcopy(generator)
    for sequence in folded.modules():
        if not isinstance(sequence, nn.Sequential):
            continue
        for index in range(len(sequence) - 1):
            conv, norm = sequence[index], sequence[index + 1]
            if type(conv) is nn.Conv2d and isinstance(norm, nn.BatchNorm2d):
                sequence[index], sequence[index + 1] = fuse_conv_bn_eval(conv, norm), nn.Identity()
    return folded


def _spans(length: int, tile: int, overlap: int) -> tuple[list[int], int]:
    """Starts and common size of the fewest tiles of at most `tile` pixels that cover `length` with neighbours
    sharing at least `overlap` (to a pixel's rounding), spread evenly: a fixed stride would end on a last tile that
    mostly repeats its neighbour (a 512-px side in 128-px tiles: 5 tiles, 640 px computed; spread: 580)."""
    if length <= tile:
        return [0], length
    count = math.ceil((length - overlap) / (tile - overlap))
    size = math.ceil((length + (count - 1) * overlap) / count)
    return [round(index * (length - size) / (count - 1)) for index in range(count)], size


def _ramp(length: int, ramp: int) -> torch.Tensor:
    """1 in the middle, rising linearly over `ramp` pixels at both ends (never 0)."""
    index = torch.arange(length, dtype=torch.float32)
    return torch.clamp(torch.minimum(index + 0.5, length - index - 0.5) / max(ramp, 1), max=1.0)


@torch.inference_mode()
def blended_rows(generator: Generator, lr: torch.Tensor, tile: int = TILE, overlap: int = OVERLAP,
                 precision: str = "fp32", batch: int = BATCH) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield (first row, (3, rows, w*s) float on the CPU, clamped to [0, 1]) for (1, 3, h, w) LR in [0, 1], top to
    bottom, each band of SR rows as soon as no later tile reaches it.

    Images no larger than `tile` run whole; larger ones run tile by tile (at most tile x tile LR pixels, at least
    `overlap` shared with each neighbour), `batch` tiles per forward pass, blended with linear weights across each
    overlap. Only the rows that tiles still reach are held in float, so a caller writing each band into 8-bit
    output holds about a tile's height of the image in float, not the whole image (12 bytes a pixel, more than the
    network's own activations for a large photo).
    """
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap {overlap} must be at least 0 and smaller than tile {tile}")
    device = next(generator.parameters()).device
    precision = resolve_precision(precision, device).name
    generator = fold_batch_norms(generator).to(memory_format=torch.channels_last)
    scale = generator.scale
    _, channels, height, width = lr.shape
    (tops, h), (lefts, w) = _spans(height, tile, overlap), _spans(width, tile, overlap)
    boxes = [(top, left) for top in tops for left in lefts]
    if len(boxes) == 1:
        with autocast(device, precision):
            sr = generator(lr.to(device).contiguous(memory_format=torch.channels_last))
        yield 0, sr[0].float().clamp_(0, 1).cpu()
        return
    weight = _ramp(h * scale, overlap * scale)[:, None] * _ramp(w * scale, overlap * scale)[None, :]
    band_top = 0  # the SR row where the band of rows still being summed starts
    out = torch.zeros(channels, 0, width * scale)
    total = torch.zeros(1, 0, width * scale)
    for first in range(0, len(boxes), batch):
        group = boxes[first:first + batch]
        patches = torch.cat([lr[:, :, top:top + h, left:left + w] for top, left in group])
        patches = patches.to(device).contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            srs = generator(patches)
        srs = srs.float().cpu()
        grow = (group[-1][0] + h) * scale - band_top - out.shape[1]  # boxes go row by row: the last is lowest
        if grow > 0:
            out = torch.cat([out, torch.zeros(channels, grow, width * scale)], dim=1)
            total = torch.cat([total, torch.zeros(1, grow, width * scale)], dim=1)
        for (top, left), sr in zip(group, srs):
            rows = slice(top * scale - band_top, (top + h) * scale - band_top)
            cols = slice(left * scale, (left + w) * scale)
            out[:, rows, cols] += sr * weight
            total[:, rows, cols] += weight
        done = boxes[first + batch][0] * scale if first + batch < len(boxes) else height * scale
        if done > band_top:
            count = done - band_top
            yield band_top, out[:, :count].div(total[:, :count]).clamp_(0, 1)
            out, total, band_top = out[:, count:], total[:, count:], done


def upscale_tensor(generator: Generator, lr: torch.Tensor, tile: int = TILE, overlap: int = OVERLAP,
                   precision: str = "fp32", batch: int = BATCH) -> torch.Tensor:
    """(1, 3, h, w) float in [0, 1] -> (1, 3, h*s, w*s) float on the CPU, clamped to [0, 1] (see blended_rows)."""
    return torch.cat([rows for _, rows in blended_rows(generator, lr, tile, overlap, precision, batch)], dim=1)[None]


def upscale_image(generator: Generator, lr: np.ndarray, tile: int = TILE, overlap: int = OVERLAP,
                  precision: str = "fp32", batch: int = BATCH) -> np.ndarray:
    """uint8 HxWx3 -> uint8 (H*s)x(W*s)x3, rounded as every metric expects, built band by band (see blended_rows)."""
    tensor = torch.from_numpy(np.array(lr, copy=True)).permute(2, 0, 1)[None].float() / 255.0
    scale = generator.scale
    image = np.empty((lr.shape[0] * scale, lr.shape[1] * scale, 3), dtype=np.uint8)
    for top, rows in blended_rows(generator, tensor, tile, overlap, precision, batch):
        image[top:top + rows.shape[1]] = (rows * 255.0).round().byte().permute(1, 2, 0).numpy()
    return image
