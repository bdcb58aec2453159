"""Does the fast path cost quality? The default generator trained in fp32 and in bf16 for the same steps.

    python benchmarks/precision_quality.py --steps 400

Trains the default CPU generator (8 blocks x 32 ch, resize-conv upsampling, bicubic skip) with pixel MSE on
96-pixel crops of the embedded training photos, once per precision, same seed and same batches, through the
project's own trainer; then reports PSNR-Y / SSIM-Y on the held-out photos (inference in fp32 for both, so
that only training differs) and the training time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from machine import describe_cpu

from srgan.config import parse_section
from srgan.data.crops import load_eval_images, write_eval_images, write_training_crops
from srgan.data.embedded import skimage_photos
from srgan.imageio import write_png
from srgan.inference import upscale_image
from srgan.metrics import psnr_y, ssim_y
from srgan.models.generator import Generator
from srgan.train.batches import PairBatches
from srgan.train.checkpoint import RunStore
from srgan.train.loop import run_loop
from srgan.train.pretrain import MSETrainer

SCALE = 4
CPU = torch.device("cpu")


def prepare(folder: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    for split in ("train", "eval"):
        for name, image in skimage_photos(split).items():
            write_png(folder / split / f"{name}.png", image)
    write_training_crops(sorted((folder / "train").iterdir()), folder, hr_size=96, scale=SCALE, crops_per_image=96,
                         seed=0)
    write_eval_images(sorted((folder / "eval").iterdir()), folder / "eval.npz", scale=SCALE)
    return np.load(folder / "train_lr.npy"), np.load(folder / "train_hr.npy"), load_eval_images(folder / "eval.npz")


def train(lr, hr, steps: int, precision: str, folder: Path) -> tuple[Generator, float]:
    torch.manual_seed(0)
    generator = Generator(SCALE, blocks=8, channels=32, bicubic_skip=True, upsample="nearest")
    params = parse_section("pretrain", {"steps": steps, "lr": 1e-3, "betas": [0.9, 0.99], "precision": precision,
                                        "log_every": steps, "checkpoint_every": 10**9})
    start = time.perf_counter()
    trainer = MSETrainer(generator, PairBatches(lr, hr, 16, 0, CPU), params, CPU)
    result = run_loop(trainer, params, store=RunStore(folder, precision, precision.ljust(16, "-")))
    return result.eval(), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--precision", choices=("bf16", "fp16"), default="bf16",
                        help="the reduced precision trained beside fp32 (default: bf16)")
    args = parser.parse_args()
    print(describe_cpu(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        lr, hr, images = prepare(Path(tmp))
        print(f"default generator, {args.steps} MSE steps, batch 16, 96-px crops; held-out photos, x4, Y, border 4")
        scores = {}
        for precision in ("fp32", args.precision):
            generator, seconds = train(lr, hr, args.steps, precision, Path(tmp))
            outputs = [(upscale_image(generator, lr_image), hr_image) for lr_image, hr_image in images.values()]
            scores[precision] = np.mean([psnr_y(sr, hr_image, SCALE) for sr, hr_image in outputs])
            ssim = np.mean([ssim_y(sr, hr_image, SCALE) for sr, hr_image in outputs])
            print(f"  trained in {precision}: PSNR-Y {scores[precision]:.3f} dB, SSIM-Y {ssim:.4f}, {seconds:.1f} s")
        print(f"  {args.precision} - fp32: {scores[args.precision] - scores['fp32']:+.3f} dB")


if __name__ == "__main__":
    main()
