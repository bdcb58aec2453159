"""Tests for srgan.data.resize: MATLAB-style bicubic imresize built from per-axis weight matrices."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from srgan.data.resize import (
    bicubic_upscale,
    cubic,
    degrade,
    downscale,
    imresize,
    nearest_upscale,
    resize_matrix,
    upscale,
)


def test_the_cubic_kernel_has_the_textbook_values():
    # Keys' kernel with a = -0.5: 1 at 0, 0 at the integers, the textbook values at the half-integers.
    x = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, -0.5, -1.5])
    expected = np.array([1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0, 0.5625, -0.0625])
    np.testing.assert_allclose(cubic(x), expected, atol=1e-15)


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_constant_image_stays_constant(scale):
    x = torch.full((3, 32, 48), 0.37, dtype=torch.float64)
    down = downscale(x, scale)
    assert down.shape == (3, 32 // scale, 48 // scale)
    torch.testing.assert_close(down, torch.full_like(down, 0.37), atol=1e-14, rtol=0)
    up = upscale(down, scale)
    assert up.shape == x.shape
    torch.testing.assert_close(up, x, atol=1e-14, rtol=0)


def test_linear_ramp_downscale_by_two_by_hand():
    # Output pixel i of a x2 downscale is centred on input coordinate 2i + 0.5 (0-based) and the cubic
    # kernel reproduces linear functions, so away from the borders the result is exactly 2i + 0.5.
    row = torch.arange(16, dtype=torch.float64)
    x = row.expand(4, 16).clone()
    out = downscale(x, 2)
    assert out.shape == (2, 8)
    torch.testing.assert_close(out[0], out[1])  # constant along the columns
    # The widened kernel (8 taps) only sees real pixels for i = 2..5.
    for i in range(2, 6):
        assert out[0, i].item() == pytest.approx(2 * i + 0.5, abs=1e-12)
    # At the borders symmetric padding (..., 1, 0 | 0, 1, ..., 15 | 15, 14, ...) changes the result.
    # By hand, output 0 has normalised taps 0.43359375 at +-0.5, 0.11328125 at +-1.5, -0.03515625 at
    # +-2.5 and -0.01171875 at +-3.5 around input 0.5, over the values (0, 1), (0, 2), (1, 3), (2, 4):
    # 0.43359375 * 1 + 0.11328125 * 2 - 0.03515625 * 4 - 0.01171875 * 6 = 0.44921875, not 0.5.
    assert out[0, 0].item() == pytest.approx(0.44921875, abs=1e-12)
    assert out[0, 7].item() == pytest.approx(15 - 0.44921875, abs=1e-12)


@pytest.mark.parametrize("scale", [2, 4])
def test_interior_matches_torch_antialiased_bicubic(scale):
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 48, 40, generator=generator, dtype=torch.float64)
    ours = downscale(x, scale)
    theirs = F.interpolate(x, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours[..., 3:-3, 3:-3], theirs[..., 3:-3, 3:-3], atol=1e-12, rtol=0)
    # The borders are where the two differ (symmetric padding vs truncated, renormalised kernel).
    assert not torch.allclose(ours[..., 0, :], theirs[..., 0, :], atol=1e-6)


def test_upscale_interior_matches_torch_antialiased_bicubic():
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 12, 10, generator=generator, dtype=torch.float64)
    ours = upscale(x, 4)
    theirs = F.interpolate(x, scale_factor=4, mode="bicubic", antialias=True, align_corners=False)
    torch.testing.assert_close(ours[..., 8:-8, 8:-8], theirs[..., 8:-8, 8:-8], atol=1e-12, rtol=0)


@pytest.mark.parametrize("in_len,out_len", [(16, 8), (64, 8), (10, 40), (7, 5), (5, 13), (3, 3), (1, 4)])
def test_resize_matrix_rows_sum_to_one(in_len, out_len):
    matrix = resize_matrix(in_len, out_len)
    assert matrix.shape == (out_len, in_len)
    np.testing.assert_allclose(matrix.sum(axis=1), np.ones(out_len), atol=1e-12)


def test_resize_matrix_same_size_is_identity():
    np.testing.assert_allclose(resize_matrix(9, 9), np.eye(9), atol=1e-15)


def _smooth_image(height: int, width: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = [
        128 + 90 * np.sin(xx / 9.0) * np.cos(yy / 11.0),
        128 + 80 * np.cos((xx + yy) / 13.0),
        100 + 60 * np.sin(yy / 7.0),
    ]
    return np.clip(np.stack(channels, axis=2), 0, 255).round().astype(np.uint8)


@pytest.mark.parametrize("scale", [2, 4])
def test_degrade_returns_uint8_lr(scale):
    hr = _smooth_image(32, 48)
    lr = degrade(hr, scale)
    assert lr.dtype == np.uint8
    assert lr.shape == (32 // scale, 48 // scale, 3)
    # Same numbers as the float path, rounded.
    expected = downscale(torch.from_numpy(hr.transpose(2, 0, 1)).double() / 255, scale)
    expected = (expected * 255).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(lr, expected)


def test_degrade_rejects_sizes_the_scale_does_not_divide():
    hr = np.zeros((30, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="30x32"):
        degrade(hr, 4)
    with pytest.raises(ValueError, match="33x32"):
        degrade(np.zeros((33, 32, 3), dtype=np.uint8), 2)


def test_nearest_upscale_is_pixel_replication():
    rng = np.random.default_rng(0)
    lr = rng.integers(0, 256, size=(3, 5, 3), dtype=np.uint8)
    up = nearest_upscale(lr, 3)
    assert up.shape == (9, 15, 3) and up.dtype == np.uint8
    for i in range(9):
        for j in range(15):
            np.testing.assert_array_equal(up[i, j], lr[i // 3, j // 3])


def test_bicubic_upscale_of_degraded_smooth_image_is_close():
    hr = _smooth_image(64, 64)
    rec = bicubic_upscale(degrade(hr, 2), 2)
    assert rec.shape == hr.shape and rec.dtype == np.uint8
    diff = np.abs(rec.astype(int) - hr.astype(int))
    assert diff.mean() < 1.5
    assert diff[4:-4, 4:-4].max() <= 6
    # A noise image does not come back: the check above is not vacuous.
    noise = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    assert np.abs(bicubic_upscale(degrade(noise, 2), 2).astype(int) - noise.astype(int)).mean() > 20


def test_imresize_is_differentiable():
    x = torch.rand(2, 3, 12, 16, dtype=torch.float64, requires_grad=True)
    y = imresize(x, (6, 4))
    weights = torch.rand_like(y)
    (y * weights).sum().backward()
    assert x.grad is not None
    # d/dx sum(G * (R x C^T)) = R^T G C
    rows = torch.from_numpy(resize_matrix(12, 6))
    cols = torch.from_numpy(resize_matrix(16, 4))
    torch.testing.assert_close(x.grad, rows.T @ weights @ cols, atol=1e-12, rtol=0)


def test_imresize_rejects_integer_tensors():
    with pytest.raises(TypeError):
        imresize(torch.zeros(4, 4, dtype=torch.uint8), (2, 2))


def test_imresize_float32_matches_float64():
    x = torch.rand(3, 16, 16, dtype=torch.float64)
    torch.testing.assert_close(imresize(x.float(), (8, 8)).double(), imresize(x, (8, 8)), atol=1e-6, rtol=0)
