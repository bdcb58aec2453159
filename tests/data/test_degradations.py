"""Tests for srgan.data.degradations: each step on tiny images with a statistical check, and seeding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from srgan.config import DegradationOrder, KernelProbs, RealisticDegradation
from srgan.data.degradations import (
    anisotropic_kernel,
    blur,
    degraded_pair,
    gaussian_noise,
    jpeg,
    make_lr,
    poisson_noise,
    random_kernel,
    realistic_degrade,
    resize,
    sinc_kernel,
)
from srgan.data.resize import degrade


def _high_frequency_energy(x: torch.Tensor) -> float:
    """Energy of the spectrum outside the central (low) quarter of frequencies."""
    spectrum = torch.fft.fftshift(torch.fft.fft2(x - x.mean()), dim=(-2, -1)).abs() ** 2
    h, w = x.shape[-2:]
    low = spectrum[..., h // 2 - h // 8:h // 2 + h // 8, w // 2 - w // 8:w // 2 + w // 8].sum()
    return float(spectrum.sum() - low)


def _noise_image(seed: int = 0, size: int = 64) -> torch.Tensor:
    return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("shape", ["gaussian", "generalized", "plateau"])
def test_kernels_are_normalised_and_isotropic_ones_symmetric(shape):
    iso = anisotropic_kernel(15, 2.0, 2.0, 0.0, beta=1.5, shape=shape)
    assert iso.shape == (15, 15) and iso.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert torch.allclose(iso, iso.T, atol=1e-7) and torch.allclose(iso, iso.flip(0), atol=1e-7)
    assert iso.argmax().item() == 7 * 15 + 7
    aniso = anisotropic_kernel(15, 3.0, 0.5, math.pi / 6, beta=1.5, shape=shape)
    assert not torch.allclose(aniso, aniso.T, atol=1e-4)


def test_anisotropic_gaussian_has_the_requested_spread():
    kernel = anisotropic_kernel(41, 3.0, 1.0, 0.0).double()
    axis = torch.arange(41, dtype=torch.float64) - 20
    assert (kernel.sum(0) * axis**2).sum().sqrt().item() == pytest.approx(3.0, rel=1e-3)  # along x
    assert (kernel.sum(1) * axis**2).sum().sqrt().item() == pytest.approx(1.0, rel=1e-3)  # along y


def test_sinc_kernel_passes_low_and_stops_high_frequencies():
    kernel = sinc_kernel(21, math.pi / 3).double()
    assert kernel.sum().item() == pytest.approx(1.0, abs=1e-5)
    response = torch.fft.fft2(kernel, s=(128, 128)).abs()
    assert response[0, 0].item() == pytest.approx(1.0, abs=1e-6)
    assert response[0, 64].item() < 0.1  # Nyquist, well above the cutoff of pi/3
    assert response[0, 5].item() > 0.9  # 2*pi*5/128 ~ 0.25, well below it


@pytest.mark.parametrize("kernel", [anisotropic_kernel(11, 1.5, 1.5, 0.0), anisotropic_kernel(11, 2.5, 0.8, 0.7),
                                    anisotropic_kernel(11, 2.0, 2.0, 0.0, 2.0, "generalized"),
                                    sinc_kernel(11, math.pi / 3)], ids=["iso", "aniso", "generalized", "sinc"])
def test_blur_lowers_high_frequency_energy_and_keeps_the_mean(kernel):
    image = _noise_image()
    blurred = blur(image, kernel)
    assert blurred.shape == image.shape
    assert _high_frequency_energy(blurred) < 0.3 * _high_frequency_energy(image)
    assert blurred.mean().item() == pytest.approx(image.mean().item(), abs=2e-3)


def test_blur_works_on_images_smaller_than_the_kernel():
    image = _noise_image(size=5)
    assert blur(image, anisotropic_kernel(21, 2.0, 2.0, 0.0)).shape == image.shape


@pytest.mark.parametrize("mode", ["area", "bilinear", "bicubic"])
def test_resize_reaches_the_size(mode):
    assert resize(_noise_image(size=32), (13, 50), mode).shape == (1, 3, 13, 50)


@pytest.mark.parametrize("gray", [False, True])
def test_gaussian_noise_has_the_requested_deviation(gray):
    flat = torch.full((1, 3, 128, 128), 0.5)
    noisy = gaussian_noise(flat, 0.1, gray, torch.Generator().manual_seed(0))
    noise = noisy - flat
    assert noise.std().item() == pytest.approx(0.1, rel=0.03)
    assert abs(noise.mean().item()) < 0.005
    channels_equal = torch.equal(noise[:, 0], noise[:, 1]) and torch.equal(noise[:, 1], noise[:, 2])
    assert channels_equal == gray


def test_poisson_noise_has_shot_noise_variance():
    # 256 distinct levels, so counts are value * 256 and the noise variance is value / 256, times scale^2.
    ramp = (torch.arange(256, dtype=torch.float32) / 255).repeat(3, 64, 1)[None]
    scale = 2.0
    noise = poisson_noise(ramp, scale, False, torch.Generator().manual_seed(0)) - ramp
    expected = (ramp.mean() / 256 * scale**2).item()
    assert (noise**2).mean().item() == pytest.approx(expected, rel=0.05)
    assert abs(noise.mean().item()) < 0.01
    gray = poisson_noise(ramp, scale, True, torch.Generator().manual_seed(0)) - ramp
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 1], gray[:, 2])


def _blockiness(x: torch.Tensor) -> float:
    """Mean jump across 8-pixel column boundaries over the mean jump elsewhere."""
    jumps = (x[..., 1:] - x[..., :-1]).abs().mean(dim=(0, 1, 2))  # jump between column j and j + 1
    at_edges = jumps[7::8]
    inside = torch.cat([jumps[k::8] for k in range(7)])
    return (at_edges.mean() / inside.mean()).item()


def test_jpeg_at_quality_10_adds_8x8_block_edges():
    y, x = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 64), indexing="ij")
    smooth = torch.stack([x, y, (x + y) / 2])[None] * 0.8 + 0.1
    smooth = smooth + 0.02 * torch.randn(smooth.shape, generator=torch.Generator().manual_seed(0))
    assert _blockiness(smooth) == pytest.approx(1.0, abs=0.1)
    compressed = jpeg(smooth.clamp(0, 1), 10)
    assert compressed.shape == smooth.shape
    assert _blockiness(compressed) > 2.0
    assert _blockiness(jpeg(smooth.clamp(0, 1), 95)) < _blockiness(compressed)


def test_random_kernels_follow_the_probabilities():
    only_aniso = DegradationOrder(kernel_probs=KernelProbs(iso=0, aniso=1, generalized_iso=0, generalized_aniso=0,
                                                           plateau_iso=0, plateau_aniso=0), sinc_prob=0.0,
                                  kernel_size=(9, 9))
    rng = np.random.default_rng(0)
    kernels = [random_kernel(only_aniso, rng) for _ in range(20)]
    assert all(kernel.shape == (9, 9) for kernel in kernels)
    assert sum(not torch.allclose(k, k.T, atol=1e-5) for k in kernels) >= 18
    only_sinc = DegradationOrder(sinc_prob=1.0, kernel_size=(7, 7))
    kernel = random_kernel(only_sinc, rng)
    assert (kernel < 0).any()  # a sinc rings; no Gaussian-family kernel goes negative


def _photo() -> np.ndarray:
    from skimage import data
    return np.ascontiguousarray(data.astronaut()[100:196, 150:246])


def test_realistic_degrade_is_seeded():
    hr, params = _photo(), RealisticDegradation()
    first = realistic_degrade(hr, 4, params, np.random.default_rng(7))
    assert first.shape == (24, 24, 3) and first.dtype == np.uint8
    assert np.array_equal(first, realistic_degrade(hr, 4, params, np.random.default_rng(7)))
    others = [realistic_degrade(hr, 4, params, np.random.default_rng(seed)) for seed in range(8, 11)]
    assert all(not np.array_equal(first, other) for other in others)


def test_realistic_degrade_differs_from_bicubic_and_degrades():
    hr = _photo()
    bicubic = degrade(hr, 4).astype(np.float64)
    lrs = [realistic_degrade(hr, 4, RealisticDegradation(), np.random.default_rng(seed)).astype(np.float64)
           for seed in range(6)]
    assert all(np.abs(lr - bicubic).mean() > 1.0 for lr in lrs)
    # Averaged over draws the image is still the same picture: close to the bicubic LR on average.
    assert np.corrcoef(np.mean(lrs, axis=0).ravel(), bicubic.ravel())[0, 1] > 0.8


def test_realistic_degrade_refuses_sizes_the_scale_does_not_divide():
    with pytest.raises(ValueError, match="not divisible by scale 4"):
        realistic_degrade(np.zeros((30, 32, 3), np.uint8), 4, RealisticDegradation(), np.random.default_rng(0))


def test_make_lr_bicubic_is_the_default_degradation():
    hr = _photo()
    assert np.array_equal(make_lr("bicubic", RealisticDegradation())(hr, 4, np.random.default_rng(0)),
                          degrade(hr, 4))
    realistic = make_lr("realistic", RealisticDegradation())(hr, 4, np.random.default_rng(0))
    assert np.array_equal(realistic, realistic_degrade(hr, 4, RealisticDegradation(), np.random.default_rng(0)))


def test_a_degraded_pair_is_cut_from_the_degradation_of_the_whole_region():
    region, params = _photo()[:64, :64], RealisticDegradation(margin=16)
    lq, gt = degraded_pair(region, 4, params, np.random.default_rng(3))
    assert np.array_equal(gt, region[16:48, 16:48]) and lq.shape == (8, 8, 3)
    whole = realistic_degrade(region, 4, params, np.random.default_rng(3))
    assert np.array_equal(lq, whole[4:12, 4:12])
    lq_none, gt_none = degraded_pair(region, 4, params.model_copy(update={"margin": 0}), np.random.default_rng(3))
    assert np.array_equal(gt_none, region) and np.array_equal(lq_none, whole)


@pytest.mark.parametrize("size, side", [(21, 40), (7, 9), (3, 2)])
def test_blur_filters_as_a_direct_convolution_does(size, side):
    x = torch.rand(2, 3, side, side + 3, generator=torch.Generator().manual_seed(size))
    kernel = anisotropic_kernel(size, 2.0, 0.7, 0.4)
    pad = size // 2
    padded = torch.nn.functional.pad(x, (pad,) * 4, mode="reflect" if pad < side else "replicate")
    direct = torch.nn.functional.conv2d(padded, kernel[None, None].expand(3, 1, size, size), groups=3)
    assert blur(x, kernel).shape == x.shape
    torch.testing.assert_close(blur(x, kernel), direct, atol=1e-5, rtol=0)
