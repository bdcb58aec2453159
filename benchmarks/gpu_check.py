"""The CUDA path, checked and measured in one short run (for a machine with a GPU).

    python benchmarks/gpu_check.py                 # everything below, a few minutes on one GPU
    python benchmarks/gpu_check.py --quick         # fewer steps
    python benchmarks/gpu_check.py --precision fp32 bf16   # only these precisions in sections 1, 4 and 6
    python benchmarks/gpu_check.py --quick --no-compile    # without the torch.compile half of section 1
    python benchmarks/gpu_check.py --realistic     # only section 8

Without a CUDA GPU it says so in one line and exits with status 1.

1. The MSE step and the GAN step (G + D + VGG19 to conv5_4, random VGG weights) of the paper's networks
   (G 16 blocks x 64 ch, D 64 ch, batch 16, 96-px HR) through the project's trainers, in fp32, bf16 and fp16,
   with and without torch.compile: images/s.
2. fp16 training: 40 MSE steps with the gradient scaler; the loss falls and stays finite.
3. No stalls: the MSE step fed by the real batch pipeline (uint8 crops gathered on the host, pinned, copied
   asynchronously, prepared one step ahead) against batches already on the GPU.
4. Tiled inference of a 1024x1024 LR image at x4, bf16 against fp32, and the PSNR between them.
5. torchrun with one process: the training stages' launch path (LOCAL_RANK, device choice) under
   torch.distributed.run.
6. The default GAN of params.yaml (resize-conv G, spectral-norm D on the high-pass, feature matching, low-pass
   content) on the GPU, fed by the real batch pipeline: losses finite, images/s (`--default-gan` runs only this).
7. Precision `auto` on this GPU, and the `upscale` command with the trained models (models/*.pt, when present) on
   the held-out photos, in `auto` and in fp32: seconds, and how far apart the two outputs are per pixel.
8. `data.degradation: realistic` on the GPU: the bf16 MSE step fed by DegradedBatches (each sample's LR drawn on
   the host, params.yaml's ranges and margin, made one step ahead) against batches already on the GPU, and the
   host's time to draw one batch.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from machine import PRECISIONS, describe_cpu

from srgan.config import parse_section
from srgan.losses import ContentLoss, VGGFeatures
from srgan.models.discriminator import Discriminator
from srgan.models.generator import Generator
from srgan.train.batches import DegradedBatches, PairBatches, Prefetched
from srgan.train.gan import GanTrainer
from srgan.train.pretrain import MSETrainer

SIZE, BATCH = 96, 16


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def vgg() -> VGGFeatures:
    from torchvision.models import vgg19

    return VGGFeatures(vgg19(weights=None).state_dict(), ["vgg54"])


def fixed_batches(device):
    hr = torch.rand(BATCH, 3, SIZE, SIZE, device=device).contiguous(memory_format=torch.channels_last)
    lr = F.avg_pool2d(hr, 4).contiguous(memory_format=torch.channels_last)
    return lambda step: (lr, hr)


def mse_trainer(device, precision, compile, batches=None):
    torch.manual_seed(0)
    params = parse_section("pretrain", {"steps": 10**6, "batch_size": BATCH, "precision": precision})
    return MSETrainer(Generator(4, 16, 64), batches or fixed_batches(device), params, device, compile=compile)


def gan_trainer(device, precision, compile):
    torch.manual_seed(0)
    params = parse_section("gan", {"steps": 10**6, "batch_size": BATCH, "precision": precision,
                                   "adv_ramp": {"schedule": "constant"}})
    return GanTrainer(Generator(4, 16, 64), Discriminator(SIZE, 64, "batch", 1024), ContentLoss({"vgg54": 1.0}, vgg()),
                      fixed_batches(device), params, device, compile=compile)


def images_per_s(trainer, steps: int, warmup: int = 3) -> float:
    for index in range(warmup):
        trainer.step(index)
    sync()
    start = time.perf_counter()
    for index in range(steps):
        losses = trainer.step(warmup + index)
    float(next(iter(losses.values())))  # one read-back, as at a log step
    sync()
    return BATCH * steps / (time.perf_counter() - start)


def step_speeds(device, steps: int, compile: bool, precisions: list[str]) -> None:
    print(f"1. steps of the paper's networks, batch {BATCH}, {SIZE}-px HR (images/s)"
          + (", with torch.compile (time includes compiling)" if compile else ""))
    for name, make in (("MSE step", mse_trainer), ("GAN step (G+D+VGG54)", gan_trainer)):
        for precision in precisions:
            start = time.perf_counter()
            try:
                speed = images_per_s(make(device, precision, compile), steps if name == "MSE step" else steps // 2)
            except Exception as err:  # noqa: BLE001 - report and go on: one short run measures everything
                print(f"   {name:22s} {precision:5s} failed: {type(err).__name__}: {err}", flush=True)
                continue
            label = precision + (" + compile" if compile else "")
            setup = time.perf_counter() - start
            print(f"   {name:22s} {label:16s} {speed:8.1f} img/s   (setup and warm-up {setup:5.1f} s)", flush=True)


def fp16_training(device) -> None:
    trainer = mse_trainer(device, "fp16", False)
    losses = [float(trainer.step(index)["train/mse"]) for index in range(40)]
    scale = trainer.optimiser.scaler.get_scale()
    print(f"2. fp16 training with the gradient scaler: MSE {losses[0]:.4f} -> {losses[-1]:.4f}, all finite: "
          f"{all(map(math.isfinite, losses))}, scaler scale {scale:g}, in the state: "
          f"{'scaler' in trainer.state_dict()['optimiser']}", flush=True)


def stalls(device, steps: int) -> None:
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (512, SIZE, SIZE, 3), dtype=np.uint8)
    lr = hr[:, ::4, ::4].copy()
    pipeline = Prefetched(PairBatches(lr, hr, BATCH, 0, device), device)
    fed = images_per_s(mse_trainer(device, "bf16", False, pipeline), steps)
    pipeline.close()
    resident = images_per_s(mse_trainer(device, "bf16", False), steps)
    print(f"3. bf16 MSE step fed from host memory (pinned, async, prefetched): {fed:.1f} img/s; "
          f"batches already on the GPU: {resident:.1f} img/s ({fed / resident:.0%})", flush=True)


def inference(device, precisions: list[str]) -> None:
    from srgan.inference import upscale_tensor

    torch.manual_seed(0)
    generator = Generator(4, 16, 64, bicubic_skip=True).to(device).eval()
    lr = torch.rand(1, 3, 1024, 1024)
    outputs = {}
    for precision in dict.fromkeys(["fp32", *precisions]):
        upscale_tensor(generator, lr[:, :, :256, :256], precision=precision)  # warm-up
        sync()
        start = time.perf_counter()
        outputs[precision] = (upscale_tensor(generator, lr, tile=256, precision=precision, batch=8) * 255).round()
        sync()
        print(f"4. 1024x1024 LR x4, 256-px tiles, {precision}: {time.perf_counter() - start:6.2f} s", flush=True)
    for precision in [p for p in precisions if p != "fp32"]:
        mse = float(((outputs[precision] - outputs["fp32"]) ** 2).mean())
        print(f"   PSNR {precision} against fp32: {10 * math.log10(255**2 / max(mse, 1e-12)):.1f} dB")


def worker(steps: int) -> None:
    """One torchrun process: the stages' own start-up (device from LOCAL_RANK, process group) and loop."""
    from srgan.config import ExecutionParams
    from srgan.stages._training import start_training
    from srgan.train.checkpoint import RunStore
    from srgan.train.loop import run_loop

    session = start_training(ExecutionParams(device="auto", nproc_per_node=1), seed=0)
    params = parse_section("pretrain", {"steps": steps, "batch_size": BATCH, "precision": "bf16", "log_every": steps,
                                        "checkpoint_every": 10**6})
    trainer = MSETrainer(Generator(4, 16, 64), fixed_batches(session.device), params, session.device, session.dist)
    start = time.perf_counter()
    run_loop(trainer, params, store=RunStore(f"/tmp/gpu-check-{os.getpid()}", "pretrain", "0" * 16),
             dist=session.dist)
    sync()
    print(f"5. under torchrun: LOCAL_RANK {os.environ.get('LOCAL_RANK')}, WORLD_SIZE {os.environ.get('WORLD_SIZE')}, "
          f"device {session.device}, {steps} bf16 MSE steps at {BATCH * steps / (time.perf_counter() - start):.1f} "
          f"img/s (run_loop, start-up included)", flush=True)


