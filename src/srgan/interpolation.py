"""Names of the SRResNet-to-SRGAN blends that evaluation adds (evaluate.interpolation), and their alphas."""

from __future__ import annotations

PREFIX = "blend_"
ENDS = {"srresnet": 0.0, "srgan": 1.0}  # the blends run from SRResNet (alpha 0) to SRGAN (alpha 1)


def blend_name(alpha: float) -> str:
    """blend_0.25: the shortest digits that give `alpha` back, so that two alphas never share a name."""
    return f"{PREFIX}{float(alpha)!r}"


def is_blend(method: str) -> bool:
    return method.startswith(PREFIX)


def alpha_of(method: str) -> float | None:
    """A method's place on the SRResNet-to-SRGAN dial, or None when it is not on it."""
    if is_blend(method):
        return float(method.removeprefix(PREFIX))
    return ENDS.get(method)


def display(method: str) -> str:
    return f"Blend α={method.removeprefix(PREFIX)}"
