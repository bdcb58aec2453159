"""Does the default SRGAN hold whatever the seed and precision? The 6-run matrix, from the trained SRResNet.

    dvc repro pretrain prepare_eval@skimage        # the SRResNet and the held-out photos it starts from
    python benchmarks/gan_robustness.py            # seeds 0 1 2, each in fp32 and in bf16
    python benchmarks/gan_robustness.py --seeds 0 --precisions fp32 --set gan.lr_d=1e-3 --save runs/

Each run fine-tunes models/srresnet.pt with the `gan` section of params.yaml (the GAN seed and the precision
changed, nothing else; `--set key=value` overrides a params key, value in YAML) on the training crops as the
train_gan stage draws them (under `data.degradation: realistic`, LR degraded afresh every step), evaluates it on
an evaluation set prepared by `prepare_eval` (`--eval-set`, default skimage), and watches its discriminator as the
stage does. The table gives each run's NIQE and PSNR-Y minus SRResNet's, whether D collapsed, whether the run meets
the bar (NIQE at least 1.0 below SRResNet's and below bicubic's, PSNR-Y within 2.0 dB of SRResNet's), and its own
PSNR-Y / NIQE, to hold against other models' (`--compare MODEL.pt` scores them on the same set). bf16 on a CPU
without native bf16 is emulated and slow; the table still says what each run computed in.

A realistic SRGAN's matrix, scored on degraded LR (a project trained with `data.degradation: realistic` and a set
`skimage_real: {source: skimage, degradation: realistic, draws: 8}` prepared), against a bicubic-trained SRGAN:
    python benchmarks/gan_robustness.py --eval-set skimage_real --compare ../bicubic/models/srgan.pt
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from machine import describe_cpu

from srgan.config import load_params
from srgan.data.crops import load_eval_images
from srgan.data.resize import bicubic_upscale
from srgan.imageio import write_png
from srgan.inference import upscale_image
from srgan.metrics import psnr_y
from srgan.models.discriminator import Discriminator
from srgan.models.io import load_generator
from srgan.niqe import niqe_or_none
from srgan.stages._training import Session, paired_batches
from srgan.stages.paths import MODEL_FILES, WEIGHTS_RECORD, prepared_eval
from srgan.stages.train_gan import content_loss
from srgan.train.checkpoint import RunStore
from srgan.train.distributed import Dist
from srgan.train.gan import GanTrainer
from srgan.train.health import DiscriminatorWatch
from srgan.train.loop import run_loop

CPU = torch.device("cpu")
NIQE_BAR, PSNR_BAR = 1.0, 2.0


def with_overrides(raw: dict, overrides: list[str]) -> dict:
    for item in overrides:
        key, _, value = item.partition("=")
        *parents, leaf = key.split(".")
        node = raw
        for part in parents:
            node = node[part]
        node[leaf] = yaml.safe_load(value)
    return raw


def scores(method, images: dict, scale: int, save_to: Path | None = None) -> tuple[float, float]:
    """Mean PSNR-Y and mean NIQE of a method over the held-out images, its outputs written to `save_to`."""
    outputs = {name: method(lr) for name, (lr, _) in images.items()}
    if save_to:
        for name, sr in outputs.items():
            write_png(save_to / f"{name}.png", sr)
    psnr = np.mean([psnr_y(outputs[name], hr, scale) for name, (_, hr) in images.items()])
    return float(psnr), float(np.mean([niqe_or_none(sr, scale) for sr in outputs.values()]))


def model_scores(generator, images: dict, scale: int, save_to: Path | None = None) -> tuple[float, float]:
    """scores() of a generator, upscaling in fp32."""
    return scores(lambda lr: upscale_image(generator, lr, precision="fp32"), images, scale, save_to)


def train_one(p: dict, seed: int, precision: str, images: dict, save_to: Path | None) -> dict:
    data, settings = p["data"], p["gan"].model_copy(update={"precision": precision})
    torch.manual_seed(seed)
    generator, _ = load_generator(MODEL_FILES["srresnet"], CPU)
    discriminator = Discriminator(data.hr_size, **p["model"].discriminator.model_dump())
    content, _, _ = content_loss(settings, json.loads(WEIGHTS_RECORD.read_text())["vgg19"])
    batches = paired_batches(settings.batch_size, seed, Session(CPU, Dist()), data)
    trainer = GanTrainer(generator, discriminator, content, batches, settings, CPU, seed=seed)
    watch = DiscriminatorWatch(start=settings.d_warmup_steps)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        try:
            result = run_loop(trainer, settings, store=RunStore(Path(folder), "gan", f"{seed:016d}"), watch=watch)
        finally:
            batches.close()
    seconds = time.perf_counter() - start
    psnr, niqe = model_scores(result.eval(), images, data.scale,
                              save_to / f"seed{seed}-{trainer.precision}" if save_to else None)
    return {"seed": seed, "precision": trainer.precision, "psnr": psnr, "niqe": niqe, "seconds": seconds,
            **watch.summary()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16", "auto"])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a params key")
    parser.add_argument("--save", type=Path, metavar="FOLDER", help="write each run's SR of the held-out photos")
    parser.add_argument("--eval-set", default="skimage", metavar="NAME",
                        help="score on data/prepared/eval/NAME (a set of data.eval, prepared)")
    parser.add_argument("--compare", type=Path, action="append", default=[], metavar="MODEL",
                        help="also score this model file on the set (repeatable)")
    args = parser.parse_args()
    raw = with_overrides(yaml.safe_load(Path("params.yaml").read_text()), args.set)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as tmp:
        yaml.safe_dump(raw, tmp)
        tmp.flush()
        p = load_params(tmp.name, "data", "model", "gan")
    print(describe_cpu())
    print("overrides:", " ".join(args.set) or "none")
    scale = p["data"].scale
    prepared = prepared_eval(args.eval_set) / "images.npz"
    if not prepared.exists():
        raise SystemExit(f"--eval-set {args.eval_set}: {prepared} is missing; add the set to data.eval and run "
                         f"`dvc repro prepare_eval@{args.eval_set}`")
    images = load_eval_images(prepared)
    print(f"training on {p['data'].degradation} LR; scored on {args.eval_set} ({len(images)} images)")
    srresnet, _ = load_generator(MODEL_FILES["srresnet"], CPU)
    base_psnr, base_niqe = model_scores(srresnet, images, scale)
    bicubic_psnr, bicubic_niqe = scores(lambda lr: bicubic_upscale(lr, scale), images, scale)
    print(f"bicubic PSNR-Y {bicubic_psnr:.2f} NIQE {bicubic_niqe:.2f}; SRResNet PSNR-Y {base_psnr:.2f} "
          f"NIQE {base_niqe:.2f}", flush=True)
    for path in args.compare:
        psnr, niqe = model_scores(load_generator(path, CPU)[0], images, scale)
        print(f"{path}: PSNR-Y {psnr:.2f} NIQE {niqe:.2f}", flush=True)
    print("| seed | precision | NIQE − SRResNet | PSNR-Y − SRResNet (dB) | D collapsed | mean D(real) − D(fake) "
          "| meets the bar | PSNR-Y / NIQE | time (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    met = 0
    for precision in args.precisions:
        for seed in args.seeds:
            run = train_one(p, seed, precision, images, args.save)
            ok = (run["niqe"] <= min(base_niqe, bicubic_niqe) - NIQE_BAR and run["psnr"] >= base_psnr - PSNR_BAR
                  and not run["collapsed"])
            met += ok
            print(f"| {seed} | {run['precision']} | {run['niqe'] - base_niqe:+.2f} | {run['psnr'] - base_psnr:+.2f} | "
                  f"{'yes, at step ' + str(run['collapsed_at']) if run['collapsed'] else 'no'} | "
                  f"{run.get('separation_mean', float('nan')):.3f} | {'yes' if ok else 'no'} | "
                  f"{run['psnr']:.2f} / {run['niqe']:.2f} | {run['seconds']:.0f} |",
                  flush=True)
    print(f"{met} of {len(args.seeds) * len(args.precisions)} runs meet the bar")


if __name__ == "__main__":
    main()
