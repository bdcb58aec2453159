"""Does the default SRGAN hold whatever the seed and precision? The 6-run matrix, from the trained SRResNet.

    dvc repro pretrain prepare_eval@skimage        # the SRResNet and the held-out photos it starts from
    python benchmarks/gan_robustness.py            # seeds 0 1 2, each in fp32 and in bf16
    python benchmarks/gan_robustness.py --seeds 0 --precisions fp32 --set gan.lr_d=1e-3 --save runs/

Each run fine-tunes models/srresnet.pt with the `gan` section of params.yaml (the GAN seed and the precision
changed, nothing else; `--set key=value` overrides a params key, value in YAML) on the training crops as the
train_gan stage draws them (under `data.degradation: realistic`, LR degraded afresh every step), evaluates it on an
evaluation set prepared by `prepare_eval` (`--eval-set`, default skimage), and watches its discriminator as the
stage does. The table gives each run's NIQE and PSNR-Y minus SRResNet's, whether D collapsed, whether the run meets
the bar (NIQE at least 1.0 below SRResNet's and below bicubic's, PSNR-Y within 2.0 dB of SRResNet's), and its own
PSNR-Y / SSIM-Y / NIQE, and a last row the runs' means; `--compare MODEL.pt` scores another model file on the same
set and adds a column: does the run beat it on all three measures (higher PSNR-Y and SSIM-Y, lower NIQE)?
`--blend 0.5 0.8` adds a row per alpha under each run: the run blended with SRResNet (network interpolation,
`upscale --blend`), scored the same way, and `--choose-alpha` one more: the blend at an alpha chosen as a user would
choose it, on photos other than the ones scored (leave one photo out: each photo of the set is scored at the alpha
that wins the most measures against the first `--compare` model over the other photos, the sharper alpha on a tie).
`--soup` also scores the average of each precision's runs (a model soup: fine-tuned from one SRResNet, they average
into one working model), with the same blend rows. bf16 on a CPU without native bf16 is emulated and slow; the table
still says what each run computed in.

A realistic SRGAN's matrix, scored on degraded LR (a project trained with `data.degradation: realistic` and a set
`skimage_real: {source: skimage, degradation: realistic, draws: 8}` prepared), against a bicubic-trained SRGAN:
    python benchmarks/gan_robustness.py --eval-set skimage_real --compare ../bicubic/models/srgan.pt
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from machine import describe_cpu

from srgan.config import load_params
from srgan.data.crops import DRAW, load_eval_images
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


def per_image(method, images: dict, scale: int, save_to: Path | None = None) -> dict[str, dict]:
    """{image: {psnr, ssim, niqe}} of a method (PSNR-Y, SSIM-Y, NIQE), its outputs written to `save_to`."""
    found = {}
    for name, (lr, hr) in images.items():
        sr = method(lr)
        if save_to:
            write_png(save_to / f"{name}.png", sr)
        found[name] = {"psnr": psnr_y(sr, hr, scale), "ssim": ssim_y(sr, hr, scale), "niqe": niqe_or_none(sr, scale)}
    return found


def mean(found: dict[str, dict], names=None) -> dict:
    """The mean of each measure over `names` (default: every image)."""
    names = list(found) if names is None else names
    return {key: float(np.mean([found[name][key] for name in names])) for key in ("psnr", "ssim", "niqe")}


def scores(method, images: dict, scale: int, save_to: Path | None = None) -> dict:
    """Mean PSNR-Y, SSIM-Y and NIQE of a method over the held-out images, its outputs written to `save_to`."""
    return mean(per_image(method, images, scale, save_to))


def model_per_image(generator, images: dict, scale: int, save_to: Path | None = None) -> dict[str, dict]:
    """per_image() of a generator, upscaling in fp32."""
    return per_image(lambda lr: upscale_image(generator, lr, precision="fp32"), images, scale, save_to)


def model_scores(generator, images: dict, scale: int, save_to: Path | None = None) -> dict:
    """scores() of a generator, upscaling in fp32."""
    return mean(model_per_image(generator, images, scale, save_to))


def shown(score: dict) -> str:
    return f"{score['psnr']:.2f} / {score['ssim']:.4f} / {score['niqe']:.2f}"


def beats(score: dict, other: dict) -> bool:
    """Higher PSNR-Y and SSIM-Y and lower NIQE than `other`: better on every measure, not a trade."""
    return measures_won(score, other) == 3


def photos(names) -> dict[str, str]:
    """{image: the photo it comes from} for the images of a prepared set: a photo's further LR draws are its
    entries PHOTO_drawN."""
    names = set(names)
    return {name: base if (base := re.sub(rf"{DRAW}\d+$", "", name)) in names else name for name in names}


def measures_won(score: dict, other: dict) -> int:
    """On how many of PSNR-Y, SSIM-Y and NIQE `score` is better than `other`."""
    return int(score["psnr"] > other["psnr"]) + int(score["ssim"] > other["ssim"]) + int(score["niqe"] < other["niqe"])


def leave_one_photo_out(blends: dict[float, dict], rival: dict[str, dict]) -> tuple[dict[str, dict], dict[str, float]]:
    """The blends scored with an alpha never chosen on the images it is scored on: for each photo, the alpha whose
    blend wins the most measures against `rival` over the other photos (the sharper one on a tie) scores that
    photo's images. (those per-image scores, {photo: alpha chosen for it})."""
    chosen, held_out, photo = {}, {}, photos(rival)
    for left_out in sorted(set(photo.values())):
        others = [name for name in rival if photo[name] != left_out]
        to_beat = mean(rival, others)
        chosen[left_out] = max(blends, key=lambda alpha: (measures_won(mean(blends[alpha], others), to_beat), alpha))
        held_out.update({name: found for name, found in blends[chosen[left_out]].items() if photo[name] == left_out})
    return held_out, chosen


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


