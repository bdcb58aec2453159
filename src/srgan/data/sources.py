"""Image sources: each becomes folders of images under data/raw/<source>/{train,eval}/."""

from __future__ import annotations

from pathlib import Path

from srgan.data.embedded import skimage_photos
from srgan.errors import SrganError
from srgan.imageio import list_images, write_png

SOURCES = ("skimage",)


def check_source(name: str, key: str) -> None:
    if name not in SOURCES:
        raise SrganError(f"params.yaml: {key}: unknown source '{name}'; use one of {', '.join(SOURCES)}")


def split_folder(raw_dir: Path, source: str, split: str) -> Path:
    return raw_dir / source / split


def materialise(source: str, raw_dir: Path) -> Path:
    """Make data/raw/<source>/train and /eval exist and be complete; return data/raw/<source>."""
    if source == "skimage":
        for split in ("train", "eval"):
            for name, image in skimage_photos(split).items():
                write_png(split_folder(raw_dir, source, split) / f"{name}.png", image)
        return raw_dir / source
    raise SrganError(f"unknown source '{source}'; use one of {', '.join(SOURCES)}")


def images_of(raw_dir: Path, source: str, split: str) -> list[Path]:
    folder = split_folder(raw_dir, source, split)
    if not folder.is_dir():
        raise SrganError(f"{folder}: missing; run the download stage (dvc repro download)")
    return list_images(folder)
