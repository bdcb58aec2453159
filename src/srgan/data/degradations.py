"""Realistic degradation (Real-ESRGAN, Wang et al. 2021): two orders of blur, random resize, noise and JPEG.

Every random draw comes from the numpy Generator a caller passes (and a torch Generator seeded from it for
the noise), so the same seed makes the same LR image. Convolution, resizing, Poisson noise and JPEG are
torch's and torchvision's; only the blur kernels, which neither library has, are written here, after
BasicSR's `degradations.py`. Real-ESRGAN's unsharp masking of the HR target is not applied: HR stays the image.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from srgan.config import DegradationOrder, RealisticDegradation
from srgan.data.crops import bicubic_lr, cut_margin
from srgan.metrics import LUMA_WEIGHTS

INTERPOLATIONS = ("area", "bilinear", "bicubic")


def anisotropic_kernel(size: int, sigma_x: float, sigma_y: float, theta: float, beta: float = 1.0,
                       shape: str = "gaussian") -> torch.Tensor:
    """A normalised (size, size) kernel of the quadratic form q = x^T Sigma^-1 x, Sigma rotated by theta:
    gaussian exp(-q/2), generalized exp(-q^beta/2), plateau 1/(1 + q^beta)."""
    rotation = torch.tensor([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]],
                            dtype=torch.float64)
    sigma = rotation @ torch.diag(torch.tensor([sigma_x**2, sigma_y**2], dtype=torch.float64)) @ rotation.T
    axis = torch.arange(size, dtype=torch.float64) - size // 2
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), dim=-1)
    q = ((grid @ torch.linalg.inv(sigma)) * grid).sum(-1)
    if shape == "gaussian":
        kernel = torch.exp(-0.5 * q)
    elif shape == "generalized":
        kernel = torch.exp(-0.5 * q.pow(beta))
    elif shape == "plateau":
        kernel = 1.0 / (q.pow(beta) + 1.0)
    else:
        raise ValueError(f"unknown kernel shape {shape!r}")
    return (kernel / kernel.sum()).float()


def sinc_kernel(size: int, cutoff: float) -> torch.Tensor:
    """A normalised circular low-pass (2-D sinc) kernel with cutoff frequency `cutoff` in (0, pi]."""
    axis = torch.arange(size, dtype=torch.float64) - size // 2
    radius = torch.hypot(*torch.meshgrid(axis, axis, indexing="xy"))
    safe = radius.clamp_min(1e-12)
    kernel = cutoff * torch.special.bessel_j1(cutoff * safe) / (2 * math.pi * safe)
    kernel[radius == 0] = cutoff**2 / (4 * math.pi)
    return (kernel / kernel.sum()).float()


def _uniform(rng: np.random.Generator, bounds) -> float:
    return float(rng.uniform(*bounds))


def _odd_size(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    sizes = [size for size in range(bounds[0], bounds[1] + 1) if size % 2]  # the params hold at least one
    return int(rng.choice(sizes))


def _choice(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    p = np.array([weights[name] for name in names], dtype=np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _beta(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """Half the draws below 1, half above, as Real-ESRGAN does."""
    return _uniform(rng, (bounds[0], 1.0)) if rng.uniform() < 0.5 else _uniform(rng, (1.0, bounds[1]))


def random_kernel(order: DegradationOrder, rng: np.random.Generator) -> torch.Tensor:
    """One blur kernel of an order: a sinc with probability sinc_prob, else a drawn Gaussian-family kernel."""
    size = _odd_size(rng, order.kernel_size)
    if rng.uniform() < order.sinc_prob:
        low = math.pi / 3 if size < 13 else math.pi / 5
        return sinc_kernel(size, _uniform(rng, (low, math.pi)))
    kind = _choice(rng, order.kernel_probs.model_dump())
    shape = kind.split("_")[0] if "_" in kind else "gaussian"
    sigma_x = _uniform(rng, order.blur_sigma)
    if kind.endswith("iso") and not kind.endswith("aniso"):
        sigma_y, theta = sigma_x, 0.0
    else:
        sigma_y, theta = _uniform(rng, order.blur_sigma), _uniform(rng, (-math.pi, math.pi))
    beta = _beta(rng, order.betag_range if shape == "generalized" else order.betap_range)
    return anisotropic_kernel(size, sigma_x, sigma_y, theta, beta, shape)


def blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Filter each channel of (N, C, H, W) with a (k, k) kernel as F.conv2d does; borders reflected (replicated on
    tiny images).

    Through the FFT: on one core a 21-pixel kernel on a 160-pixel crop takes 7 times less than F.conv2d's
    depthwise convolution, which was most of the cost of drawing a degradation for every training sample. The
    valid part of the circular convolution of the padded image is the direct one (to float rounding)."""
    size = kernel.shape[-1]
    pad = size // 2
    mode = "reflect" if pad < min(x.shape[-2:]) else "replicate"
    padded = F.pad(x, (pad, pad, pad, pad), mode=mode)
    height, width = padded.shape[-2:]
    taps = torch.zeros(height, width, dtype=x.dtype)
    taps[:size, :size] = kernel.to(x.dtype).flip(0, 1)  # flipped: conv2d correlates
    full = torch.fft.irfft2(torch.fft.rfft2(padded) * torch.fft.rfft2(taps), s=(height, width))
    return full[..., size - 1:, size - 1:]


def resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    size = (max(1, size[0]), max(1, size[1]))
    if mode == "area":
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode=mode, align_corners=False)


