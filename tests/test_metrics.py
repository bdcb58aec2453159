"""Tests for srgan.metrics against values worked out by hand and an independent SSIM."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from torchvision.models import alexnet

from srgan.metrics import LPIPS, PSNR_CAP, crop_border, full_reference_metrics, psnr_rgb, psnr_y, rgb_to_y, ssim_y


def _gray(height=24, width=20, seed=0, high=200) -> np.ndarray:
    gray = np.random.default_rng(seed).integers(0, high, size=(height, width), dtype=np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)


def _textured(height=32, width=28, seed=0) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    base = 120 + 60 * np.sin(xx / 3.0) * np.cos(yy / 4.0)
    noise = np.random.default_rng(seed).normal(0, 10, size=(height, width, 3))
    return np.clip(base[..., None] + noise + [0, 20, -20], 0, 255).round().astype(np.uint8)


def test_psnr_is_capped_at_100_db_so_one_exact_image_cannot_make_a_mean_infinite():
    flat = np.full((24, 24, 3), 128, np.uint8)
    off_by_one = flat.copy()
    off_by_one[10, 10] += 1  # 60+ dB, under the cap
    assert psnr_y(flat, flat, 4) == 100.0 and psnr_rgb(flat, flat, 4) == 100.0
    assert 40 < psnr_rgb(off_by_one, flat, 4) < 100.0
    assert math.isfinite(np.mean([psnr_y(flat, flat, 4), 30.0]))


def test_identical_images_score_the_capped_psnr_and_an_ssim_of_1():
    image = _textured()
    for border in (0, 4):
        assert psnr_y(image, image, border) == PSNR_CAP == 100.0  # capped, as the literature reports it
        assert psnr_rgb(image, image, border) == PSNR_CAP
        assert ssim_y(image, image, border) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("d", [1, 5, 20])
@pytest.mark.parametrize("border", [0, 2])
def test_a_constant_shift_scores_as_computed_by_hand(d, border):
    hr = _gray()
    sr = (hr.astype(int) + d).astype(np.uint8)
    # RGB: every channel off by d -> MSE d^2.
    assert psnr_rgb(sr, hr, border) == pytest.approx(10 * math.log10(255**2 / d**2), abs=1e-9)
    # Y: the weights 65.481 + 128.553 + 24.966 = 219 (over 255), so Y moves by d * 219 / 255.
    assert 65.481 + 128.553 + 24.966 == pytest.approx(219)
    assert psnr_y(sr, hr, border) == pytest.approx(10 * math.log10(255**2 / (d * 219 / 255) ** 2), abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_psnr_agrees_with_scikit_image(seed):
    from skimage.metrics import peak_signal_noise_ratio

    hr, sr = _textured(seed=seed), _textured(seed=seed + 10)
    expected = peak_signal_noise_ratio(crop_border(rgb_to_y(hr), 4), crop_border(rgb_to_y(sr), 4), data_range=255)
    assert psnr_y(sr, hr, 4) == pytest.approx(expected, abs=1e-9)
    assert psnr_rgb(sr, hr, 0) == pytest.approx(peak_signal_noise_ratio(hr, sr, data_range=255), abs=1e-9)


def test_rgb_to_y_maps_black_and_white_to_16_and_235():
    black = np.zeros((1, 1, 3), dtype=np.uint8)
    white = np.full((1, 1, 3), 255, dtype=np.uint8)
    assert rgb_to_y(black)[0, 0] == pytest.approx(16.0, abs=1e-12)
    assert rgb_to_y(white)[0, 0] == pytest.approx(235.0, abs=1e-9)
    red = np.array([[[255, 0, 0]]], dtype=np.uint8)
    assert rgb_to_y(red)[0, 0] == pytest.approx(16 + 65.481, abs=1e-9)
    assert rgb_to_y(black).dtype == np.float64 and rgb_to_y(black).shape == (1, 1)


@pytest.mark.parametrize("scale", [2, 4])
def test_difference_only_in_the_border_is_ignored(scale):
    hr = _textured()
    sr = hr.copy()
    sr[:scale] = 0
    sr[-scale:] = 255
    sr[:, :scale] = 7
    sr[:, -scale:] = 99
    assert psnr_y(sr, hr, scale) == PSNR_CAP
    assert psnr_rgb(sr, hr, scale) == PSNR_CAP
    assert ssim_y(sr, hr, scale) == pytest.approx(1.0, abs=1e-12)
    # With a smaller border the difference counts.
    assert psnr_y(sr, hr, scale - 1) < 40
    assert ssim_y(sr, hr, scale - 1) < 1.0


def test_crop_border_removes_that_many_pixels_from_each_side():
    image = np.arange(5 * 6).reshape(5, 6)
    np.testing.assert_array_equal(crop_border(image, 0), image)
    np.testing.assert_array_equal(crop_border(image, 1), image[1:4, 1:5])


def _reference_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. 2004 written out: Gaussian window sigma 1.5, radius 5 (11x11), population statistics."""
    x, y = rgb_to_y(a), rgb_to_y(b)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(image):
        return gaussian_filter(image, sigma=1.5, truncate=3.5)  # radius int(3.5 * 1.5 + 0.5) = 5

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    ssim_map = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(ssim_map[5:-5, 5:-5].mean())  # the window fits entirely inside the image


