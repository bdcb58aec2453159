"""NIQE, the Natural Image Quality Evaluator, computed as the reference MATLAB release computes it.

Mittal, Soundararajan and Bovik, "Making a 'Completely Blind' Image Quality Analyzer", IEEE Signal
Processing Letters 20(3):209-212, 2013; reference code `niqe_release.zip` (LIVE, UT Austin),
function `computequality.m`. No reference image is needed; lower is better.

What is computed, step by step as in `computequality.m` (block size 96x96, no overlap):

1. The luma image: for RGB, the Y of MATLAB's `rgb2ycbcr` (`srgan.metrics.rgb_to_y`, range [16, 235]),
   `border` pixels cropped on each side, rounded to integers (the MATLAB numbers are computed on the uint8
   Y image, so rounding is half away from zero), then cropped to a whole number of 96x96 blocks.
2. At two scales (the image, then `imresize(im, 0.5)`: MATLAB bicubic with antialiasing,
   `srgan.data.resize.imresize`): MSCN coefficients (im - mu) / (sigma + 1), where mu and sigma =
   sqrt(|E[x^2] - mu^2|) are local statistics under a 7x7 Gaussian window (sigma 7/6, normalised) with
   replicated borders (`imfilter(..., 'replicate')`). Where a neighbourhood is flat, im - mu is zero in exact
   arithmetic; its floating-point rounding noise, whose sign depends on the order of the sums and would be
   counted by the AGGD fit, is set to exactly zero (see `_mscn`).
3. Per block (96x96 at scale 1, 48x48 at scale 2) the 18 features of `computefeature.m`: the AGGD fit
   (alpha, beta_l, beta_r) of the MSCN coefficients gives [alpha, (beta_l + beta_r) / 2]; for each of the
   products with the block circularly shifted by (0, 1), (1, 0), (1, 1), (1, -1) the AGGD fit gives
   [alpha, (beta_r - beta_l) * Gamma(2/alpha) / Gamma(1/alpha), beta_l, beta_r]. Alpha is the best of the
   grid 0.2:0.001:10 (moment matching, `estimateaggdparam.m`).
4. A multivariate Gaussian fitted to the 36-dimensional block features (MATLAB's `nanmean` and `nancov`,
   including their treatment of NaN features and of a single block), and the quality
   sqrt((mu_p - mu_d) pinv((cov_p + cov_d) / 2) (mu_p - mu_d)^T) against the pristine model (mu_p, cov_p).

The pristine model (`niqe_pris_params.npz` next to this module: `mu_pris_param`, 36 values, and
`cov_pris_param`, 36x36) holds the published numbers that Mittal et al. estimated from their corpus of
pristine images and released as `modelparameters.mat` with the MATLAB code. We take them from BasicSR 1.4.2
(`basicsr/metrics/niqe_pris_params.npz` in its source distribution), which is licensed Apache-2.0; see
`NIQE_PARAMS_LICENSE.md`. The code here is written from the paper and the MATLAB release.
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources

import numpy as np
import torch

from srgan.data.resize import imresize
from srgan.metrics import crop_border, rgb_to_y

BLOCK = 96  # blocksizerow = blocksizecol = 96, overlap 0: the values the MATLAB release (and its model) use
PARAMS_FILE = "niqe_pris_params.npz"
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))  # circshift offsets (rows, columns) of computefeature.m
_FLAT = 1e-10  # |im - mu| below this (grey levels) is floating-point noise of a flat area: see _mscn
_CHUNK = 512  # rows of the (blocks, alpha grid) table formed at once: bounds memory for large images


@lru_cache(maxsize=1)
def pristine_params() -> tuple[np.ndarray, np.ndarray]:
    """(mu_pris_param (36,), cov_pris_param (36, 36)) of the published pristine model, loaded once, read-only."""
    with resources.files("srgan").joinpath(PARAMS_FILE).open("rb") as handle:
        with np.load(handle, allow_pickle=False) as data:
            mu = np.array(data["mu_pris_param"], dtype=np.float64)
            cov = np.array(data["cov_pris_param"], dtype=np.float64)
    if mu.shape != (36,) or cov.shape != (36, 36):
        raise ValueError(f"{PARAMS_FILE}: expected shapes (36,) and (36, 36), got {mu.shape} and {cov.shape}")
    mu.flags.writeable = False
    cov.flags.writeable = False
    return mu, cov


@lru_cache(maxsize=1)
def _gaussian_1d() -> np.ndarray:
    """fspecial('gaussian', 7, 7/6) normalised to sum 1 is the outer product of this 1-D window with itself."""
    x = np.arange(-3, 4, dtype=np.float64)
    g = np.exp(-(x**2) / (2 * (7 / 6) ** 2))
    return g / g.sum()


@lru_cache(maxsize=1)
def _alpha_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """gam = 0.2:0.001:10, r_gam, and Gamma(1/gam), Gamma(2/gam), Gamma(3/gam) on it (estimateaggdparam.m)."""
    gam = np.arange(200, 10001, dtype=np.float64) / 1000.0  # 9801 values
    g1, g2, g3 = (np.array([math.gamma(k / a) for a in gam]) for k in (1.0, 2.0, 3.0))
    return gam, g2**2 / (g1 * g3), g1, g2, g3


def _matlab_round(x: np.ndarray) -> np.ndarray:
    """MATLAB's round (half away from zero), as a conversion to uint8 rounds; exact, unlike floor(x + 0.5)."""
    ax = np.abs(x)
    low = np.floor(ax)
    return np.copysign(low + (ax - low >= 0.5), x)