def gaussian_noise(x: torch.Tensor, sigma: float, gray: bool, generator: torch.Generator) -> torch.Tensor:
    """x plus zero-mean Gaussian noise of standard deviation `sigma` (in [0, 1] units), one field for all
    channels when `gray`."""
    shape = (x.shape[0], 1, *x.shape[2:]) if gray else x.shape
    return x + sigma * torch.randn(shape, generator=generator, dtype=x.dtype).expand_as(x)


def poisson_noise(x: torch.Tensor, scale: float, gray: bool, generator: torch.Generator) -> torch.Tensor:
    """x plus `scale` times shot noise: Poisson counts at as many levels as the image has distinct values."""
    base = x.clamp(0, 1)
    if gray:
        base = (base * torch.tensor(LUMA_WEIGHTS, dtype=x.dtype).view(1, 3, 1, 1)).sum(1, keepdim=True)
    quantised = (base * 255).round() / 255
    levels = 2 ** math.ceil(math.log2(max(2, len(torch.unique(quantised)))))
    noise = torch.poisson(quantised * levels, generator=generator) / levels - quantised
    return x + scale * noise.expand_as(x)


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG round trip (torchvision's libjpeg) of (1, 3, H, W) in [0, 1] at `quality`."""
    from torchvision.io import decode_jpeg, encode_jpeg  # here: importing torchvision takes seconds (torch._dynamo)

    image = (x[0].clamp(0, 1) * 255).round().to(torch.uint8)
    return decode_jpeg(encode_jpeg(image, quality=int(quality)))[None].to(x.dtype) / 255


def _noise(x: torch.Tensor, order: DegradationOrder, rng: np.random.Generator,
           generator: torch.Generator) -> torch.Tensor:
    gray = bool(rng.uniform() < order.gray_noise_prob)
    if rng.uniform() < order.gaussian_noise_prob:
        return gaussian_noise(x, _uniform(rng, order.noise_range) / 255, gray, generator)
    return poisson_noise(x, _uniform(rng, order.poisson_scale_range), gray, generator)


def _resize_factor(order: DegradationOrder, rng: np.random.Generator) -> float:
    direction = _choice(rng, order.resize_probs.model_dump())
    low, high = order.resize_range
    return {"up": lambda: _uniform(rng, (1.0, high)), "down": lambda: _uniform(rng, (low, 1.0)),
            "keep": lambda: 1.0}[direction]()


def _quality(order: DegradationOrder, rng: np.random.Generator) -> int:
    return int(rng.integers(order.jpeg_range[0], order.jpeg_range[1] + 1))


def _blur_resize_noise(x: torch.Tensor, order: DegradationOrder, size: tuple[int, int],
                       rng: np.random.Generator, generator: torch.Generator) -> torch.Tensor:
    """Blur, resize to `size` times a drawn factor, add noise: one order before its JPEG."""
    if rng.uniform() < order.blur_prob:
        x = blur(x, random_kernel(order, rng))
    factor = _resize_factor(order, rng)
    x = resize(x, (int(size[0] * factor), int(size[1] * factor)), INTERPOLATIONS[int(rng.integers(3))])
    return _noise(x, order, rng, generator)


def realistic_degrade(hr: np.ndarray, scale: int, params: RealisticDegradation,
                      rng: np.random.Generator) -> np.ndarray:
    """LR (uint8 h x w x 3, h = H / scale) of an HR image (uint8 H x W x 3) by Real-ESRGAN's two orders."""
    height, width = hr.shape[:2]
    if height % scale or width % scale:
        raise ValueError(f"image size {height}x{width} is not divisible by scale {scale}")
    generator = torch.Generator().manual_seed(int(rng.integers(2**63)))
    x = torch.from_numpy(np.ascontiguousarray(hr.transpose(2, 0, 1)))[None].float() / 255
    lr_size = (height // scale, width // scale)
    x = jpeg(_blur_resize_noise(x, params.first, (height, width), rng, generator), _quality(params.first, rng))
    # The second order resizes relative to the LR size and ends, in a random order, with the resize back to it,
    # the final sinc filter and its JPEG, as in Real-ESRGAN.
    x = _blur_resize_noise(x, params.second, lr_size, rng, generator)
    cutoff = _uniform(rng, (math.pi / 3, math.pi))
    final = sinc_kernel(_odd_size(rng, params.first.kernel_size), cutoff) \
        if rng.uniform() < params.final_sinc_prob else None
    quality = _quality(params.second, rng)
    mode = INTERPOLATIONS[int(rng.integers(3))]

    def resize_and_sinc(y: torch.Tensor) -> torch.Tensor:
        y = resize(y, lr_size, mode)
        return blur(y, final) if final is not None else y

    if rng.uniform() < 0.5:
        x = jpeg(resize_and_sinc(x), quality)
    else:
        x = resize_and_sinc(jpeg(x, quality))
    return (x[0] * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def degraded_pair(region: np.ndarray, scale: int, params: RealisticDegradation,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(lq, gt) of an HR crop with `params.margin` pixels around it: the realistic LR of the whole region, both cut
    to the crop, so that no blur kernel or resize sees the crop's edge."""
    return cut_margin(realistic_degrade(region, scale, params, rng), params.margin // scale), \
        cut_margin(region, params.margin)


def make_lr(degradation: str, realistic: RealisticDegradation):
    """The (hr, scale, rng) -> lr function of a `data.degradation` choice."""
    if degradation == "bicubic":
        return bicubic_lr
    if degradation == "realistic":
        return lambda hr, scale, rng: realistic_degrade(hr, scale, realistic, rng)
    raise ValueError(f"unknown degradation {degradation!r}")
