"""How the realistic degradation is drawn during training, against what it buys on degraded photos.

    python benchmarks/realistic_training.py --steps 600                   # in a repro'd workspace, one thread each
    python benchmarks/realistic_training.py --steps 1500 --modes once fresh
    python benchmarks/realistic_training.py --modes margin --init models/srresnet.pt   # as Real-ESRNet starts

Trains the SRResNet of params.yaml (model.generator, the pretrain section's optimiser, its decay scaled to
--steps) from the downloaded training images (data/raw/train), once per mode:

- bicubic: the paper's LR (MATLAB bicubic), for comparison;
- once: realistic LR drawn once per crop, from a fixed pool of crops_per_image crops an image (what `prepare`
  did before training degraded afresh);
- fresh: a new crop and a new realistic draw for every sample of every step (what Real-ESRGAN does);
- margin: fresh, degrading a region --margin HR pixels wider on every side and keeping its centre, so the blur
  and resize never see the crop's border (what the pipeline's pretrain and train_gan do with
  `data.degradation: realistic`, from the crops `prepare` stores with data.realistic.margin around them).

Every --evals steps it prints PSNR-Y on the clean evaluation images (data/raw/eval/skimage, bicubic LR), on the
evaluation set's one realistic draw (seed 0, as `prepare_eval` makes it) and on --draws further draws of each
image, with bicubic interpolation beside it and how many draws the model wins. Reads the workspace; writes nothing.

--init starts every mode from a model file's weights (its architecture must be model.generator's) instead of from
scratch, as Real-ESRGAN starts Real-ESRNet from ESRGAN's weights, and scores that start as step 0.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from srgan.config import load_params
from srgan.data.crops import bicubic_lr, crop_to_scale
from srgan.data.degradations import degraded_pair, realistic_degrade
from srgan.data.resize import bicubic_upscale
from srgan.errors import SrganError
from srgan.imageio import list_images, read_image
from srgan.inference import upscale_image
from srgan.metrics import psnr_y
from srgan.models.generator import Generator
from srgan.models.io import load_generator
from srgan.stages.paths import RAW_TRAIN, raw_eval
from srgan.train.batches import to_tensor
from srgan.train.pretrain import MSETrainer

MODES = ("bicubic", "once", "fresh", "margin")


def crop_source(mode: str, images: list[np.ndarray], data, margin: int):
    """sample(step, j) -> (lq, gt) uint8 crops of one training sample."""
    size, scale, realistic = data.hr_size, data.scale, data.realistic
    pad = margin if mode == "margin" else 0

    def crop(rng: np.random.Generator) -> np.ndarray:
        image = images[int(rng.integers(len(images)))]
        side = size + 2 * pad
        top, left = int(rng.integers(image.shape[0] - side + 1)), int(rng.integers(image.shape[1] - side + 1))
        return np.ascontiguousarray(image[top:top + side, left:left + side])

    def degrade(region: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if mode == "bicubic":
            return bicubic_lr(region, scale, rng), region
        return degraded_pair(region, scale, realistic.model_copy(update={"margin": pad}), rng)

    if mode == "once":
        pool = [degrade(crop(rng), rng) for rng in (np.random.default_rng([0, i]) for i in
                                                    range(len(images) * data.crops_per_image))]
        return lambda step, j: pool[int(np.random.default_rng([1, step, j]).integers(len(pool)))]

    def fresh(step: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([1, step, j])
        return degrade(crop(rng), rng)

    return fresh


def evaluation_images(data, draws: int) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]]:
    """(name, hr, clean lr, the set's realistic lr, further realistic lrs) of each evaluation image."""
    out = []
    for index, path in enumerate(list_images(raw_eval("skimage"))):
        hr = crop_to_scale(read_image(path), data.scale)
        degrade = lambda rng: realistic_degrade(hr, data.scale, data.realistic, rng)  # noqa: E731
        out.append((path.stem, hr, bicubic_lr(hr, data.scale, None), degrade(np.random.default_rng([0, index])),
                    [degrade(np.random.default_rng([99, index, d])) for d in range(draws)]))
    return out


def scores(upscale, images, scale: int) -> dict:
    """Mean PSNR-Y (border `scale`) on the clean LR, the set's draw and the further draws, and each further draw's."""
    clean = [psnr_y(upscale(lr), hr, scale) for _, hr, lr, _, _ in images]
    degraded = [psnr_y(upscale(lq), hr, scale) for _, hr, _, lq, _ in images]
    draws = [psnr_y(upscale(lq), hr, scale) for _, hr, _, _, more in images for lq in more]
    return {"clean": float(np.mean(clean)), "degraded": float(np.mean(degraded)),
            "draws": float(np.mean(draws)) if draws else float("nan"), "each": draws}


def train(mode: str, args, params, images, evals, bicubic: dict) -> None:
    """Train one mode, printing a table row at each evaluation; `bicubic` is scores() of bicubic interpolation."""
    data, pretrain = params["data"], params["pretrain"]
    decay = pretrain.lr_decay.model_copy(update={"at": [round(at * args.steps / pretrain.steps)
                                                        for at in pretrain.lr_decay.at]})
    settings = pretrain.model_copy(update={"steps": args.steps, "lr_decay": decay})
    sample = crop_source(mode, images, data, args.margin)

    def batches(step: int):
        lq, gt = zip(*(sample(step, j) for j in range(settings.batch_size)))
        return to_tensor(np.stack(lq), torch.device("cpu")), to_tensor(np.stack(gt), torch.device("cpu"))

    torch.manual_seed(params["seed"])
    generator = Generator(scale=data.scale, **params["model"].generator.model_dump())
    if args.init:
        generator.load_state_dict(initial_weights(args.init, generator))
    trainer = MSETrainer(generator, batches, settings, torch.device("cpu"))
    start = time.monotonic()

    def report(steps: int) -> None:
        generator.eval()
        got = scores(lambda lr: upscale_image(generator, lr, precision=trainer.precision), evals, data.scale)
        generator.train()
        wins = sum(m > b for m, b in zip(got["each"], bicubic["each"], strict=True))
        print(f"| {mode} | {steps} | {got['clean']:.2f} | {got['degraded']:.2f} | {got['draws']:.2f} "
              f"| {bicubic['draws']:.2f} | {wins}/{len(got['each'])} | {time.monotonic() - start:.0f} |", flush=True)

    if args.init:
        report(0)
    for step in range(args.steps):
        trainer.step(step)
        if (step + 1) % max(1, args.steps // args.evals) == 0 or step + 1 == args.steps:
            report(step + 1)


def initial_weights(path: Path, generator: Generator) -> dict:
    """The state dict of the model file at `path`; SystemExit naming both architectures when they differ."""
    try:
        model, _ = load_generator(path)
    except SrganError as err:
        raise SystemExit(f"--init: {err}") from None
    if model.arch != generator.arch:
        raise SystemExit(f"--init {path}: its generator is {model.arch}, model.generator is {generator.arch}")
    return model.state_dict()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--evals", type=int, default=3, help="evaluations during each run")
    parser.add_argument("--draws", type=int, default=8, help="further realistic draws of each evaluation image")
    parser.add_argument("--margin", type=int, default=32, help="margin mode: HR pixels degraded around the crop")
    parser.add_argument("--init", type=Path, help="a model file to start from (e.g. models/srresnet.pt)")
    args = parser.parse_args(argv)
    params = load_params("params.yaml", "seed", "data", "model", "pretrain")
    if args.margin % params["data"].scale:
        parser.error(f"--margin {args.margin} must be a multiple of data.scale ({params['data'].scale})")
    side = params["data"].hr_size + 2 * args.margin
    images = [image for image in map(read_image, list_images(RAW_TRAIN)) if min(image.shape[:2]) >= side]
    evals = evaluation_images(params["data"], args.draws)
    bicubic = scores(lambda lr: bicubic_upscale(lr, params["data"].scale), evals, params["data"].scale)
    print(f"bicubic interpolation: clean {bicubic['clean']:.2f}, degraded set {bicubic['degraded']:.2f}, "
          f"{args.draws} draws an image {bicubic['draws']:.2f} dB PSNR-Y")
    print("| training LR | steps | clean | degraded set (seed 0) | further draws | bicubic on them | draws won | s |")
    print("|---|---|---|---|---|---|---|---|")
    for mode in args.modes:
        train(mode, args, params, images, evals, bicubic)


if __name__ == "__main__":
    main()
