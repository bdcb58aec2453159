"""The sample images evaluate keeps for the figures, and the regions they cover.

A sample folder holds lr.png, hr.png, one <method>.png per method (HR-sized) and, per model, ur_<model>.png:
the model applied to the HR image itself ("UR"). A UR covers only the centre of HR (UR_REGION of its shorter
side, a square): applied to the whole HR image, a x4 model makes an output 16 times HR's area, and computing it
took most of the evaluate stage's time, for a picture whose point is the detail in the zoomed region.
"""

from __future__ import annotations

UR_REGION = 0.5


def centre_box(height: int, width: int, fraction: float) -> tuple[int, int, int]:
    """(top, left, side) of a centred square covering `fraction` of the shorter side (at least 4 px)."""
    side = max(4, int(min(height, width) * fraction))
    return (height - side) // 2, (width - side) // 2, side


def ur_box(height: int, width: int) -> tuple[int, int, int]:
    """The region of an HR image of this size that its URs cover."""
    return centre_box(height, width, UR_REGION)
