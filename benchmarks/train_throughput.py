"""Training speed side by side, in one process: the project's trainers against a plain fp32 eager reference.

    python benchmarks/train_throughput.py                      # paper's G (16x64) and D (64), batch 16, 96 and 128 px
    python benchmarks/train_throughput.py --sizes 96 --steps 6 --compile

For the MSE step (SRResNet pretraining) and the GAN step (G + D + VGG19 content loss to conv5_4; random VGG
weights cost the same as ImageNet ones), it reports images/s of
  - reference: the same networks in fp32, eager, contiguous memory, every conv an nn.Conv2d (machine.plain),
    torch.optim.Adam (foreach), the loop a typical reimplementation writes;
  - project: the project's own trainer (srgan.train.pretrain.MSETrainer, srgan.train.gan.GanTrainer) in
    --precision (autocast; default bf16 where this CPU computes it natively, else fp32), channels-last, fused
    Adam and, with --compile, torch.compile;
with the ratio, and the fraction of this machine's GEMM peak (2048x2048 matmul in the side's precision, measured
in the same run) that each reaches, counting the step's FLOPs with torch.utils.flop_counter. A precision the CPU
only emulates has no peak ("no native bf16"). Sides alternate, and each number is the median of --repeats
timings. Timings are noisy: compare within one run, never across machines.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from machine import add_precision_flag, default_precision, describe_cpu, gemm_peak, plain, share_of_peak
from torch.utils.flop_counter import FlopCounterMode

from srgan.config import parse_section
from srgan.losses import ContentLoss, VGGFeatures, discriminator_loss, generator_adversarial_loss
from srgan.models.discriminator import Discriminator
from srgan.models.generator import Generator
from srgan.train.gan import GanTrainer
from srgan.train.pretrain import MSETrainer

CPU = torch.device("cpu")


def vgg_features() -> VGGFeatures:
    from torchvision.models import vgg19

    torch.manual_seed(0)
    return VGGFeatures(vgg19(weights=None).state_dict(), ["vgg54"])


def batch(size: int, batch_size: int, scale: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    hr = torch.rand(batch_size, 3, size, size)
    return F.avg_pool2d(hr, scale), hr


# ------------------------------------------------------------------ the plain fp32 eager reference


class ReferenceMSE:
    def __init__(self, size: int, batch_size: int):
        torch.manual_seed(0)
        self.g = plain(Generator(4, 16, 64)).train()
        self.opt = torch.optim.Adam(self.g.parameters(), lr=1e-4)
        self.lr, self.hr = batch(size, batch_size)

    def step(self, index: int) -> None:
        loss = F.mse_loss(self.g(self.lr), self.hr)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()


class ReferenceGAN:
    def __init__(self, size: int, batch_size: int):
        torch.manual_seed(0)
        self.g = plain(Generator(4, 16, 64)).train()
        self.d, self.vgg = Discriminator(size, 64, "batch", 1024).train(), vgg_features()
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=1e-4)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=1e-4)
        self.lr, self.hr = batch(size, batch_size)

    def step(self, index: int) -> None:
        sr = self.g(self.lr)
        d_loss = discriminator_loss(self.d(self.hr), self.d(sr.detach()))
        self.opt_d.zero_grad()
        d_loss.backward()
        self.opt_d.step()
        content = F.mse_loss(self.vgg(sr)["vgg54"], self.vgg(self.hr)["vgg54"].detach())
        loss = content + 1e-3 * generator_adversarial_loss(self.d(sr))
        self.opt_g.zero_grad()
        loss.backward()
        self.opt_g.step()


# ------------------------------------------------------------------ the project's trainers


def project_mse(size: int, batch_size: int, compile: bool, precision: str) -> MSETrainer:
    torch.manual_seed(0)
    params = parse_section("pretrain", {"steps": 1000, "batch_size": batch_size, "precision": precision})
    lr, hr = batch(size, batch_size)
    fixed = (lr.contiguous(memory_format=torch.channels_last), hr.contiguous(memory_format=torch.channels_last))
    return MSETrainer(Generator(4, 16, 64), lambda step: fixed, params, CPU, compile=compile)


def project_gan(size: int, batch_size: int, compile: bool, precision: str) -> GanTrainer:
    torch.manual_seed(0)
    params = parse_section("gan", {"steps": 1000, "batch_size": batch_size, "precision": precision,
                                   "adv_ramp": {"schedule": "constant"}})
    lr, hr = batch(size, batch_size)
    fixed = (lr.contiguous(memory_format=torch.channels_last), hr.contiguous(memory_format=torch.channels_last))
    return GanTrainer(Generator(4, 16, 64), Discriminator(size, 64, "batch", 1024),
                      ContentLoss({"vgg54": 1.0}, vgg_features()), lambda step: fixed, params, CPU, compile=compile)


# ------------------------------------------------------------------ measuring


def flops(trainer) -> float:
    with FlopCounterMode(display=False) as counter:
        trainer.step(0)
    return counter.get_total_flops()


def timed(trainer, steps: int) -> float:
    start = time.perf_counter()
    for index in range(steps):
        trainer.step(index)
    return (time.perf_counter() - start) / steps


def compare(name: str, sides: dict, batch_size: int, steps: int, repeats: int, peaks: dict, precision: str) -> None:
    for trainer in sides.values():  # warm-up (and compilation)
        timed(trainer, 2)
    per_step = {side: [] for side in sides}
    for _ in range(repeats):
        for side, trainer in sides.items():
            per_step[side].append(timed(trainer, steps))
    work = flops(sides["reference"])
    reference = statistics.median(per_step["reference"])
    for side, times in per_step.items():
        seconds = statistics.median(times)
        side_precision = "fp32" if side == "reference" else precision
        achieved = work / seconds / 1e9
        print(f"  {name:22s} {side:20s} {batch_size / seconds:7.1f} img/s  x{reference / seconds:4.2f}  "
              f"{achieved:6.1f} GFLOP/s, {share_of_peak(achieved, peaks[side_precision], side_precision)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 128], help="HR crop sides")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4, help="steps per timing")
    parser.add_argument("--repeats", type=int, default=3, help="timings per side (median reported)")
    parser.add_argument("--compile", action="store_true", help="also time the project with torch.compile")
    parser.add_argument("--skip-gan", action="store_true")
    add_precision_flag(parser, default_precision(), "the project's side")
    args = parser.parse_args()
    print(describe_cpu(), flush=True)
    peaks = {precision: gemm_peak(precision) for precision in dict.fromkeys(["fp32", args.precision])}
    shown = ", ".join(f"{p} {peak:.0f} GFLOP/s" if peak else f"{p}: no native {p}" for p, peak in peaks.items())
    print(f"GEMM peak (2048^2 matmul): {shown}; {torch.get_num_threads()} threads; project in {args.precision}; "
          f"paper networks: G 16 blocks x 64 ch, D 64 ch, batch {args.batch}", flush=True)
    for size in args.sizes:
        print(f"{size}-px HR crops")
        sides = {"reference": ReferenceMSE(size, args.batch),
                 "project": project_mse(size, args.batch, False, args.precision)}
        if args.compile:
            sides["project + compile"] = project_mse(size, args.batch, True, args.precision)
        compare("MSE step", sides, args.batch, args.steps, args.repeats, peaks, args.precision)
        if args.skip_gan:
            continue
        sides = {"reference": ReferenceGAN(size, args.batch),
                 "project": project_gan(size, args.batch, False, args.precision)}
        if args.compile:
            sides["project + compile"] = project_gan(size, args.batch, True, args.precision)
        compare("GAN step (G+D+VGG54)", sides, args.batch, max(1, args.steps // 2), args.repeats, peaks,
                args.precision)


if __name__ == "__main__":
    main()
