"""The sample images evaluate keeps for the figures, and the regions they cover.

A sample folder holds lr.png, hr.png, one <method>.png per method (HR-sized) and, per model, ur_<model>.png:
the model applied to the HR image itself ("UR"). A UR covers only the centre of HR (UR_REGION of its shorter
side, a square): applied to the whole HR image, a x4 model makes an output 16 times HR's area, and computing it
took most of the evaluate stage's time, for a picture whose point is the detail in the zoomed region.
"""

from __future__ import annotations

UR_REGION = 0.5


def ur_box(height: int, width: int) -> tuple[int, int, int]:
    """(top, left, side) of the region of an HR image of this size that its URs cover: a centred square."""
    side = max(1, int(min(height, width) * UR_REGION))
    return (height - side) // 2, (width - side) // 2, side
