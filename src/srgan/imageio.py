"""Reading any image a user has as RGB uint8, and writing PNGs atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from srgan.atomic import atomic_path
from srgan.errors import SrganError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif"}


def read_image(path: Path | str) -> np.ndarray:
    """Load an image as HxWx3 uint8 RGB, EXIF orientation applied.

    Grayscale is repeated to RGB, alpha is composited over white, palettes are expanded,
    16- and 32-bit integer images are scaled to 8 bits, CMYK is converted.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
            return to_rgb8(image)
    except FileNotFoundError:
        raise SrganError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise SrganError(f"{path}: cannot read this image ({err}); re-export it as PNG or JPEG, or remove it") from None


def to_rgb8(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        return _gray_to_rgb(_wide_to_uint8(np.asarray(image), 65535))
    if mode == "F":
        return _gray_to_rgb((np.clip(np.asarray(image), 0, 1) * 255).round().astype(np.uint8))
    if mode == "P":
        image = image.convert("RGBA")
    if mode in ("LA", "PA", "RGBa", "La") or image.mode == "RGBA" or "transparency" in image.info:
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def _wide_to_uint8(array: np.ndarray, maximum: int) -> np.ndarray:
    return (np.clip(array.astype(np.float64), 0, maximum) * (255.0 / maximum)).round().astype(np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


def write_png(path: Path | str, image: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def list_images(folder: Path | str) -> list[Path]:
    """Image files of a folder, recursively, in a stable order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SrganError(f"{folder}: not a folder of images")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
