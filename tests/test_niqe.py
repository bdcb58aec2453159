"""Tests for srgan.niqe: reference values of an independent NIQE, MATLAB's semantics, and what NIQE must rank."""

from __future__ import annotations

import math
from importlib import resources

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage import data

from srgan.data.resize import bicubic_upscale, degrade
from srgan.metrics import rgb_to_y
from srgan.niqe import _aggd, _fit_mvg, niqe, pristine_params

# Reference values: BasicSR 1.4.2 (the PyPI sdist basicsr-1.4.2.tar.gz, unmodified
# basicsr/metrics/niqe.py and basicsr/utils/matlab_functions.py; numpy 2.4.6, scipy 1.17.1, torch 2.13.0 CPU),
# computed as
#   calculate_niqe(image[..., ::-1], 4, input_order="HWC", convert_to="y")   for the RGB images (BGR order),
#   calculate_niqe(image, 4, input_order="HW")                               for the grayscale `camera`,
# with `image = getattr(skimage.data, name)()` (scikit-image 0.26.0).
# BasicSR's implementation differs from ours only in floating point (float32 luma and half-scale image, scipy's
# 2-D convolve), which agrees to ~1e-5 on these images. `astronaut` has flat black areas where MSCN is 0 in exact
# arithmetic and rounding noise of either sign in floating point; we take it as 0 (srgan.niqe._mscn), BasicSR
# counts the noise, hence the wider tolerance there (the difference is 6e-4).
REFERENCE = [
    ("astronaut", 2.9905116397098337, 0.01),
    ("chelsea", 2.689315327166483, 1e-3),
    ("coffee", 4.079430190800003, 1e-3),
    ("camera", 3.0467424595689905, 1e-3),
]


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def chelsea() -> np.ndarray:
    return data.chelsea()


@pytest.mark.parametrize(("name", "expected", "tolerance"), REFERENCE)
def test_niqe_matches_the_reference_implementation_on_known_images(name, expected, tolerance):
    value = niqe(getattr(data, name)(), border=4)
    assert value == pytest.approx(expected, abs=tolerance)
    assert round(value, 2) == round(expected, 2)  # astronaut 2.99, chelsea 2.69, coffee 4.08, camera 3.05


def test_blurred_copy_scores_worse(astronaut, chelsea):
    sharp = niqe(astronaut, border=4)
    bicubic = niqe(bicubic_upscale(degrade(astronaut, 4), 4), border=4)  # bicubic x4 down, then x4 up
    assert sharp < 3.1 and bicubic > sharp + 2
    y = rgb_to_y(chelsea)
    assert niqe(gaussian_filter(y, sigma=2.0), border=4) > niqe(y, border=4) + 1


def test_border_is_cropped_first(chelsea):
    assert niqe(chelsea, border=4) == niqe(chelsea[4:-4, 4:-4], border=0)
    changed = chelsea.copy()
    changed[:4] = 0
    changed[:, -4:] = 255
    assert niqe(changed, border=4) == niqe(chelsea, border=4)
    assert niqe(changed, border=0) != niqe(chelsea, border=0)


@pytest.mark.parametrize("border", [0, 4])
def test_rgb_and_its_luma_agree(astronaut, border):
    assert abs(niqe(astronaut, border) - niqe(rgb_to_y(astronaut), border)) < 1e-9


def test_luma_is_rounded_to_integers(chelsea):
    y = np.round(rgb_to_y(chelsea))
    assert niqe(y + 0.3, border=4) == niqe(y, border=4) == niqe(y.astype(np.uint8), border=4)


@pytest.mark.parametrize(("shape", "border"), [((95, 300, 3), 0), ((300, 95, 3), 0), ((100, 100, 3), 3)])
def test_smaller_than_one_block_raises(shape, border):
    image = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    with pytest.raises(ValueError, match="96x96 block"):
        niqe(image, border)


def test_one_block_is_enough():
    image = np.random.default_rng(0).integers(0, 256, size=(100, 100, 3), dtype=np.uint8)
    assert math.isfinite(niqe(image, border=2))