@pytest.mark.parametrize("seed", [0, 1])
def test_ssim_matches_independent_implementation(seed):
    hr = _textured(seed=seed)
    noise = np.random.default_rng(seed + 10).normal(0, 12, size=hr.shape)
    sr = np.clip(hr + noise, 0, 255).round().astype(np.uint8)
    expected = _reference_ssim(sr, hr)
    assert 0.2 < expected < 0.99
    assert ssim_y(sr, hr, 0) == pytest.approx(expected, abs=1e-6)
    # And with the protocol's border crop applied first.
    assert ssim_y(sr, hr, 4) == pytest.approx(_reference_ssim(sr[4:-4, 4:-4], hr[4:-4, 4:-4]), abs=1e-6)


def test_ssim_is_symmetric_and_lower_for_more_noise():
    hr = _textured()
    rng = np.random.default_rng(3)
    small = np.clip(hr + rng.normal(0, 4, hr.shape), 0, 255).round().astype(np.uint8)
    large = np.clip(hr + rng.normal(0, 30, hr.shape), 0, 255).round().astype(np.uint8)
    assert ssim_y(small, hr, 0) == pytest.approx(ssim_y(hr, small, 0), abs=1e-12)
    assert ssim_y(large, hr, 0) < ssim_y(small, hr, 0) < 1.0


@pytest.mark.parametrize("metric", [psnr_y, psnr_rgb, ssim_y])
def test_metrics_refuse_images_of_other_shapes_or_types(metric):
    hr = _textured()
    with pytest.raises(ValueError):
        metric(hr[:-1], hr, 0)
    with pytest.raises(ValueError):
        metric(hr.astype(np.float32), hr, 0)
    with pytest.raises(ValueError):
        metric(hr, hr.astype(np.uint16), 0)


@pytest.fixture(scope="module")
def alex_state():
    torch.manual_seed(0)
    return alexnet(weights=None).state_dict()


@pytest.fixture(scope="module")
def lpips_metric(alex_state):
    return LPIPS(alex_state)


def test_lpips_trunk_uses_the_given_weights(lpips_metric, alex_state):
    trunk = lpips_metric.model.net.state_dict()
    assert len(trunk) == 10  # five convs, weight and bias
    for key, value in trunk.items():
        index = key.split(".", 1)[1]  # slice2.3.weight -> 3.weight
        torch.testing.assert_close(value, alex_state["features." + index], rtol=0, atol=0)


def test_lpips_is_zero_for_the_same_image_and_grows_with_the_difference(lpips_metric):
    a = _textured(64, 64, seed=0)
    b = _textured(64, 64, seed=1)
    assert lpips_metric(a, a) == 0.0
    assert lpips_metric(a, b) > 0.0
    far = np.full_like(a, 255)
    assert lpips_metric(a, far) > lpips_metric(a, b)
    with pytest.raises(ValueError):
        lpips_metric(a, b[:-1])


def test_full_reference_metrics_are_the_single_metrics_and_no_lpips_without_a_model(lpips_metric):
    hr = _textured(64, 64)
    sr = np.clip(hr.astype(int) + 3, 0, 255).astype(np.uint8)
    result = full_reference_metrics(sr, hr, 4, None)
    assert set(result) == {"psnr_y", "ssim_y", "psnr_rgb", "lpips"}
    assert result["lpips"] is None
    assert result["psnr_y"] == psnr_y(sr, hr, 4)
    assert result["ssim_y"] == ssim_y(sr, hr, 4)
    assert result["psnr_rgb"] == psnr_rgb(sr, hr, 4)
    with_lpips = full_reference_metrics(sr, hr, 4, lpips_metric)
    assert isinstance(with_lpips["lpips"], float) and with_lpips["lpips"] > 0


def test_a_border_crop_that_leaves_nothing_is_an_error_not_a_perfect_score():
    black, grey = np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 128, np.uint8)
    with pytest.raises(ValueError, match="nothing left to compare"):
        psnr_y(black, grey, border=4)