def _filter(x: np.ndarray) -> np.ndarray:
    """imfilter(x, window, 'replicate') with the 7x7 Gaussian window, done separably (it is symmetric)."""
    g = _gaussian_1d()
    h, w = x.shape
    padded = np.pad(x, 3, mode="edge")
    rows = sum(g[k] * padded[k:k + h] for k in range(7))
    return sum(g[k] * rows[:, k:k + w] for k in range(7))


def _mscn(im: np.ndarray) -> np.ndarray:
    """MSCN coefficients (im - mu) / (sigma + 1), with rounding noise in flat areas set to exactly zero.

    Where the 7x7 neighbourhood is flat, im - mu is 0 in exact arithmetic but +-1e-13 or so in floating point,
    with signs that depend on the order of the sums (MATLAB's imfilter, scipy's convolve and this code all
    differ). The AGGD fit counts negative and positive values, so that noise moves NIQE of images with flat
    areas (skimage's astronaut: from 2.99 to 3.04). Differences below _FLAT grey levels, far above the noise
    (< 1e-12 on 0..255 images) and below any genuine difference seen (> 1e-10), are therefore taken as the
    exact zeros they are, which makes the result independent of summation order.
    """
    mu = _filter(im)
    sigma = np.sqrt(np.abs(_filter(im * im) - mu * mu))
    centred = im - mu
    centred[np.abs(centred) < _FLAT] = 0.0
    return centred / (sigma + 1)


