"""LR/HR pairs: seeded random training crops written to disk in bounded memory, and whole evaluation images."""

from __future__ import annotations

import itertools
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from srgan.atomic import atomic_path
from srgan.data.pairs import fit
from srgan.data.resize import degrade, imresize
from srgan.errors import SrganError
from srgan.imageio import DEFAULT_MAX_PIXELS, image_size, read_image
from srgan.metrics import smallest_side
from srgan.names import path_labels


@dataclass
class CropReport:
    """What preparation did, for the stage's output: counts and every image it skipped, with why."""
    images: int = 0
    crops: int = 0
    skipped: dict[str, str] = field(default_factory=dict)

    def skip(self, path: Path, error: SrganError) -> None:
        """Record a skipped image with why: the error's message, less the path it starts with."""
        self.skipped[str(path)] = str(error).removeprefix(f"{path}: ")


FACE_SIZE = 128
DRAW = "_draw"  # '<name>_draw<k>': the k-th further LR draw of an evaluation image
Transform = Callable[[np.ndarray], np.ndarray]
MakeLr = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]  # (hr, scale, rng) -> lr


def bicubic_lr(hr: np.ndarray, scale: int, rng: np.random.Generator) -> np.ndarray:
    """The default degradation, which draws nothing from `rng`."""
    return degrade(hr, scale)


def augment(crop: np.ndarray, rng: np.random.Generator, mode: str = "dihedral") -> np.ndarray:
    """A random one of the eight flips/rotations of a square crop ('dihedral'), a random
    left-right flip ('flips': for upright subjects such as faces), or the crop itself ('none')."""
    return augment_all([crop], rng, mode)[0]


def augment_all(crops: list[np.ndarray], rng: np.random.Generator, mode: str = "dihedral") -> list[np.ndarray]:
    """The same random transform (see augment) of every crop: aligned LR and HR crops stay aligned."""
    turns = int(rng.integers(4)) if mode == "dihedral" else 0
    flip = bool(rng.integers(2)) if mode in ("dihedral", "flips") else False
    return [np.ascontiguousarray(np.rot90(crop, k=turns)[:, ::-1] if flip else np.rot90(crop, k=turns))
            for crop in crops]


def aligned_crops(lr: np.ndarray, hr: np.ndarray, size: int, scale: int, count: int, rng: np.random.Generator,
                  mode: str = "dihedral") -> list[tuple[np.ndarray, np.ndarray]]:
    """`count` random (HR size x size, LR size/scale a side) crop pairs of the same region, HR = scale x LR."""
    side = size // scale
    pairs = []
    for _ in range(count):
        top = int(rng.integers(lr.shape[0] - side + 1))
        left = int(rng.integers(lr.shape[1] - side + 1))
        hr_crop = hr[top * scale:(top + side) * scale, left * scale:(left + side) * scale]
        lr_crop, hr_crop = augment_all([lr[top:top + side, left:left + side], hr_crop], rng, mode)
        pairs.append((hr_crop, lr_crop))
    return pairs


def random_crops(image: np.ndarray, size: int, count: int, rng: np.random.Generator,
                 mode: str = "dihedral") -> list[np.ndarray]:
    height, width = image.shape[:2]
    crops = []
    for _ in range(count):
        top = int(rng.integers(height - size + 1))
        left = int(rng.integers(width - size + 1))
        crops.append(augment(image[top:top + size, left:left + size], rng, mode))
    return crops


def cut_margin(image: np.ndarray, margin: int) -> np.ndarray:
    """`image` without `margin` pixels on every side."""
    return image[margin:image.shape[0] - margin, margin:image.shape[1] - margin] if margin else image