def default_gan(device, steps: int, precisions: list[str]) -> None:
    """The offline default's GAN section and networks, as train_gan builds them, on the GPU."""
    import yaml

    from srgan.losses import content_weights_for

    raw = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "..", "params.yaml")))
    size, model = raw["data"]["hr_size"], raw["model"]
    hr = np.random.default_rng(0).integers(0, 256, (256, size, size, 3), dtype=np.uint8)
    lr = hr.reshape(256, size // 4, 4, size // 4, 4, 3).mean(axis=(2, 4)).astype(np.uint8)
    for precision in precisions:
        torch.manual_seed(0)
        params = parse_section("gan", {**raw["gan"], "precision": precision})
        weights, _ = content_weights_for(params.content.model_dump(), False, "gpu_check: no VGG19")
        batches = Prefetched(PairBatches(lr, hr, params.batch_size, 0, device), device)
        trainer = GanTrainer(Generator(4, **model["generator"]), Discriminator(size, **model["discriminator"]),
                             ContentLoss(weights), batches, params, device)
        losses = {}
        for index in range(params.d_warmup_steps, params.d_warmup_steps + 3):
            trainer.step(index)
        sync()
        start = time.perf_counter()
        for index in range(params.d_warmup_steps + 3, params.d_warmup_steps + 3 + steps):
            losses = trainer.step(index)
        finite = all(math.isfinite(float(value)) for value in losses.values())
        sync()
        speed = params.batch_size * steps / (time.perf_counter() - start)
        print(f"6. default GAN (params.yaml) {precision}: {speed:7.1f} img/s, losses all finite: {finite}",
              flush=True)


def upscale_command(device) -> None:
    from PIL import Image

    from srgan.precision import resolve_precision

    resolved = resolve_precision("auto", device)
    print(f"7. precision auto on {torch.cuda.get_device_name(0)}: {resolved.name} ({resolved.reason})", flush=True)
    root = os.path.join(os.path.dirname(__file__), "..")
    photos = os.path.join(root, "data", "raw", "eval", "skimage")
    for model in ("srresnet", "srgan"):
        path = os.path.join(root, "models", f"{model}.pt")
        if not os.path.exists(path) or not os.path.isdir(photos):
            print(f"   {model}: models/{model}.pt or data/raw/eval is not here; skipped", flush=True)
            continue
        outputs = {}
        for precision in ("auto", "fp32"):
            out = f"/tmp/gpu-check-upscaled-{model}-{precision}"
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "srgan.upscale", path, photos, "-o", out, "--device", "cuda",
                            "--precision", precision], check=True, stdout=subprocess.DEVNULL)
            seconds = time.perf_counter() - start
            outputs[precision] = {name: np.asarray(Image.open(os.path.join(out, name)), dtype=np.int16)
                                  for name in sorted(os.listdir(out)) if name.endswith(".png")}
            print(f"   upscale {model} --precision {precision}: {len(outputs[precision])} photos in {seconds:.1f} s "
                  "(the command, start-up included)", flush=True)
        gaps = [np.abs(outputs["auto"][name] - outputs["fp32"][name]) for name in outputs["fp32"]]
        print(f"   {model}: auto against fp32 per pixel: max {max(int(g.max()) for g in gaps)}, mean "
              f"{np.mean([g.mean() for g in gaps]):.2f} grey levels", flush=True)


