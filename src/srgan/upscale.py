"""`upscale`: apply a trained generator to your own images, tiled so any size fits in memory.

    upscale models/srgan.pt photo.jpg plates/ -o upscaled/
    upscale models/srgan.pt --blend models/srresnet.pt --alpha 0.5 photo.jpg -o upscaled/

The scale comes from the model file. Model files are read as weights only: no code in them runs.
Each input becomes <stem>_x<scale>.png; inputs that share a stem (photo.png, photo.jpg) become
photo_png_x4.png and photo_jpg_x4.png, with the parent folder's name in front if that still clashes. An output
folder inside an input folder is left out of that folder's images: a second run does not upscale the first's.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from srgan.allocator import keep_freed_memory
from srgan.devices import pick_device
from srgan.errors import SrganError, grouped
from srgan.imageio import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, list_images, read_image, write_png
from srgan.inference import BATCH, OVERLAP, TILE, overlap_for, upscale_image
from srgan.models.blend import load_blend
from srgan.models.io import ImageGivenAsModel, load_generator
from srgan.names import distinct_labels
from srgan.precision import PRECISIONS

# Below 16 LR pixels most of a tile lies within reach of the zero padding of the generator's 9x9 convolutions,
# so seams show, and the number of tiles (one forward pass each) explodes; 16 still fits any memory.
MIN_TILE = 16


class FileWriteError(SrganError):
    """This output file alone cannot be written (its name is too long, a folder has its name): the next can."""


def check_tiling(tile: int, overlap: int) -> None:
    if tile < MIN_TILE:
        raise SrganError(f"--tile {tile} is too small: use at least {MIN_TILE} (lower values only add seams)")
    if not 0 <= overlap < tile:
        raise SrganError(f"--overlap {overlap} must be at least 0 and smaller than --tile {tile}")


def check_batch(batch: int) -> None:
    if batch < 1:
        raise SrganError(f"--batch {batch} must be at least 1 tile per forward pass")


def check_max_pixels(max_pixels: int) -> None:
    if max_pixels < 0:
        raise SrganError(f"--max-pixels {max_pixels} must be a number of pixels, or 0 for no limit")


def collect_inputs(inputs: list[Path], out_dir: Path | None = None,
                   left_out: dict[str, str] | None = None) -> list[Path]:
    """Files as given and the images inside folders, in order, without duplicates; a folder's images leave out
    those in `out_dir` when it lies inside that folder (the results of an earlier run). The files of a folder that
    are not taken (other types, hidden ones) are added to `left_out`, with why."""
    found: list[Path] = []
    left_out = {} if left_out is None else left_out
    for item in inputs:
        if item.is_dir():
            if out_dir is not None and _same_file_key(out_dir) == _same_file_key(item):
                raise SrganError(f"-o {out_dir} is the input folder {item}: a later run would take this run's results "
                                 f"for inputs; pass -o another folder, e.g. {item / 'upscaled'} (left out of {item})")
            skipped = _earlier_outputs(out_dir, item)
            found += [path for path in list_images(item, left_out)
                      if not (skipped and _same_file_key(path).startswith(skipped))]
        elif item.exists():
            found.append(item)
        else:
            raise SrganError(f"{item}: no such file or folder")
    if not found:
        left = f"; left out {'; '.join(grouped(left_out))}" if left_out else ""
        raise SrganError(f"no images found in {', '.join(map(str, inputs))} "
                         f"(looked for {', '.join(sorted(IMAGE_SUFFIXES))}){left}")
    unique: dict[str, Path] = {}
    for path in found:
        unique.setdefault(_same_file_key(path), path)
    return list(unique.values())


def _same_file_key(path: Path) -> str:
    """`x.png`, `./x.png`, `sub/../x.png` and a link to x.png (or through a linked folder) name the same file."""
    return os.path.realpath(path)


def _earlier_outputs(out_dir: Path | None, scanned: Path) -> str | None:
    """The real path (with a trailing separator) of the files to leave out when listing `scanned`: those in
    `out_dir`."""
    return None if out_dir is None else _same_file_key(out_dir) + os.sep


def output_names(sources: list[Path], scale: int) -> dict[Path, str]:
    """A distinct, predictable output file name for every input, in the same order.

    <stem>_x<scale>.png when the stem is unique; on a clash the suffix is added (photo_png), then the
    parent folder's name (a_photo_png), then a number (a_photo_png_2). Clashes ignore case, so the
    names stay distinct on case-insensitive disks too.
    """
    labels = distinct_labels(sources, (lambda source: source.stem, _with_suffix, _with_parent))
    return {source: f"{label}_x{scale}.png" for source, label in labels.items()}


def _with_suffix(source: Path) -> str:
    return f"{source.stem}_{source.suffix.lstrip('.')}"


def _with_parent(source: Path) -> str:
    parent = Path(os.path.normpath(os.path.abspath(source))).parent.name
    return f"{parent}_{_with_suffix(source)}" if parent else _with_suffix(source)


def plan_outputs(sources: list[Path], out_dir: Path, scale: int) -> dict[Path, Path]:
    """{input: output file}; refuses a plan that would overwrite one of the inputs."""
    targets = {source: out_dir / name for source, name in output_names(sources, scale).items()}
    inputs = {_same_file_key(source) for source in sources}
    for target in targets.values():
        if _same_file_key(target) in inputs:
            raise SrganError(f"writing {target} would overwrite that input image; pass -o another folder")
    return targets


def prepare_out_dir(out_dir: Path) -> None:
    """Create the output folder and try writing there, so a bad -o fails before any work."""
    if out_dir.exists() and not out_dir.is_dir():
        raise SrganError(f"{out_dir} is a file, not a folder; pass -o a folder for the upscaled images")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as err:
        raise SrganError(write_error(out_dir, err)) from None


def write_error(path: Path, err: OSError) -> str:
    """What went wrong writing `path`, and what to do about it."""
    if err.errno == errno.ENOSPC:
        return f"no space left on {path}; free some space or pass -o a folder on another disk"
    if err.errno in (errno.EACCES, errno.EPERM):
        return f"cannot write to {path}: permission denied; pass -o a folder you can write to"
    if err.errno == errno.EROFS:
        return f"cannot write to {path}: read-only file system; pass -o a folder on a writable disk"
    if err.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"cannot create {path}: part of that path is a file, not a folder; pass -o a folder"
    if err.errno == errno.EISDIR:
        return f"cannot write {path}: a folder has that name; rename or remove it, or pass -o another folder"
    if err.errno == errno.ENAMETOOLONG:
        return f"cannot write {path}: the name is too long for this file system; give the input a shorter name"
    return f"cannot write to {path}: {err.strerror or err}; pass -o another folder"


def save_output(target: Path, image: np.ndarray) -> None:
    """Write one result. A FileWriteError concerns this file alone; any other error (a full disk, a folder made
    read-only) would fail every later file the same way."""
    try:
        write_png(target, image)
    except OSError as err:
        error = FileWriteError if err.errno in (errno.EISDIR, errno.ENAMETOOLONG) else SrganError
        raise error(write_error(target, err)) from None


def upscale_files(model: Path, inputs: list[Path], out_dir: Path, *, device: str = "auto", tile: int = TILE,
                  overlap: int | None = None, max_pixels: int = DEFAULT_MAX_PIXELS, precision: str = "auto",
                  batch: int = BATCH, blend: Path | None = None, alpha: float | None = None,
                  left_out: dict[str, str] | None = None) -> tuple[list[Path], dict[Path, str]]:
    """Upscale every input image; returns (written files, {input: error}) so one bad image stops nothing else.

    Bad arguments, a bad device, missing inputs, a bad model and an unusable output folder all fail before
    the first image is read; the output folder is created only once everything else is known to be fine. A
    write error that every later file would meet too (a full disk) ends the run, reported with the others.
    With `blend`, the model is (1 - alpha) * blend + alpha * model (network interpolation; alpha 1: the model).
    `overlap` defaults to a quarter of a small tile, at most OVERLAP. The files of input folders that are no
    images to upscale are added to `left_out`, with why.
    """
    if alpha is not None and blend is None:
        raise SrganError("--alpha needs --blend: the model to blend with, e.g. --blend models/srresnet.pt")
    overlap = overlap_for(tile) if overlap is None else overlap
    check_tiling(tile, overlap)
    check_batch(batch)
    check_max_pixels(max_pixels)
    torch_device = pick_device(device, key="--device")
    sources = collect_inputs(inputs, out_dir, left_out)
    try:
        generator = load_blend(model, blend, 0.5 if alpha is None else alpha, torch_device) if blend \
            else load_generator(model, torch_device)[0]
    except ImageGivenAsModel as err:
        if err.path != Path(model):  # the --blend model
            raise
        raise SrganError(f"{err}; the model comes first: upscale models/srgan.pt {Path(model).name} -o "
                         "upscaled/") from None
    targets = plan_outputs(sources, out_dir, generator.scale)
    prepare_out_dir(out_dir)
    written, failed = [], {}
    with tqdm(sources, desc=f"upscale x{generator.scale}", unit="image") as progress:
        for index, source in enumerate(progress):
            try:
                image = read_image(source, max_pixels)
            except SrganError as err:
                failed[source] = str(err)
                continue
            result = upscale_image(generator, image, tile=tile, overlap=overlap, precision=precision, batch=batch)
            try:
                save_output(targets[source], result)
            except FileWriteError as err:
                failed[source] = str(err)
                continue
            except SrganError as err:  # the disk or the folder: every later image would fail the same way
                left = len(sources) - index - 1
                failed[source] = str(err) + (f"; stopped there, {left} more image(s) not upscaled" if left else "")
                break
            written.append(targets[source])
    return written, failed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="upscale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="a trained generator, e.g. models/srgan.pt")
    parser.add_argument("inputs", type=Path, nargs="+", help="image files or folders of images")
    parser.add_argument("-o", "--out", type=Path, default=Path("upscaled"), help="output folder (default: upscaled)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    parser.add_argument("--tile", type=int, default=TILE,
                        help=f"LR tile side, at least {MIN_TILE}; lower it to use less memory")
    parser.add_argument("--overlap", type=int,
                        help=f"LR pixels shared by neighbouring tiles, 0 or more (default {OVERLAP}, or a quarter of "
                             "a smaller --tile)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="inference precision (default auto: bf16 where the CPU or GPU computes it natively, "
                             "several times faster there; fp32 elsewhere, where bf16 is emulated and slow)")
    parser.add_argument("--batch", type=int, default=BATCH,
                        help="tiles per forward pass (more: more memory; it can fill a GPU, it does not speed a CPU)")
    parser.add_argument("--blend", type=Path, help="a second model of the same architecture (e.g. models/srresnet.pt) "
                        "to interpolate with: a dial from faithful (--alpha 0) to the model itself (--alpha 1)")
    parser.add_argument("--alpha", type=float, help="with --blend, the weight of the model (default 0.5)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help=f"skip inputs larger than this many pixels (default {DEFAULT_MAX_PIXELS}; 0: no limit)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keep_freed_memory()
    left_out = {}
    try:
        written, failed = upscale_files(args.model, args.inputs, args.out, device=args.device, tile=args.tile,
                                        overlap=args.overlap, max_pixels=args.max_pixels, precision=args.precision,
                                        batch=args.batch, blend=args.blend, alpha=args.alpha, left_out=left_out)
    except SrganError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for line in grouped(left_out):
        print(f"left out {line}", file=sys.stderr)
    for why in failed.values():
        print(f"error: {why}", file=sys.stderr)
    print(f"wrote {len(written)} image(s) to {args.out}" + (f"; {len(failed)} failed" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
