"""Reading any image a user has as RGB uint8, and writing PNGs atomically.

This module is the one place that limits the size of the images read: Pillow's own global check
(`Image.MAX_IMAGE_PIXELS`, a raw DecompressionBombError) is switched off here, and every read checks
width x height from the header, before decoding anything, against `max_pixels`.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import ExifTags, Image, ImageCms, UnidentifiedImageError

from srgan.atomic import atomic_path
from srgan.errors import SrganError, grouped

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".tif", ".tiff", ".webp", ".avif", ".ppm", ".pgm",
                  ".pbm", ".pnm", ".gif", ".apng", ".tga"}  # photos, scans and screenshots Pillow reads
SKIPPED_FOLDERS = {"__MACOSX"}  # a zip's copies of macOS metadata, not images
log = logging.getLogger(__name__)
DEFAULT_MAX_PIXELS = 2 * 89_478_485  # Pillow's own error threshold: a decompression bomb, not a photo
UPRIGHT = {  # EXIF orientation -> the transpose that shows the image as the camera meant it
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
FLOAT_SLACK = 0.1  # how far outside 0..1 a float image's values are clipped (resampling's ringing), not refused
ROTATING_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that turn the image by 90 degrees
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))

Image.MAX_IMAGE_PIXELS = None  # the limit is checked below, with a message naming the file and the fix


def read_image(path: Path | str, max_pixels: int | None = DEFAULT_MAX_PIXELS, *,
               colour_manage: bool = True) -> np.ndarray:
    """Load an image as HxWx3 uint8 sRGB, EXIF orientation applied.

    An embedded colour profile (Display P3 from phones, Adobe RGB, a CMYK press profile) is converted to sRGB,
    which is what every output assumes; with `colour_manage` False the stored values are kept, as the
    literature's metric protocol reads them (MATLAB, OpenCV and BasicSR ignore profiles). Grayscale is repeated
    to RGB, alpha is composited over white, palettes are expanded, 16- and 32-bit integer images are scaled to 8
    bits, CMYK is converted.
    Images of more than `max_pixels` pixels (0 or None: no limit) are refused before decoding.
    """
    with _open_image(path, max_pixels) as image:
        image.load()
        if getattr(image, "n_frames", 1) > 1 and image.format != "MPO":  # MPO: a camera JPEG with its preview
            log.warning("%s: %d frames (an animation or a multi-page file): only the first is read", path,
                        image.n_frames)
        orientation = _orientation(image)
        rgb = to_rgb8(_to_srgb(image) if colour_manage else image, path)
    return np.ascontiguousarray(np.asarray(Image.fromarray(rgb).transpose(UPRIGHT[orientation]))) \
        if orientation in UPRIGHT else rgb


def image_size(path: Path | str, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(height, width) that read_image will return, from the header alone (a 90-degree EXIF turn swaps them).

    Raises SrganError for unreadable files and for images of more than `max_pixels` pixels.
    """
    with _open_image(path, max_pixels) as image:
        width, height = image.size
        orientation = _orientation(image)
    return (width, height) if orientation in ROTATING_ORIENTATIONS else (height, width)


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation, 1 (as stored) when there is none or the EXIF block cannot be parsed: a broken EXIF
    (cameras and editors write them) says nothing about the pixels, which are still worth upscaling."""
    try:
        # Image.getexif reads only the header; PNG's own override would decode the whole image to look further.
        orientation = Image.Image.getexif(image).get(ExifTags.Base.Orientation, 1)
    except (struct.error, SyntaxError, ValueError, TypeError, KeyError, IndexError, OSError):
        return 1
    return orientation if orientation in UPRIGHT else 1


def _to_srgb(image: Image.Image) -> Image.Image:
    """The image in sRGB when it embeds another colour profile; as it is when it has none, when the profile
    cannot be read (a damaged profile is a reason to guess sRGB, not to drop the photo) or its mode has none."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if source.profile.profile_description and "srgb" in source.profile.profile_description.lower():
            return image  # the usual case: nothing to convert, and the exact bytes kept
        return ImageCms.profileToProfile(image, source, SRGB, outputMode="RGBA" if image.mode == "RGBA" else "RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image


def check_pixels(path: Path | str, width: int, height: int, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> None:
    """Refuse an image larger than `max_pixels` (0 or None: no limit), with the way to raise the limit."""
    if max_pixels and width * height > max_pixels:
        raise SrganError(f"{path}: {width}x{height} image has {width * height} pixels, more than the limit of "
                         f"{max_pixels}; raise the limit (data.max_pixels in params.yaml, --max-pixels for upscale) "
                         f"if you really have images this large")


@contextmanager
def _open_image(path: Path | str, max_pixels: int | None) -> Iterator[Image.Image]:
    """The image with only its header read and its size checked; any read error becomes an SrganError."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            # Pillow's, naming no file, in the middle of a progress bar; the image is read as stored (_orientation)
            warnings.filterwarnings("ignore", message="Corrupt EXIF data")
            with Image.open(path) as image:
                check_pixels(path, *image.size, max_pixels)
                yield image
    except FileNotFoundError:
        raise SrganError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error, RuntimeError) as err:
        # RuntimeError: what Pillow's AVIF decoder raises for a damaged file
        raise SrganError(f"{path}: cannot read this image ({err}); re-export it as PNG or JPEG, or remove it") from None


def to_rgb8(image: Image.Image, path: Path | str = "image") -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return _gray_to_rgb(_wide_to_uint8(np.asarray(image), 65535))
    if mode == "I":  # 16-bit values (Pillow scales a PGM's to 0..65535); a 32-bit TIFF may hold 8-bit ones
        values = np.asarray(image)
        eight_bit = image.format == "TIFF" and values.size and values.max() <= 255  # read as 16-bit: black
        return _gray_to_rgb(_wide_to_uint8(values, 255 if eight_bit else 65535))
    if mode == "F":
        return _gray_to_rgb((_unit_range(np.asarray(image), path) * 255).round().astype(np.uint8))
    if mode == "P":
        image = image.convert("RGBA")
    if mode in ("LA", "PA", "RGBa", "La") or image.mode == "RGBA" or "transparency" in image.info:
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def no_images(folder: Path, left_out: dict[str, str]) -> SrganError:
    """The error for a folder with no image to take, with what was left out of it and why."""
    mine = {path: why for path, why in left_out.items() if Path(path).is_relative_to(folder)}
    return SrganError(f"{folder}: no images in this folder (looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
                      + (f"; left out {'; '.join(grouped(mine))}" if mine else ""))


def _unit_range(array: np.ndarray, path: Path | str) -> np.ndarray:
    """A floating-point image's values clipped to 0..1, where a float image's values lie, a little overshoot aside.
    Values far outside (0..255, raw sensor counts) have no one right reading: clipped, they would give a white or
    black image without a word."""
    if not np.isfinite(array).all() or array.min() < -FLOAT_SLACK or array.max() > 1 + FLOAT_SLACK:
        raise SrganError(f"{path}: a floating-point image with values from {np.nanmin(array):g} to "
                         f"{np.nanmax(array):g}; images in floating point are read as 0..1: rescale it to 0..1, "
                         "or save it as an 8- or 16-bit PNG")
    return np.clip(array, 0, 1)


def _wide_to_uint8(array: np.ndarray, maximum: int) -> np.ndarray:
    return (np.clip(array.astype(np.float64), 0, maximum) * (255.0 / maximum)).round().astype(np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


PNG_COMPRESSION = 1  # zlib level: 3x faster to write than Pillow's default 6, files about 10% larger


def write_png(path: Path | str, image: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG", compress_level=PNG_COMPRESSION)


def list_images(folder: Path | str, left_out: dict[str, str] | None = None) -> list[Path]:
    """Image files of a folder, recursively, in a stable order. Hidden files and folders (.thumbnails, macOS's
    ._photo.jpg) and __MACOSX are not images of the set. With `left_out`, what was not taken is added to it with
    why: hidden folders and hidden image files, files of other types, links to folders (not followed: a link can
    loop) and broken links; hidden files of other types (.DS_Store) are no one's images and go unsaid."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SrganError(f"{folder}: not a folder of images")
    found, skipped = [], {}
    for root, dirs, files in os.walk(folder):
        for name in list(dirs):
            path = Path(root, name)
            if name.startswith(".") or name in SKIPPED_FOLDERS:
                dirs.remove(name)
                skipped[str(path)] = "a hidden or system folder, not read"
            elif path.is_symlink():
                skipped[str(path)] = "a link to a folder, not followed; put its images in a folder of their own"
        for name in files:
            path = Path(root, name)
            suffix = path.suffix.lower()
            if name.startswith("."):
                if suffix in IMAGE_SUFFIXES:
                    skipped[str(path)] = "a hidden file, not read; rename it without the leading '.' to use it"
            elif suffix not in IMAGE_SUFFIXES:
                skipped[str(path)] = (f"not an image type this reads ({suffix or 'no suffix'}); convert it to PNG or "
                                      "JPEG to use it")
            elif path.is_file():
                found.append(path)
            else:
                skipped[str(path)] = "a broken link"
    if left_out is not None:
        left_out.update(sorted(skipped.items()))
    return sorted(found)
