"""The metric protocol of the SR literature (DESIGN.md): PSNR/SSIM on BT.601 Y, border cropped; LPIPS-Alex.
NIQE, the no-reference perceptual metric, is in srgan.niqe.

Images are uint8 HxWx3 (model outputs are rounded to uint8 before any metric), so nearest, bicubic
and every model go through exactly the same code.
"""

from __future__ import annotations

import numpy as np

# MATLAB rgb2ycbcr, Y row, for RGB in [0, 255]: Y in [16, 235].
Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0
# BT.601 luma of full-range RGB (weights summing to 1): the grey of grey noise and of a discriminator's luma input.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
# PSNR of an output identical to its reference is infinite; it is reported as 100 dB (a common cap, far above any
# real output), so that metrics files stay standard JSON and one exact image cannot make a set's mean infinite.
PSNR_CAP = 100.0
SSIM_WINDOW = 11  # the Gaussian window's side: SSIM needs at least this many pixels a side


def smallest_side(scale: int) -> int:
    """The smallest HR side the protocol can measure: an SSIM window left after a border of `scale` each side."""
    return 2 * scale + SSIM_WINDOW


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """Luma of ITU-R BT.601 YCbCr as float64, MATLAB's rgb2ycbcr (without its final rounding)."""
    return 16.0 + image.astype(np.float64) @ Y_WEIGHTS


def crop_border(image: np.ndarray, border: int) -> np.ndarray:
    return image[border:-border, border:-border] if border else image


def _check(sr: np.ndarray, hr: np.ndarray) -> None:
    if sr.shape != hr.shape or sr.dtype != np.uint8 or hr.dtype != np.uint8:
        raise ValueError(f"metrics need two uint8 images of one shape, got {sr.shape} {sr.dtype} and "
                         f"{hr.shape} {hr.dtype}")


def psnr_y(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    _check(sr, hr)
    return _psnr(crop_border(rgb_to_y(sr), border), crop_border(rgb_to_y(hr), border))


def psnr_rgb(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    _check(sr, hr)
    return _psnr(crop_border(sr, border).astype(np.float64), crop_border(hr, border).astype(np.float64))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    """skimage's peak_signal_noise_ratio, written out: importing skimage.metrics imports scipy.stats, 1.5 s in
    every training process that validates (tests/test_metrics.py checks the two agree)."""
    if a.size == 0:
        raise ValueError(f"nothing left to compare after the border crop of a {a.shape} image")
    mse = float(np.mean((a - b) ** 2))
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10.0 * float(np.log10(255.0**2 / mse)))


def ssim_y(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """SSIM of Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, range 255."""
    from skimage.metrics import structural_similarity  # a slow import (see _psnr): only where SSIM is measured

    _check(sr, hr)
    return float(structural_similarity(
        crop_border(rgb_to_y(sr), border), crop_border(rgb_to_y(hr), border),
        gaussian_weights=True, sigma=1.5, use_sample_covariance=False, K1=0.01, K2=0.03, data_range=255,
    ))


class LPIPS:
    """The reference `lpips` metric (AlexNet, v0.1 linear layers) from verified AlexNet weights."""

    def __init__(self, alexnet_state: dict, device="cpu"):
        import lpips  # slow imports (lpips, torch); only when LPIPS is available
        import torch

        self.device = torch.device(device)
        self.model = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False)
        trunk = self.model.net.state_dict()
        # lpips slices keep torchvision's layer indices: slice2.3.weight is features.3.weight.
        mapped = {key: alexnet_state["features." + key.split(".", 1)[1]] for key in trunk}
        self.model.net.load_state_dict(mapped)
        self.model.eval().requires_grad_(False).to(self.device)

    def __call__(self, sr: np.ndarray, hr: np.ndarray) -> float:
        import torch

        _check(sr, hr)
        with torch.no_grad():
            return float(self.model(self._tensor(sr), self._tensor(hr)).item())

    def _tensor(self, image: np.ndarray):
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
        return (tensor / 127.5 - 1.0).to(self.device)


def full_reference_metrics(sr: np.ndarray, hr: np.ndarray, scale: int,
                           lpips_metric: LPIPS | None) -> dict[str, float | None]:
    """Every metric that compares an output with its HR image; LPIPS is None when unavailable."""
    return {
        "psnr_y": psnr_y(sr, hr, scale),
        "ssim_y": ssim_y(sr, hr, scale),
        "psnr_rgb": psnr_rgb(sr, hr, scale),
        "lpips": lpips_metric(sr, hr) if lpips_metric else None,
    }
