"""Tiled inference: time and peak memory of upscaling one large LR image, for a few tile sizes.

    python benchmarks/tiled_inference.py --size 1024 --scale 4 --tiles 64 128 256

Each tile size runs in a fresh process so that its peak resident memory (ru_maxrss) is its own.
Reports the process's peak above the memory it held before inference (torch and the model loaded).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def measure(size: int, scale: int, tile: int, blocks: int, channels: int) -> dict:
    import torch

    from srgan.inference import upscale_tensor
    from srgan.models.generator import Generator

    torch.manual_seed(0)
    generator = Generator(scale, blocks=blocks, channels=channels, bicubic_skip=True).eval()
    lr = torch.rand(1, 3, size, size)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    with torch.inference_mode():
        sr = upscale_tensor(generator, lr, tile=tile, overlap=min(16, tile // 4))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"tile": tile, "seconds": round(seconds, 2), "peak_mb": round(peak), "inference_mb": round(peak - before),
            "output": list(sr.shape)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024, help="LR side in pixels")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--tiles", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--blocks", type=int, default=16)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one tile size
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.size, args.scale, args.one, args.blocks, args.channels)))
        return
    print(f"{args.size}x{args.size} LR at x{args.scale}, SRResNet {args.blocks} blocks x {args.channels} ch, CPU")
    for tile in args.tiles:
        out = subprocess.run([sys.executable, __file__, "--size", str(args.size), "--scale", str(args.scale),
                              "--blocks", str(args.blocks), "--channels", str(args.channels), "--one", str(tile)],
                             capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"tile {tile:4d}: {result['seconds']:7.1f} s, peak {result['peak_mb']:5d} MB "
              f"(inference {result['inference_mb']:5d} MB)")


if __name__ == "__main__":
    main()
