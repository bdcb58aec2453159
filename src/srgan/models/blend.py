"""Network interpolation (ESRGAN, Wang et al. 2018): one dial from a faithful generator to a sharp one.

theta = (1 - alpha) * theta_faithful + alpha * theta_sharp, parameter by parameter. It needs two generators of one
architecture, as an SRGAN and the SRResNet it was fine-tuned from are.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from srgan.errors import SrganError
from srgan.models.generator import Generator
from srgan.models.io import load_generator
from srgan.models.norm import exact_spectral_vectors


def check_alpha(alpha: float, key: str = "alpha") -> None:
    if not 0.0 <= alpha <= 1.0:
        raise SrganError(f"{key} {alpha} must lie in [0, 1]: 0 is the faithful model, 1 the sharp one")


def blend(faithful: Generator, sharp: Generator, alpha: float,
          names: tuple[str, str] = ("the faithful model", "the sharp model")) -> Generator:
    """A new generator whose floating-point parameters and buffers are (1 - alpha) * faithful + alpha * sharp,
    but for a spectral norm's vectors, which are the blended weight's own (exact_spectral_vectors); integer buffers
    (batch-norm step counts) are the sharp model's."""
    check_alpha(alpha)
    if faithful.arch != sharp.arch:
        differences = ", ".join(f"{key} {faithful.arch.get(key)} vs {sharp.arch.get(key)}"
                                for key in sorted(set(faithful.arch) | set(sharp.arch))
                                if faithful.arch.get(key) != sharp.arch.get(key))
        raise SrganError(f"{names[0]} and {names[1]} have different architectures ({differences}); blending needs "
                         "two models of one architecture, such as an SRGAN and the SRResNet it started from")
    ends = faithful.state_dict()
    state = {name: (1 - alpha) * ends[name] + alpha * value if value.is_floating_point() else value
             for name, value in sharp.state_dict().items()}
    if 0 < alpha < 1:
        exact_spectral_vectors(state)
    blended = copy.deepcopy(sharp)
    blended.load_state_dict(state)
    return blended.eval()


def load_blend(sharp: Path, faithful: Path, alpha: float, device: torch.device | str = "cpu") -> Generator:
    """The blend of two model files at `alpha` (1: `sharp` itself, 0: `faithful`)."""
    check_alpha(alpha, "--alpha")
    sharp_model, _ = load_generator(sharp, device)
    faithful_model, _ = load_generator(faithful, device)
    return blend(faithful_model, sharp_model, alpha, names=(str(faithful), str(sharp)))
