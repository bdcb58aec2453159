"""The two fp32 CPU levers under the default training step, each timed on and off side by side.

    python benchmarks/cpu_levers.py                 # default generator (8 blocks x 32 ch), batch 16, 64-px HR
    python benchmarks/cpu_levers.py --repeats 5

  - the RGB output conv (9x9, 3 output channels): nn.Conv2d against srgan.models.polyphase, forward and backward
    at the pretraining and GAN shapes, forward alone at an inference tile of the paper's generator;
  - the default pretraining step (MSE, fused Adam, channels-last) with the generator's RGB conv plain and
    polyphase, in one process;
  - the same step, polyphase, in fresh processes with glibc's default allocator and with
    srgan.allocator.keep_freed_memory (a process's allocator settings are its own for good).
Each number is the median of --repeats timings, sides alternating. Timings are noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from machine import describe_cpu
from torch import nn

from srgan.allocator import keep_freed_memory
from srgan.models.generator import Generator
from srgan.models.polyphase import polyphase_conv2d


def median_ms(run, repeats: int, steps: int) -> float:
    run()  # warm-up: oneDNN builds its kernels on first use
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            run()
        times.append((time.perf_counter() - start) / steps)
    return 1000 * statistics.median(times)


def rgb_conv(repeats: int) -> None:
    print("| RGB conv (9x9, 3 outputs), fp32 | nn.Conv2d | polyphase | speed-up |\n|---|---|---|---|")
    for label, shape, grad in (("pretraining: forward + backward", (16, 32, 64, 64), True),
                               ("GAN: forward + backward", (16, 32, 96, 96), True),
                               ("inference, paper's G, 4 tiles of 128 px", (4, 64, 512, 512), False)):
        torch.manual_seed(0)
        x = torch.randn(shape).contiguous(memory_format=torch.channels_last).requires_grad_(grad)
        weight, bias = torch.randn(3, shape[1], 9, 9, requires_grad=grad), torch.zeros(3, requires_grad=grad)

        def timed(conv):
            def run():
                with torch.set_grad_enabled(grad):
                    y = conv(x, weight, bias)
                    if grad:
                        y.sum().backward()
            return run
        plain = median_ms(timed(lambda x, w, b: F.conv2d(x, w, b, padding=4)), repeats, 3)
        poly = median_ms(timed(polyphase_conv2d), repeats, 3)
        print(f"| {label} | {plain:.1f} ms | {poly:.1f} ms | x{plain / poly:.2f} |")


def default_step():
    """The default pretraining step (MSE, fused Adam, channels-last, batch 16, 64-px HR): (generator, step)."""
    generator = Generator(4, 8, 32, "batch", True, upsample="nearest").to(memory_format=torch.channels_last)
    optimiser = torch.optim.Adam(generator.parameters(), 1e-3, fused=True)
    lq = torch.rand(16, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    gt = torch.rand(16, 3, 64, 64)

    def step():
        loss = F.mse_loss(generator(lq), gt)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    return generator, step


def allocator_side(side: str, steps: int) -> float:
    """Seconds a default step takes in this (fresh) process, with glibc's default allocator or keep_freed_memory."""
    if side == "keep":
        keep_freed_memory()
    _, step = default_step()
    for _ in range(4):  # with median_ms's own warm-up, five steps before the timing
        step()
    return median_ms(step, 1, steps) / 1000


def pretraining_step(repeats: int) -> None:
    generator, step = default_step()
    polyphase_forward = type(generator.tail).forward
    times = {"nn.Conv2d": [], "polyphase": []}
    for _ in range(repeats):
        for side, forward in (("nn.Conv2d", nn.Conv2d.forward), ("polyphase", polyphase_forward)):
            generator.tail.forward = forward.__get__(generator.tail)
            times[side].append(median_ms(step, 1, 10))
    plain, poly = (statistics.median(times[side]) for side in times)
    print(f"\n| default pretraining step, fp32 | RGB conv nn.Conv2d | polyphase | speed-up |\n|---|---|---|---|\n"
          f"| batch 16, 64-px HR | {plain:.1f} ms | {poly:.1f} ms | x{plain / poly:.2f} |")
    times = {"default": [], "keep": []}
    for _ in range(repeats):
        for side in times:
            out = subprocess.run([sys.executable, __file__, "--allocator-side", side], capture_output=True, text=True,
                                 check=True)
            times[side].append(1000 * float(out.stdout))
    default, keep = (statistics.median(times[side]) for side in times)
    print(f"\n| the same step, polyphase | glibc's default allocator | keep_freed_memory | speed-up |\n"
          f"|---|---|---|---|\n| fresh process each | {default:.1f} ms | {keep:.1f} ms | x{default / keep:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--allocator-side", choices=["default", "keep"], help=argparse.SUPPRESS)  # internal
    args = parser.parse_args()
    if args.allocator_side:
        print(allocator_side(args.allocator_side, 20))
        return
    print(describe_cpu())
    print("precision fp32 (these are the fp32 path's levers)\n")
    rgb_conv(args.repeats)
    pretraining_step(args.repeats)


if __name__ == "__main__":
    main()
