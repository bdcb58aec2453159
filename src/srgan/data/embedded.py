"""The offline default: photographs that scikit-image ships, split into training and held-out images.

The split is fixed by name. Held out: astronaut, chelsea and coffee (colour photographs of a face,
fur and a still life). Training: every other shipped photograph or texture, grayscale ones as RGB.
`cat` (a copy of chelsea) and the right view of the motorcycle stereo pair (near-identical to the
left one) are left out so that no held-out image has a twin in training.
"""

from __future__ import annotations

import numpy as np
from skimage import data as skdata

EVAL_IMAGES = ("astronaut", "chelsea", "coffee")
TRAIN_IMAGES = (
    "rocket", "camera", "hubble_deep_field", "immunohistochemistry", "retina", "motorcycle",
    "brick", "grass", "gravel", "coins", "moon", "page", "text",
)


def _load(name: str) -> np.ndarray:
    image = skdata.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skdata, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))


def skimage_photos(split: str) -> dict[str, np.ndarray]:
    """{name: HxWx3 uint8} for split 'train' or 'eval'."""
    names = {"train": TRAIN_IMAGES, "eval": EVAL_IMAGES}[split]
    return {name: _load(name) for name in names}