def _aggd(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """estimateaggdparam.m for each row of `values` (n, m): (alpha, beta_l, beta_r, grid index of alpha).

    A row without negative (or positive) values has no left (right) deviation: NaN, as in MATLAB; the
    NaN then picks the first grid value, as MATLAB's `min` and numpy's `argmin` both do.
    """
    gam, r_gam, g1, _, g3 = _alpha_grid()
    squares = values * values
    negative, positive = values < 0, values > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        left_std = np.sqrt(np.where(negative, squares, 0).sum(1) / negative.sum(1))
        right_std = np.sqrt(np.where(positive, squares, 0).sum(1) / positive.sum(1))
        gammahat = left_std / right_std
        rhat = np.abs(values).mean(1) ** 2 / squares.mean(1)
        rhatnorm = rhat * (gammahat**3 + 1) * (gammahat + 1) / (gammahat**2 + 1) ** 2
    index = np.concatenate([
        np.argmin((r_gam[None, :] - rhatnorm[start:start + _CHUNK, None]) ** 2, axis=1)
        for start in range(0, len(rhatnorm), _CHUNK)
    ])
    scale = np.sqrt(g1[index] / g3[index])
    return gam[index], left_std * scale, right_std * scale, index


def _block_features(mscn: np.ndarray, size: int) -> np.ndarray:
    """computefeature.m on every size x size block: (blocks, 18), blocks in MATLAB's column-major order."""
    rows, cols = mscn.shape[0] // size, mscn.shape[1] // size
    blocks = mscn.reshape(rows, size, cols, size).transpose(2, 0, 1, 3).reshape(-1, size, size)
    n = len(blocks)
    _, _, g1_grid, g2_grid, _ = _alpha_grid()
    alpha, beta_l, beta_r, _ = _aggd(blocks.reshape(n, -1))
    features = [alpha, (beta_l + beta_r) / 2]
    for shift in _SHIFTS:
        # circshift of the block itself: the products wrap around inside each block, as in MATLAB.
        pair = blocks * np.roll(blocks, shift, axis=(1, 2))
        alpha, beta_l, beta_r, index = _aggd(pair.reshape(n, -1))
        mean = (beta_r - beta_l) * (g2_grid[index] / g1_grid[index])
        features += [alpha, mean, beta_l, beta_r]
    return np.stack(features, axis=1)


def _fit_mvg(features: np.ndarray) -> tuple[np.ndarray | float, np.ndarray | float]:
    """nanmean(features) and nancov(features) with MATLAB's semantics.

    Rows with any NaN are left out of the covariance ('complete' rows), the mean ignores NaNs per column; one
    remaining row gives a zero covariance. A single block is a 1x36 *vector* to MATLAB: nanmean and nancov then
    return the scalar mean and sample variance of its 36 (non-NaN) values, which pinv((cov_p + c) / 2) then
    broadcasts. That is what the release computes for images of one block, and so we do too.
    """
    if len(features) == 1:
        values = features[0][~np.isnan(features[0])]
        if len(values) == 0:
            return math.nan, math.nan
        return values.mean(), (np.var(values, ddof=1) if len(values) > 1 else 0.0)
    present = ~np.isnan(features)
    with np.errstate(invalid="ignore"):  # an all-NaN column has a NaN mean, as in MATLAB
        mean = np.where(present, features, 0.0).sum(axis=0) / present.sum(axis=0)
    complete = features[~np.isnan(features).any(axis=1)]
    if len(complete) == 0:
        cov = np.full((features.shape[1],) * 2, math.nan)
    elif len(complete) == 1:
        cov = np.zeros((features.shape[1],) * 2)
    else:
        cov = np.cov(complete, rowvar=False)
    return mean, cov


def niqe(image: np.ndarray, border: int = 0) -> float:
    """NIQE of an RGB uint8 (H, W, 3) image or an (H, W) luma image in [0, 255]; lower is better.

    `border` pixels are cropped on each side first. Raises ValueError for an image smaller than one 96x96
    block after the crop, and for an image on which NIQE is undefined: no block has finite features (in each,
    the MSCN coefficients or one of their products are never negative or never positive, e.g. a flat image),
    where MATLAB's pinv fails on the NaN covariance.
    An image of a single block (96 to 191 pixels on both sides after the crop) gets what the MATLAB release
    computes for it (see _fit_mvg), which is not comparable with the values of larger images.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 3:
        if image.dtype != np.uint8:
            raise ValueError(f"NIQE needs an RGB image as uint8, got {image.dtype}")
        luma = rgb_to_y(image)
    elif image.ndim == 2 and (np.issubdtype(image.dtype, np.floating) or np.issubdtype(image.dtype, np.integer)):
        luma = image.astype(np.float64)
    else:
        raise ValueError(f"NIQE needs an HxWx3 RGB uint8 image or an HxW luma image, got shape {image.shape} "
                         f"of {image.dtype}")
    if isinstance(border, bool) or not isinstance(border, (int, np.integer)) or border < 0:
        raise ValueError(f"border must be a non-negative integer, got {border!r}")
    luma = crop_border(luma, int(border))
    height, width = luma.shape
    if height < BLOCK or width < BLOCK:
        raise ValueError(f"NIQE needs at least one {BLOCK}x{BLOCK} block: the image is {height}x{width} "
                         f"after cropping {border} border pixels on each side")
    if not np.isfinite(luma).all():
        raise ValueError("NIQE needs finite pixel values")

    rows, cols = height // BLOCK, width // BLOCK
    im = _matlab_round(luma)[:rows * BLOCK, :cols * BLOCK]
    per_scale = []
    for scale in (1, 2):
        per_scale.append(_block_features(_mscn(im), BLOCK // scale))
        if scale == 1:
            # computequality.m also computes a per-block `sharpness` (mean of sigma) at this point, but never
            # uses it: sharpness selects blocks only when the pristine model is estimated (training). Mirroring
            # that, it does not enter the quality here and is not computed.
            im = imresize(torch.from_numpy(im), (im.shape[0] // 2, im.shape[1] // 2)).numpy()
    mu_dist, cov_dist = _fit_mvg(np.concatenate(per_scale, axis=1))
    if np.isnan(mu_dist).any() or np.isnan(cov_dist).any():
        raise ValueError("NIQE is undefined for this image: no block has finite features (its MSCN coefficients "
                         "or their products are never negative or never positive: a flat or nearly flat image)")

    mu_pris, cov_pris = pristine_params()
    combined = (cov_pris + cov_dist) / 2
    # MATLAB's pinv tolerance: max(size(A)) * norm(A) * eps, relative to the largest singular value.
    inverse = np.linalg.pinv(combined, rcond=max(combined.shape) * np.finfo(np.float64).eps)
    diff = mu_pris - mu_dist
    return float(np.sqrt(diff @ inverse @ diff))


def niqe_or_none(image: np.ndarray, border: int = 0) -> float | None:
    """NIQE where it compares across images, else None (reported as n/a): images of fewer than two 96x96
    blocks after the border crop (one block gives the release's degenerate single-vector fit) and images on
    which NIQE is undefined."""
    height, width = np.asarray(image).shape[:2]
    if ((height - 2 * border) // BLOCK) * ((width - 2 * border) // BLOCK) < 2:
        return None
    try:
        return niqe(image, border)
    except ValueError:
        return None
