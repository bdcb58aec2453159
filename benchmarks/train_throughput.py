"""Training throughput of the generator (MSE steps) side by side: precision and memory format.

    python benchmarks/train_throughput.py --blocks 8 --channels 32 --hr-size 128 --batch 16

Prints images/s for each setting and its ratio to fp32; timings are noisy, compare within one run.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from srgan.models.generator import Generator
from srgan.train.common import autocast


def throughput(model: Generator, lr: torch.Tensor, hr: torch.Tensor, precision: str, steps: int) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    device = lr.device
    for i in range(steps + 2):  # two warm-up steps
        if i == 2:
            start = time.perf_counter()
        with autocast(device, precision):
            sr = model(lr)
        loss = F.mse_loss(sr.float(), hr)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps * lr.shape[0] / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--hr-size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    lr = torch.rand(args.batch, 3, args.hr_size // args.scale, args.hr_size // args.scale, device=device)
    hr = torch.rand(args.batch, 3, args.hr_size, args.hr_size, device=device)
    results = {}
    for precision in ("fp32", "bf16"):
        for channels_last in (False, True):
            torch.manual_seed(0)
            model = Generator(args.scale, args.blocks, args.channels, bicubic_skip=True).to(device)
            x, y = lr, hr
            if channels_last:
                model = model.to(memory_format=torch.channels_last)
                x = lr.contiguous(memory_format=torch.channels_last)
                y = hr.contiguous(memory_format=torch.channels_last)
            results[(precision, channels_last)] = throughput(model, x, y, precision, args.steps)
    base = results[("fp32", False)]
    print(f"device {device}, {args.blocks} blocks x {args.channels} ch, x{args.scale}, "
          f"{args.hr_size}px HR, batch {args.batch}")
    for (precision, channels_last), value in results.items():
        layout = "channels_last" if channels_last else "contiguous"
        print(f"{precision:5s} {layout:14s} {value:7.1f} images/s  x{value / base:.2f}")


if __name__ == "__main__":
    main()
