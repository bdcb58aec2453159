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
PSNR-Y / SSIM-Y / NIQE; `--compare MODEL.pt` scores another model file on the same set and adds a column: does the
run beat it on all three measures (higher PSNR-Y and SSIM-Y, lower NIQE)? `--blend 0.5 0.8` adds a row per alpha under
each run: the run blended with SRResNet (network interpolation, `upscale --blend`), scored the same way. bf16 on a CPU
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
from srgan.errors import SrganError
from srgan.imageio import write_png
from srgan.inference import upscale_image
from srgan.metrics import psnr_y, ssim_y
from srgan.models.blend import blend, check_alpha
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


def scores(method, images: dict, scale: int, save_to: Path | None = None) -> dict:
    """Mean PSNR-Y, SSIM-Y and NIQE of a method over the held-out images, its outputs written to `save_to`."""
    outputs = {name: method(lr) for name, (lr, _) in images.items()}
    if save_to:
        for name, sr in outputs.items():
            write_png(save_to / f"{name}.png", sr)
    return {"psnr": float(np.mean([psnr_y(outputs[name], hr, scale) for name, (_, hr) in images.items()])),
            "ssim": float(np.mean([ssim_y(outputs[name], hr, scale) for name, (_, hr) in images.items()])),
            "niqe": float(np.mean([niqe_or_none(sr, scale) for sr in outputs.values()]))}


def model_scores(generator, images: dict, scale: int, save_to: Path | None = None) -> dict:
    """scores() of a generator, upscaling in fp32."""
    return scores(lambda lr: upscale_image(generator, lr, precision="fp32"), images, scale, save_to)


def shown(score: dict) -> str:
    return f"{score['psnr']:.2f} / {score['ssim']:.4f} / {score['niqe']:.2f}"


def beats(score: dict, other: dict) -> bool:
    """Higher PSNR-Y and SSIM-Y and lower NIQE than `other`: better on every measure, not a trade."""
    return score["psnr"] > other["psnr"] and score["ssim"] > other["ssim"] and score["niqe"] < other["niqe"]


def train_one(p: dict, seed: int, precision: str) -> tuple[dict, torch.nn.Module]:
    """One GAN run from models/srresnet.pt: its record (seed, precision, time, D's health) and its generator."""
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
    record = {"seed": seed, "precision": trainer.precision, "seconds": time.perf_counter() - start, **watch.summary()}
    return record, result.eval()


def print_row(run: dict, score: dict, label: str, base: dict, bicubic: dict, compared: dict) -> bool:
    """One table row; whether the scored model meets the bar."""
    ok = (score["niqe"] <= min(base["niqe"], bicubic["niqe"]) - NIQE_BAR and score["psnr"] >= base["psnr"] - PSNR_BAR
          and not run["collapsed"])
    beat_cells = "".join(f" {'yes' if beats(score, other) else 'no'} |" for other in compared.values())
    print(f"| {run['seed']} | {label} | {score['niqe'] - base['niqe']:+.2f} | {score['psnr'] - base['psnr']:+.2f} | "
          f"{'yes, at step ' + str(run['collapsed_at']) if run['collapsed'] else 'no'} | "
          f"{run.get('separation_mean', float('nan')):.3f} | {'yes' if ok else 'no'} | {shown(score)} |{beat_cells} "
          f"{run['seconds']:.0f} |", flush=True)
    return ok


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
    parser.add_argument("--blend", type=float, nargs="+", default=[], metavar="ALPHA",
                        help="also score each run blended with SRResNet at these alphas (network interpolation)")
    args = parser.parse_args()
    for alpha in args.blend:
        try:
            check_alpha(alpha, "--blend")
        except SrganError as error:
            parser.error(str(error))
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
    base = model_scores(srresnet, images, scale)
    bicubic = scores(lambda lr: bicubic_upscale(lr, scale), images, scale)
    print(f"PSNR-Y / SSIM-Y / NIQE: bicubic {shown(bicubic)}; SRResNet {shown(base)}", flush=True)
    compared = {}
    for path in args.compare:
        compared[path] = model_scores(load_generator(path, CPU)[0], images, scale)
        print(f"{path}: {shown(compared[path])}", flush=True)
    beat_columns = "".join(f" beats {path} |" for path in compared)
    print("| seed | precision | NIQE − SRResNet | PSNR-Y − SRResNet (dB) | D collapsed | mean D(real) − D(fake) "
          f"| meets the bar | PSNR-Y / SSIM-Y / NIQE |{beat_columns} time (s) |")
    print("|" + "---|" * (9 + len(compared)))
    met = 0
    for precision in args.precisions:
        for seed in args.seeds:
            run, generator = train_one(p, seed, precision)
            save_to = args.save / f"seed{seed}-{run['precision']}" if args.save else None
            ok = print_row(run, model_scores(generator, images, scale, save_to), run["precision"], base, bicubic,
                           compared)
            met += ok
            for alpha in args.blend:
                print_row(run, model_scores(blend(srresnet, generator, alpha), images, scale),
                          f"{run['precision']}, blend α={alpha:g}", base, bicubic, compared)
    print(f"{met} of {len(args.seeds) * len(args.precisions)} runs meet the bar")


if __name__ == "__main__":
    main()
