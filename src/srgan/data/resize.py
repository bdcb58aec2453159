"""The one degradation: MATLAB `imresize` bicubic (a = -0.5, antialiased when shrinking).

Resizing is a matrix product per axis, out = Wh @ x @ Ww^T, with MATLAB's kernel widening on
downscale and symmetric boundary handling folded into the weight matrices. It is exact, runs on
any device and is differentiable, so the same code makes training LR, evaluation LR, the bicubic
baseline and the unsupervised consistency loss.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic kernel with a = -0.5, as in MATLAB."""
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    near = (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))
    return near + far


@lru_cache(maxsize=64)
def resize_matrix(in_len: int, out_len: int) -> np.ndarray:
    """Dense (out_len, in_len) float64 weights of MATLAB's bicubic resize along one axis."""
    scale = out_len / in_len
    width = 4.0
    kernel = cubic
    if scale < 1:  # antialiasing: widen the kernel by 1/scale
        width = width / scale
        kernel = lambda x: scale * cubic(scale * x)  # noqa: E731
    out = np.arange(1, out_len + 1, dtype=np.float64)
    centre = out / scale + 0.5 * (1 - 1 / scale)  # 1-based input coordinate
    left = np.floor(centre - width / 2)
    taps = int(math.ceil(width)) + 2
    index = left[:, None] + np.arange(taps)[None, :]  # 1-based
    weights = kernel(centre[:, None] - index)
    weights /= weights.sum(axis=1, keepdims=True)
    # Symmetric padding: ..., 2, 1 | 1, 2, ..., n | n, n-1, ...
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    folded = mirror[np.mod(index.astype(np.int64) - 1, 2 * in_len)]
    matrix = np.zeros((out_len, in_len))
    np.add.at(matrix, (np.repeat(np.arange(out_len), taps), folded.ravel()), weights.ravel())
    return matrix


def _matrix(in_len: int, out_len: int, like: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(resize_matrix(in_len, out_len)).to(device=like.device, dtype=like.dtype)


def imresize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic resize of a float tensor (..., H, W) to `size` = (h, w), MATLAB semantics."""
    if not x.is_floating_point():
        raise TypeError("imresize expects a floating-point tensor")
    h, w = size
    rows = _matrix(x.shape[-2], h, x)
    cols = _matrix(x.shape[-1], w, x)
    return rows @ x @ cols.T


def downscale(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Antialiased bicubic downscale of (..., H, W) by an integer factor dividing H and W."""
    height, width = x.shape[-2:]
    if height % scale or width % scale:
        raise ValueError(f"image size {height}x{width} is not divisible by scale {scale}")
    return imresize(x, (height // scale, width // scale))


def upscale(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic upscale of (..., h, w) by an integer factor: the bicubic baseline."""
    return imresize(x, (x.shape[-2] * scale, x.shape[-1] * scale))


def _to_float(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).double() / 255.0


def _to_uint8(tensor: torch.Tensor) -> np.ndarray:
    return (tensor * 255.0).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()


def degrade(hr: np.ndarray, scale: int) -> np.ndarray:
    """LR image (uint8 HxWx3) for an HR image (uint8 HxWx3) whose sides the scale divides."""
    return _to_uint8(downscale(_to_float(hr), scale))


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """The bicubic baseline on uint8 HxWx3 images."""
    return _to_uint8(upscale(_to_float(lr), scale))


def nearest_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """The nearest-neighbour baseline: pixel replication."""
    return lr.repeat(scale, axis=0).repeat(scale, axis=1)