def soup(generators: list[torch.nn.Module]) -> torch.nn.Module:
    """The uniform average of generators fine-tuned from one start (a model soup, Wortsman et al. 2022), as a chain
    of blends: the k-th joins the average of the ones before it at weight 1/k."""
    averaged = generators[0]
    for k, generator in enumerate(generators[1:], start=2):
        averaged = blend(averaged, generator, 1 / k)
    return averaged


def soup_record(records: list[dict]) -> dict:
    """The runs of a soup as one table record: their total time and D's health over all of them."""
    collapsed = [run for run in records if run["collapsed"]]
    return {"seed": "soup", "seconds": sum(run["seconds"] for run in records), "collapsed": bool(collapsed),
            "collapsed_at": collapsed[0]["collapsed_at"] if collapsed else None,
            "separation_mean": float(np.mean([run.get("separation_mean", np.nan) for run in records]))}


class Table:
    """The matrix's table: the references scored once, then rows for each model scored against them."""

    def __init__(self, images: dict, scale: int, srresnet: torch.nn.Module, compare: list[Path], alphas: list[float],
                 choose_alpha: bool):
        self.images, self.scale, self.srresnet = images, scale, srresnet
        self.alphas, self.choose_alpha = alphas, choose_alpha
        self.base = model_scores(srresnet, images, scale)
        self.bicubic = scores(lambda lr: bicubic_upscale(lr, scale), images, scale)
        print(f"PSNR-Y / SSIM-Y / NIQE: bicubic {shown(self.bicubic)}; SRResNet {shown(self.base)}", flush=True)
        self.compared_images = {path: model_per_image(load_generator(path, CPU)[0], images, scale) for path in compare}
        self.compared = {path: mean(found) for path, found in self.compared_images.items()}
        for path, score in self.compared.items():
            print(f"{path}: {shown(score)}", flush=True)
        beat_columns = "".join(f" beats {path} |" for path in self.compared)
        print("| seed | precision | NIQE − SRResNet | PSNR-Y − SRResNet (dB) | D collapsed | mean D(real) − D(fake) "
              f"| meets the bar | PSNR-Y / SSIM-Y / NIQE |{beat_columns} time (s) |")
        print("|" + "---|" * (9 + len(self.compared)))

    def row(self, run: dict, score: dict, label: str) -> bool:
        """One table row; whether the scored model meets the bar."""
        base = self.base
        ok = (score["niqe"] <= min(base["niqe"], self.bicubic["niqe"]) - NIQE_BAR
              and score["psnr"] >= base["psnr"] - PSNR_BAR and not run["collapsed"])
        beat_cells = "".join(f" {'yes' if beats(score, other) else 'no'} |" for other in self.compared.values())
        collapsed = f"yes, at step {run['collapsed_at']}" if run["collapsed"] else "no"
        print(f"| {run['seed']} | {label} | {score['niqe'] - base['niqe']:+.2f} | {score['psnr'] - base['psnr']:+.2f} "
              f"| {collapsed} | {run.get('separation_mean', float('nan')):.3f} | {'yes' if ok else 'no'} "
              f"| {shown(score)} |{beat_cells} {run['seconds']:.0f} |", flush=True)
        return ok

    def verdict(self, results: list[tuple[dict, dict, bool]]) -> None:
        """The (record, scores, meets the bar) of the trained runs as a last row of their means (the differences
        from SRResNet, D's separation, the scores, the runs that met the bar and the collapsed Ds, the total time),
        then the count of runs that met the bar."""
        runs = [run for run, _, _ in results]
        score = {key: float(np.mean([found[key] for _, found, _ in results])) for key in ("psnr", "ssim", "niqe")}
        separation = float(np.mean([run.get("separation_mean", np.nan) for run in runs]))
        collapsed, met = sum(run["collapsed"] for run in runs), sum(ok for _, _, ok in results)
        print(f"| mean | {len(runs)} runs | {score['niqe'] - self.base['niqe']:+.2f} | "
              f"{score['psnr'] - self.base['psnr']:+.2f} | {collapsed} collapsed | {separation:.3f} | {met} of "
              f"{len(runs)} | {shown(score)} |{' |' * len(self.compared)} {sum(run['seconds'] for run in runs):.0f} |")
        print(f"{met} of {len(runs)} runs meet the bar")

    def rows(self, run: dict, generator: torch.nn.Module, label: str,
             save_to: Path | None = None) -> tuple[dict, dict, bool]:
        """The model's row, a row per blend with SRResNet and, asked for, the blend chosen on the other photos;
        the model's record, its scores and whether it meets the bar."""
        score = model_scores(generator, self.images, self.scale, save_to)
        ok = self.row(run, score, label)
        blends = {alpha: model_per_image(blend(self.srresnet, generator, alpha), self.images, self.scale)
                  for alpha in self.alphas}
        for alpha, found in blends.items():
            self.row(run, mean(found), f"{label}, blend α={alpha:g}")
        if self.choose_alpha:
            held_out, chosen = leave_one_photo_out(blends, next(iter(self.compared_images.values())))
            picks = ", ".join(f"{name} {alpha:g}" for name, alpha in chosen.items())
            self.row(run, mean(held_out), f"{label}, blend α chosen on the other photos ({picks})")
        return run, score, ok


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
    parser.add_argument("--choose-alpha", action="store_true",
                        help="also score each run's blend at an alpha chosen without the images it is scored on: "
                             "for each photo, the --blend alpha that wins the most measures against the first "
                             "--compare model on the other photos")
    parser.add_argument("--soup", action="store_true",
                        help="also score the average of each precision's runs (a model soup), with its blends")
    args = parser.parse_args()
    if args.choose_alpha and not (args.blend and args.compare):
        parser.error("--choose-alpha picks one of the --blend alphas against the first --compare model: give both")
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
    if args.choose_alpha and len(set(photos(images).values())) < 2:
        parser.error(f"--choose-alpha leaves one photo out at a time: {args.eval_set} has only one")
    print(f"training on {p['data'].degradation} LR; scored on {args.eval_set} ({len(images)} images)")
    srresnet, _ = load_generator(MODEL_FILES["srresnet"], CPU)
    table = Table(images, scale, srresnet, args.compare, args.blend, args.choose_alpha)
    results = []
    for precision in args.precisions:
        runs = []
        for seed in args.seeds:
            run, generator = train_one(p, seed, precision)
            save_to = args.save / f"seed{seed}-{run['precision']}" if args.save else None
            results.append(table.rows(run, generator, run["precision"], save_to))
            runs.append((run, generator))
        if args.soup and len(runs) > 1:
            records = [run for run, _ in runs]
            table.rows(soup_record(records), soup([generator for _, generator in runs]),
                       f"{records[0]['precision']}, soup of seeds {', '.join(str(seed) for seed in args.seeds)}")
    table.verdict(results)


if __name__ == "__main__":
    main()
