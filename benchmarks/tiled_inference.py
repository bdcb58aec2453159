"""Tiled inference of one large LR image: the project's path against a plain fp32 tiled forward, in one run.

    python benchmarks/tiled_inference.py --size 1024 --scale 4        # the paper's generator, 16 blocks x 64 ch

Sides, each in a fresh process so that its peak resident memory is its own:
  - reference: the same weights as a plain reimplementation computes them (every conv an nn.Conv2d, BatchNorms as
    they are), fp32, eager, contiguous, one 128-px tile (--tile) at a time without overlap (what a plain loop does);
  - project fp32: srgan.inference.upscale_tensor in fp32 with `upscale`'s default tiling (tiles of at most 256 px
    overlapping by 16, spread evenly, one a pass, channels-last), BatchNorms folded, the RGB conv through its
    polyphase components, straight from the last upsampling step's;
  - project <precision>: the same under --precision autocast (default: what `auto` resolves to, bf16 on a CPU
    with AMX or an AMD one with AVX512-BF16, else fp32, when this side is left out), as `upscale` and the evaluate
    stage run it;
  - onnxruntime fp32: the reference's loop on the `srgan-export` ONNX file in ONNX Runtime (CPU provider, as many
    threads as torch): another fp32 engine on the same weights. Exporting and loading it are not timed.
Reports seconds, the speed-up over the reference, peak memory, and the PSNR of that output against the
project's own fp32 output (bf16 must not visibly change an image). Timings are noisy: the sides run round after
round (--repeats, 3 by default) and each shows its fastest run; compare within one run.
Last, the arithmetic: the multiply-adds of the generator's convolutions, the rate at which the reference computes
them, and the faster of two fp32 rates on this machine: a large matmul, and the generator's 64-channel 3x3 conv
alone on one 256-px tile (oneDNN's convs can beat torch's matmul, as on AMD CPUs, where MKL runs a slower path).
The reference's rate against that bounds any fp32 path's speed-up that does the same arithmetic.

Without native bf16, run it with oneDNN capped to AVX2 to see an AVX2 laptop's fp32 path on a newer CPU:
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python benchmarks/tiled_inference.py
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import add_precision_flag, conv_rate, default_precision, describe_cpu, gemm_peak, plain


def run_side(side: str, size: int, scale: int, tile: int, out: Path) -> dict:
    import torch

    from srgan.inference import BATCH, OVERLAP, TILE, upscale_tensor
    from srgan.models.generator import Generator

    torch.manual_seed(0)
    generator = Generator(scale, blocks=16, channels=64, bicubic_skip=True).eval()
    lr = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    forward = plain(generator) if side == "reference" else generator
    if side == "onnxruntime fp32":
        forward = onnx_forward(generator, out.with_suffix(".onnx"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    if side in ("reference", "onnxruntime fp32"):
        sr = torch.zeros(1, 3, size * scale, size * scale)
        with torch.no_grad():
            for top in range(0, size, tile):
                for left in range(0, size, tile):
                    patch = forward(lr[:, :, top:top + tile, left:left + tile])
                    sr[:, :, top * scale:(top + tile) * scale, left * scale:(left + tile) * scale] = patch
        sr = sr.clamp(0, 1)
    else:
        precision = side.removeprefix("project ")
        sr = upscale_tensor(generator, lr, tile=TILE, overlap=OVERLAP, precision=precision, batch=BATCH)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.save(out, (sr[0] * 255).round().byte().permute(1, 2, 0).numpy())
    result = {"seconds": seconds, "peak_mb": peak, "inference_mb": peak - before}
    if side == "reference":  # after the timing, in the process that already holds the generator
        result["multiply_adds"] = conv_multiply_adds(generator, size)
    return result


def onnx_forward(generator, path: Path):
    """(1, 3, h, w) tensor -> tensor through ONNX Runtime on the generator exported to `path`."""
    import onnxruntime
    import torch

    from srgan.export import export_onnx

    export_onnx(generator, path)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda lr: torch.from_numpy(session.run(None, {"lr": lr.numpy()})[0])


def conv_multiply_adds(generator, size: int) -> float:
    """Multiply-adds of the generator's convolutions on a size x size LR image, counted as plain convs."""
    import torch

    total, side = 0, 32

    def count(module, inputs, output):
        nonlocal total
        total += output.numel() * module.in_channels // module.groups * math.prod(module.kernel_size)

    hooks = [m.register_forward_hook(count) for m in generator.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        generator(torch.rand(1, 3, side, side))
    for hook in hooks:
        hook.remove()
    return total * (size / side) ** 2


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024, help="LR side in pixels")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--tile", type=int, default=128, help="the reference's tile side")
    parser.add_argument("--repeats", type=int, default=3, help="rounds over the sides; each side's fastest is shown")
    add_precision_flag(parser, default_precision(), "the project's side compared with fp32")
    parser.add_argument("--side", help=argparse.SUPPRESS)  # internal: measure one side
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(run_side(args.side, args.size, args.scale, args.tile, args.out)))
        return
    print(describe_cpu(), flush=True)
    print(f"{args.size}x{args.size} LR at x{args.scale}, SRResNet 16 blocks x 64 ch, CPU; the reference in "
          f"{args.tile}-px tiles, the project in `upscale`'s; the fastest of {args.repeats} round(s)", flush=True)
    results = {}
    chosen = f"project {args.precision}"
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):  # round after round, so that a slow spell of the machine hits every side
            for side in dict.fromkeys(("reference", "project fp32", chosen, "onnxruntime fp32")):
                out = Path(folder) / f"{side.replace(' ', '_')}.npy"
                done = subprocess.run([sys.executable, __file__, "--size", str(args.size), "--scale",
                                       str(args.scale), "--tile", str(args.tile), "--side", side, "--out", str(out)],
                                      capture_output=True, text=True, check=True)
                result = json.loads(done.stdout.strip().splitlines()[-1])
                if side not in results or result["seconds"] < results[side]["seconds"]:
                    results[side] = {**result, "image": np.load(out)}
    reference = results["reference"]["seconds"]
    for side, result in results.items():
        print(f"{side:16s} {result['seconds']:7.2f} s  x{reference / result['seconds']:4.2f}  "
              f"peak {result['peak_mb']:6.0f} MB (inference {result['inference_mb']:5.0f} MB)")
    print(f"PSNR of the onnxruntime output against the reference's: "
          f"{psnr(results['onnxruntime fp32']['image'], results['reference']['image']):.1f} dB")
    if chosen != "project fp32":
        print(f"PSNR of the {args.precision} output against the fp32 output: "
              f"{psnr(results[chosen]['image'], results['project fp32']['image']):.1f} dB")
    # The ceilings once, after every round and in this process: the machine's rates, not a side's.
    work, matmul, conv = results["reference"]["multiply_adds"], gemm_peak("fp32") * 1e9 / 2, conv_rate() * 1e9
    achieved, peak = work / reference, max(matmul, conv)
    print(f"arithmetic: {work / 1e12:.4f} T multiply-adds; the reference computes {achieved / 1e9:.1f} G/s, a 2048^3 "
          f"fp32 matmul {matmul / 1e9:.1f} G/s here and one 64-channel 3x3 conv on a 256-px tile {conv / 1e9:.1f} G/s: "
          f"fp32 at the faster of the two would be x{peak / achieved:.2f} the reference")


if __name__ == "__main__":
    main()