def realistic_feed(device, steps: int) -> None:
    import yaml

    from srgan.config import ExecutionParams
    from srgan.data.degradations import degraded_pair
    from srgan.stages._training import degradation_workers

    raw = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "..", "params.yaml")))
    data = parse_section("data", {**raw["data"], "hr_size": SIZE, "scale": 4, "degradation": "realistic"})
    side = SIZE + 2 * data.realistic.margin
    regions = np.random.default_rng(0).integers(0, 256, (256, side, side, 3), dtype=np.uint8)
    degrade = partial(degraded_pair, scale=4, params=data.realistic)
    drawn_here = DegradedBatches(regions, degrade, BATCH, 0, device)
    start = time.perf_counter()
    for step in range(5):
        drawn_here(step)
    sync()
    print(f"8. realistic degradation (params.yaml's ranges, margin {data.realistic.margin}): one batch of {BATCH} "
          f"drawn in the training process in {(time.perf_counter() - start) / 5:.2f} s", flush=True)
    resident = images_per_s(mse_trainer(device, "bf16", False), steps)
    for workers in (0, degradation_workers(ExecutionParams(), device)):
        pipeline = Prefetched(DegradedBatches(regions, degrade, BATCH, 0, device, workers=workers), device)
        # Warm-up until the workers' head start (two batches each) is used up, then steady state.
        fed = images_per_s(mse_trainer(device, "bf16", False, pipeline), steps * 10, warmup=2 * workers + 3)
        pipeline.close()
        print(f"   bf16 MSE step fed by {workers or 'no'} degradation workers: {fed:.1f} img/s; batches already on "
              f"the GPU: {resident:.1f} img/s ({fed / resident:.0%})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--default-gan", action="store_true", help="only section 6")
    parser.add_argument("--realistic", action="store_true", help="only section 8")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile half of section 1")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--precision", nargs="+", choices=PRECISIONS, default=list(PRECISIONS),
                        help="precisions of sections 1, 4 and 6 (default: all three)")
    args = parser.parse_args()
    steps = 10 if args.quick else 30
    if args.worker:
        worker(steps)
        return
    print(describe_cpu(), flush=True)
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU visible to torch (torch.cuda.is_available() is False); run it on a machine "
              "with one. The CPU numbers come from benchmarks/train_throughput.py.", file=sys.stderr)
        sys.exit(1)
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}, native bf16: "
          f"{torch.cuda.is_bf16_supported()}", flush=True)
    if args.realistic:
        realistic_feed(device, steps)
        return
    default_gan(device, steps, [p for p in args.precision if p != "fp16"])
    if args.default_gan:
        return
    step_speeds(device, steps, False, args.precision)
    fp16_training(device)
    stalls(device, steps)
    inference(device, args.precision)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1",
                    __file__, "--worker"] + (["--quick"] if args.quick else []), check=True)
    upscale_command(device)
    realistic_feed(device, steps)
    if not args.no_compile:
        step_speeds(device, steps, True, args.precision)


if __name__ == "__main__":
    main()