@pytest.mark.parametrize("image", [
    np.zeros((128, 128, 4), dtype=np.uint8),  # not RGB
    np.zeros((128, 128, 3), dtype=np.float64),  # RGB must be uint8
    np.zeros((2, 128, 128, 3), dtype=np.uint8),  # a batch
])
def test_niqe_refuses_an_image_it_cannot_score(image):
    with pytest.raises(ValueError, match="NIQE needs"):
        niqe(image)


def test_bad_border_and_flat_image_raise(chelsea):
    with pytest.raises(ValueError, match="border"):
        niqe(chelsea, border=-1)
    with pytest.raises(ValueError, match="undefined"):
        niqe(np.full((200, 300), 117.0))


def test_aggd_fit_recovers_known_shapes():
    rng = np.random.default_rng(0)
    gaussian = rng.normal(0, 1.5, size=200_000)
    laplacian = rng.laplace(0, 1.0, size=200_000)
    # An asymmetric Gaussian (AGGD, alpha 2): left half twice as wide, and so twice as likely (continuous at 0).
    skewed = np.abs(gaussian) * np.where(rng.random(gaussian.size) < 2 / 3, -2.0, 1.0)
    alpha, beta_l, beta_r, _ = _aggd(np.stack([gaussian, laplacian, skewed]))
    np.testing.assert_allclose(alpha, [2.0, 1.0, 2.0], atol=0.05)
    # For a Gaussian (alpha 2), beta = sigma * sqrt(Gamma(1/2) / Gamma(3/2)) = sigma * sqrt(2).
    np.testing.assert_allclose([beta_l[0], beta_r[0]], 1.5 * math.sqrt(2), rtol=0.02)
    assert beta_l[2] / beta_r[2] == pytest.approx(2.0, rel=0.02)
    # No negative values: the left deviation is undefined (NaN), as in MATLAB, and alpha is the first grid value.
    alpha, beta_l, beta_r, _ = _aggd(np.abs(gaussian)[None])
    assert alpha[0] == 0.2 and math.isnan(beta_l[0]) and not math.isnan(beta_r[0])


def test_mvg_fit_follows_matlab_nanmean_and_nancov():
    features = np.array([[1.0, 2.0, 3.0], [3.0, math.nan, 5.0], [5.0, 6.0, 1.0], [7.0, 4.0, 3.0]])
    mean, cov = _fit_mvg(features)
    np.testing.assert_allclose(mean, [4.0, 4.0, 3.0])  # nanmean: column-wise, NaN ignored
    complete = features[[0, 2, 3]]  # nancov: rows with a NaN are left out, normalised by N - 1
    np.testing.assert_allclose(cov, np.cov(complete, rowvar=False))
    # One complete row: zero covariance.
    mean, cov = _fit_mvg(np.array([[1.0, 2.0], [3.0, math.nan]]))
    np.testing.assert_allclose(mean, [2.0, 2.0])
    np.testing.assert_array_equal(cov, np.zeros((2, 2)))
    # A single row is a vector to MATLAB: the scalar mean and sample variance of its non-NaN values.
    mean, cov = _fit_mvg(np.array([[1.0, math.nan, 2.0, 6.0]]))
    assert mean == pytest.approx(3.0) and cov == pytest.approx(7.0)


def test_the_pristine_model_file_holds_the_niqe_parameters():
    with resources.files("srgan").joinpath("niqe_pris_params.npz").open("rb") as handle:
        with np.load(handle, allow_pickle=False) as stored:
            assert sorted(stored.files) == ["cov_pris_param", "mu_pris_param"]
    mu, cov = pristine_params()
    assert mu.shape == (36,) and cov.shape == (36, 36)
    assert mu.dtype == cov.dtype == np.float64
    np.testing.assert_array_equal(cov, cov.T)
    assert np.linalg.eigvalsh(cov).min() > 0
    # The first alpha of each scale, as published in the MATLAB release's modelparameters.mat.
    assert mu[0] == pytest.approx(2.60131368, abs=1e-8) and mu[18] == pytest.approx(2.96949403, abs=1e-8)
    assert pristine_params() is pristine_params() and not mu.flags.writeable
