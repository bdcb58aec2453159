"""Preparation throughput and memory: crops per second and peak memory on large synthetic photos.

    python benchmarks/prepare_throughput.py --images 8 --side 2040 --crops 100

Writes N random-texture PNGs of side x side (DIV2K-sized by default) to a temp folder, runs the
training-crop writer on them in a fresh process and reports crops/s and the peak resident memory:
memory stays bounded by one image, however many images there are.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe_cpu


def measure(folder: Path, hr_size: int, scale: int, crops: int) -> dict:
    from srgan.data.crops import write_training_crops
    from srgan.imageio import list_images

    paths = list_images(folder / "images")
    start = time.perf_counter()
    report = write_training_crops(paths, folder / "out", hr_size=hr_size, scale=scale, crops_per_image=crops,
                                  seed=0)
    seconds = time.perf_counter() - start
    return {"crops": report.crops, "seconds": round(seconds, 2), "crops_per_s": round(report.crops / seconds, 1),
            "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def make_images(folder: Path, count: int, side: int) -> None:
    import numpy as np
    from PIL import Image

    (folder / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        small = rng.integers(0, 256, (side // 8, side // 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize((side, side), Image.BICUBIC).save(folder / "images" / f"{index:04d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--side", type=int, default=2040)
    parser.add_argument("--crops", type=int, default=100, help="crops per image")
    parser.add_argument("--hr-size", type=int, default=128)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)  # internal: measure in this process
    args = parser.parse_args()
    if args.folder:
        print(json.dumps(measure(args.folder, args.hr_size, args.scale, args.crops)))
        return
    print(describe_cpu(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        make_images(Path(tmp), args.images, args.side)
        out = subprocess.run([sys.executable, __file__, "--folder", tmp, "--hr-size", str(args.hr_size),
                              "--scale", str(args.scale), "--crops", str(args.crops)],
                             capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{args.images} images of {args.side}px, {args.crops} crops each ({args.hr_size}px, x{args.scale}): "
          f"{result['crops_per_s']} crops/s, {result['seconds']} s, peak {result['peak_mb']} MB")


if __name__ == "__main__":
    main()