def face_crop(image: np.ndarray, size: int = FACE_SIZE) -> np.ndarray:
    """The usual face preprocessing: the centred square of an aligned face, resized to size x size."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = image[top:top + side, left:left + side].copy()
    if side == size:
        return square
    tensor = torch.from_numpy(square.transpose(2, 0, 1)).double() / 255.0
    return (imresize(tensor, (size, size)) * 255.0).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()


def _usable_size(path: Path, transform: Transform | None, max_pixels: int) -> tuple[int, int]:
    """(height, width) after `transform`, from the header alone; SrganError if unreadable or too many pixels."""
    size = image_size(path, max_pixels)
    return (FACE_SIZE, FACE_SIZE) if transform is face_crop else size


def write_training_crops(paths: list[Path], out_dir: Path, *, hr_size: int, scale: int, crops_per_image: int,
                         seed: int, augment: str = "dihedral", transform: Transform | None = None,
                         max_pixels: int = DEFAULT_MAX_PIXELS, make_lr: MakeLr = bicubic_lr,
                         lr_paths: list[Path] | None = None, margin: int = 0) -> CropReport:
    """Write train_hr.npy (N, hr, hr, 3) and train_lr.npy (N, hr/s, hr/s, 3), one image in memory at a time,
    and train_ids.npy (N,): the index of the image each crop comes from (for unpaired sampling).

    `transform` (e.g. face_crop) is applied to each image before cropping. `make_lr` draws from its own
    stream of the seed, so a random degradation leaves the crops where the bicubic one puts them. With `lr_paths`
    (real pairs: lr_paths[i] is the LR image of paths[i]) the crops are aligned crops of both, and nothing is degraded.

    With `margin` (a multiple of `scale`), also train_hr_margin.npy (N, hr + 2 margin, hr + 2 margin, 3): each HR
    crop with `margin` pixels of its image around it (reflected beyond the image's edge), which training degrades
    afresh; LR is then `make_lr` of that whole region, cut to the crop. The crops stay where they are without it.
    """
    if not paths:
        raise SrganError("no training images found; check data.train and run the download stage")
    if margin % scale or (margin and lr_paths is not None):
        raise ValueError(f"a margin of {margin} needs a multiple of the scale {scale} and no real pairs")
    report = CropReport()
    usable = []
    for path in paths:
        try:
            size = _usable_size(path, transform, max_pixels)
        except SrganError as err:
            report.skip(path, err)
            continue
        if min(size) < hr_size:
            report.skipped[str(path)] = (f"smaller than the {hr_size}px crop ({size[1]}x{size[0]}); lower "
                                         "data.hr_size to use it")
        else:
            usable.append(path)
    if not usable:
        raise SrganError(f"none of the {len(paths)} training images is usable{_why(report.skipped)}")
    total = len(usable) * crops_per_image
    lr_size = hr_size // scale
    side = hr_size + 2 * margin
    shapes = {"train_hr.npy": hr_size, "train_lr.npy": lr_size} | ({"train_hr_margin.npy": side} if margin else {})
    out_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as files:
        temps = {name: files.enter_context(atomic_path(out_dir / name)) for name in shapes}
        arrays = {name: np.lib.format.open_memmap(temps[name], mode="w+", dtype=np.uint8, shape=(total, n, n, 3))
                  for name, n in shapes.items()}
        written, ids = 0, []
        partner = dict(zip(paths, lr_paths or [], strict=False))
        for index, path in enumerate(tqdm(usable, desc="training crops", unit="image")):
            try:
                image = read_image(path, max_pixels)
            except SrganError as err:
                report.skip(path, err)
                continue
            if transform is not None:
                image = transform(image)
            rng, lr_rng = np.random.default_rng([seed, index]), np.random.default_rng([seed, index, 1])
            if lr_paths is None:
                padded = image
                if margin:
                    padded = np.pad(image, ((margin, margin), (margin, margin), (0, 0)), mode="reflect")
                crops = ((region, make_lr(region, scale, lr_rng))
                         for region in random_crops(padded, side, crops_per_image, rng, augment))
            else:
                try:
                    lr, image = fit(read_image(partner[path], max_pixels), image, scale, str(path))
                except SrganError as err:
                    report.skip(path, err)
                    continue
                if min(lr.shape[:2]) < lr_size:
                    report.skipped[str(path)] = f"smaller than the {hr_size}px crop once fitted to its LR image"
                    continue
                crops = aligned_crops(lr, image, hr_size, scale, crops_per_image, rng, augment)
            for region, lr_crop in crops:
                arrays["train_hr.npy"][written] = cut_margin(region, margin)
                arrays["train_lr.npy"][written] = cut_margin(lr_crop, margin // scale)
                if margin:
                    arrays["train_hr_margin.npy"][written] = region
                ids.append(report.images)
                written += 1
            report.images += 1
        while arrays:  # flushed and closed before the files are cut or renamed
            arrays.popitem()[1].flush()
        if written == 0:  # raised inside the block: the outputs of an earlier run stay as they were
            raise SrganError(f"no training crop could be made from {len(paths)} images{_why(report.skipped)}")
        if written < total:  # an image failed to decode after its header read fine
            for tmp in temps.values():
                _truncate(tmp, written)
        with atomic_path(out_dir / "train_ids.npy") as ids_tmp:
            np.save(ids_tmp, np.array(ids, dtype=np.int32))
    if not margin:
        (out_dir / "train_hr_margin.npy").unlink(missing_ok=True)  # left by an earlier run with a margin
    report.crops = written
    return report


def _why(skipped: dict[str, str], shown: int = 3) -> str:
    """The first skipped images and why, and how many more, for an error that nothing was left."""
    first = list(skipped.items())[:shown]
    more = len(skipped) - len(first)
    return ("; skipped " + "; ".join(f"{path}: {why}" for path, why in first) if first else "") + \
        (f"; and {more} more" if more else "")


def _truncate(path: Path, rows: int) -> None:
    array = np.load(path, mmap_mode="r")[:rows]
    np.save(path.with_suffix(".cut.npy"), array)
    path.with_suffix(".cut.npy").replace(path)


def crop_to_scale(image: np.ndarray, scale: int) -> np.ndarray:
    height, width = image.shape[:2]
    return np.ascontiguousarray(image[: height - height % scale, : width - width % scale])


def folder_name(stem: str, taken: set[str]) -> str:
    """`stem` as the name of a folder inside another: leading dots ('.', '..', hidden names) and path separators
    become '_', and a name already taken gets more '_' until it is unique."""
    bare = stem.lstrip(".")
    name = ("_" * (len(stem) - len(bare)) + bare).replace("/", "_").replace("\\", "_")
    while name in taken:
        name += "_"
    return name


def draw_names(name: str, draws: int) -> list[str]:
    """The entry names of an evaluation image's further LR draws (1 to draws - 1)."""
    return [f"{name}{DRAW}{draw}" for draw in range(1, draws)]


def write_eval_images(paths: list[Path], out_file: Path, *, scale: int, transform: Transform | None = None,
                      max_pixels: int = DEFAULT_MAX_PIXELS, make_lr: MakeLr = bicubic_lr,
                      seed: int = 0, lr_paths: list[Path] | None = None, draws: int = 1,
                      label: str = "") -> CropReport:
    """One .npz with '<name>/hr' and '<name>/lr' per image: whole images cropped to a multiple of the scale.

    LR is `make_lr` of HR, drawn for each image from (seed, its position in `paths`), or with `lr_paths` (real
    pairs) the given LR image, HR cropped to fit it. With `draws` > 1, draws 1 to draws - 1 are drawn from
    (seed, position, draw) and stored beside it as '<name>/lr_draw<k>'.

    An image is named by its file's stem, where two are alike by its folders below the images' common folder
    and its stem joined with '__' (cam1__x, as a folder source's files are named), then with its suffix. Arrays are
    streamed into the archive one image at a time, so memory stays bounded by one image. `label` names the set in
    the error raised when no image is usable.
    """
    report = CropReport()
    names = path_labels(paths)
    taken: set[str] = set()
    further = draws if lr_paths is None else 1  # a real pair has its one LR image
    with atomic_path(out_file) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for index, path in enumerate(paths):
            name = folder_name(names[path], taken)
            while not taken.isdisjoint(draw_names(name, further)):  # another image's name
                name = folder_name(name + "_", taken)
            try:  # the stored values, as every paper's evaluation reads them, colour profile or not
                image = read_image(path, max_pixels, colour_manage=False)
            except SrganError as err:
                report.skip(path, err)
                continue
            if lr_paths is None:
                hr = crop_to_scale(transform(image) if transform else image, scale)
            else:
                try:
                    lr, hr = fit(read_image(lr_paths[index], max_pixels, colour_manage=False), image, scale,
                                 str(path))
                except SrganError as err:
                    report.skip(path, err)
                    continue
            if min(hr.shape[:2]) < smallest_side(scale):
                report.skipped[str(path)] = (f"too small for x{scale}: {hr.shape[1]}x{hr.shape[0]}, the metrics need "
                                             f"at least {smallest_side(scale)}px a side")
                continue
            if lr_paths is None:
                lr = make_lr(hr, scale, np.random.default_rng([seed, index]))
            arrays = [("hr", hr), ("lr", lr)] + [
                (f"lr{DRAW}{draw}", make_lr(hr, scale, np.random.default_rng([seed, index, draw])))
                for draw in range(1, further)]
            for key, array in arrays:
                with archive.open(f"{name}/{key}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)
            report.images += 1
            taken.update([name, *draw_names(name, further)])
        if not report.images:
            raise SrganError(f"no usable evaluation image among {len(paths)} for {label or out_file.stem}"
                             f"{_why(report.skipped)}")
    return report


def load_eval_images(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{name: (lr, hr)} from a file written by write_eval_images; a further draw k of an image's LR is the entry
    '<name>_draw<k>', with the image's HR. Every image's first draw comes first, then every image's second, and
    so on, so that the first few entries are different images."""
    with np.load(path) as archive:
        keys = set(archive.files)
        names = sorted({key.split("/")[0] for key in keys})
        hr = {name: archive[f"{name}/hr"] for name in names}
        images = {name: (archive[f"{name}/lr"], hr[name]) for name in names}
        for draw in itertools.count(1):
            further = [name for name in names if f"{name}/lr{DRAW}{draw}" in keys]
            if not further:
                return images
            images.update({f"{name}{DRAW}{draw}": (archive[f"{name}/lr{DRAW}{draw}"], hr[name]) for name in further})
