"""`upscale`: apply a trained generator to your own images, tiled so any size fits in memory.

    upscale models/srgan.pt photo.jpg plates/ -o upscaled/

The scale comes from the model file. Model files are read as weights only: no code in them runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from srgan.errors import SrganError
from srgan.imageio import IMAGE_SUFFIXES, list_images, read_image, write_png
from srgan.inference import upscale_image
from srgan.models.io import load_generator
from srgan.train.common import pick_device


def collect_inputs(inputs: list[Path]) -> list[Path]:
    """Files as given and the images inside folders, in order, without duplicates."""
    found: list[Path] = []
    for item in inputs:
        if item.is_dir():
            found += list_images(item)
        elif item.exists():
            found.append(item)
        else:
            raise SrganError(f"{item}: no such file or folder")
    if not found:
        raise SrganError(f"no images found in {', '.join(map(str, inputs))} "
                         f"(looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return list(dict.fromkeys(found))


def output_path(source: Path, out_dir: Path, scale: int) -> Path:
    return out_dir / f"{source.stem}_x{scale}.png"


def upscale_files(model: Path, inputs: list[Path], out_dir: Path, *, device: str = "auto", tile: int = 128,
                  overlap: int = 16) -> tuple[list[Path], dict[Path, str]]:
    """Upscale every input image; returns (written files, {input: error}) so one bad file stops nothing else."""
    generator, _ = load_generator(model, pick_device(device))
    written, failed = [], {}
    for source in tqdm(collect_inputs(inputs), desc=f"upscale x{generator.scale}", unit="image"):
        try:
            image = read_image(source)
        except SrganError as err:
            failed[source] = str(err)
            continue
        with torch.inference_mode():
            result = upscale_image(generator, image, tile=tile, overlap=overlap)
        target = output_path(source, out_dir, generator.scale)
        write_png(target, result)
        written.append(target)
    return written, failed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="upscale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="a trained generator, e.g. models/srgan.pt")
    parser.add_argument("inputs", type=Path, nargs="+", help="image files or folders of images")
    parser.add_argument("-o", "--out", type=Path, default=Path("upscaled"), help="output folder (default: upscaled)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    parser.add_argument("--tile", type=int, default=128, help="LR tile side; lower it to use less memory")
    parser.add_argument("--overlap", type=int, default=16, help="LR pixels shared by neighbouring tiles")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.overlap >= args.tile:
            raise SrganError(f"--overlap {args.overlap} must be smaller than --tile {args.tile}")
        written, failed = upscale_files(args.model, args.inputs, args.out, device=args.device, tile=args.tile,
                                        overlap=args.overlap)
    except SrganError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for source, why in failed.items():
        print(f"error: {why}", file=sys.stderr)
    print(f"wrote {len(written)} image(s) to {args.out}" + (f"; {len(failed)} failed" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
