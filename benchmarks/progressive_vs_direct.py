"""Experiment: progressive growing (x2 -> x4 -> x8) against direct x8 training, at an equal number of steps.

    python benchmarks/progressive_vs_direct.py --steps 400

Trains the same generator twice with pixel MSE on 128-pixel crops of the embedded training photos
(x8: 16 -> 128), once directly and once in three phases with fade-in, then reports PSNR-Y / SSIM-Y of
both on the held-out photos next to bicubic. Same seed, same batches, same step count.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from machine import add_precision_flag, default_precision, describe_cpu

from srgan.config import parse_section
from srgan.data.crops import load_eval_images, write_eval_images, write_training_crops
from srgan.data.embedded import skimage_photos
from srgan.data.resize import bicubic_upscale
from srgan.imageio import write_png
from srgan.inference import upscale_image
from srgan.metrics import psnr_y, ssim_y
from srgan.models.generator import Generator
from srgan.train.batches import PairBatches
from srgan.train.checkpoint import RunStore
from srgan.train.loop import run_loop
from srgan.train.pretrain import MSETrainer

SCALE = 8


def prepare(folder: Path, crops_per_image: int) -> tuple[np.ndarray, np.ndarray, dict]:
    for split in ("train", "eval"):
        for name, image in skimage_photos(split).items():
            write_png(folder / split / f"{name}.png", image)
    write_training_crops(sorted((folder / "train").iterdir()), folder, hr_size=128, scale=SCALE,
                         crops_per_image=crops_per_image, seed=0)
    write_eval_images(sorted((folder / "eval").iterdir()), folder / "eval.npz", scale=SCALE)
    return np.load(folder / "train_lr.npy"), np.load(folder / "train_hr.npy"), load_eval_images(folder / "eval.npz")


def score(method, images: dict) -> tuple[float, float]:
    outputs = [(method(lr), hr) for lr, hr in images.values()]
    return (float(np.mean([psnr_y(sr, hr, SCALE) for sr, hr in outputs])),
            float(np.mean([ssim_y(sr, hr, SCALE) for sr, hr in outputs])))


def train(lr, hr, steps: int, phases: list[int], fade: int, folder: Path, precision: str) -> Generator:
    torch.manual_seed(0)
    generator = Generator(SCALE, blocks=8, channels=32, bicubic_skip=True, progressive=bool(phases))
    params = parse_section("pretrain", {"steps": steps, "lr": 5e-4, "precision": precision, "log_every": steps,
                                        "checkpoint_every": 10**9,
                                        "progressive": {"phase_steps": phases, "fade_steps": fade}})
    trainer = MSETrainer(generator, PairBatches(lr, hr, 16, 0, torch.device("cpu")), params, torch.device("cpu"))
    return run_loop(trainer, params, store=RunStore(folder, "benchmark", f"{phases}".ljust(16, "-"))).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--fade", type=int, default=50)
    parser.add_argument("--crops", type=int, default=48, help="training crops per image")
    add_precision_flag(parser, default_precision(), "both trainings")
    args = parser.parse_args()
    print(describe_cpu(), flush=True)
    third = args.steps // 3
    with tempfile.TemporaryDirectory() as tmp:
        lr, hr, images = prepare(Path(tmp), args.crops)
        rows = {"bicubic": (score(lambda x: bicubic_upscale(x, SCALE), images), 0.0)}
        for name, phases in (("direct", []), ("progressive", [third, third])):
            start = time.perf_counter()
            generator = train(lr, hr, args.steps, phases, args.fade, Path(tmp), args.precision)
            seconds = time.perf_counter() - start
            rows[name] = (score(lambda x, g=generator: upscale_image(g, x), images), seconds)
    print(f"x8 (16 -> 128), {args.steps} steps each in {args.precision}, batch 16, held-out skimage photos")
    for name, ((psnr, ssim), seconds) in rows.items():
        print(f"{name:12s} PSNR-Y {psnr:6.2f} dB  SSIM-Y {ssim:.4f}  training {seconds:6.1f} s")


if __name__ == "__main__":
    main()
