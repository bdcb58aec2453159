"""Data-parallel throughput: the default MSE step with 1 process and with N processes under torchrun.

    python benchmarks/distributed_throughput.py --processes 1 2

Each process count runs in its own `torchrun --standalone` (gloo on CPU, NCCL on GPUs), through the stages'
own start-up (srgan.stages._training.start_training) and the project's trainer, with the same global batch;
rank 0 reports images/s over the timed steps. On a CPU, N processes share the same cores, so expect no
speed-up: data parallelism is for several GPUs (or machines).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import torch
from machine import add_precision_flag, default_precision, describe_cpu


def worker(steps: int, batch: int, precision: str) -> None:
    from srgan.config import ExecutionParams, parse_section
    from srgan.models.generator import Generator
    from srgan.stages._training import start_training
    from srgan.train.pretrain import MSETrainer

    session = start_training(ExecutionParams(device="auto"), seed=0)
    world, rank = session.dist.world, session.dist.rank
    hr = torch.rand(batch // world, 3, 96, 96, device=session.device).contiguous(memory_format=torch.channels_last)
    lr = torch.nn.functional.avg_pool2d(hr, 4).contiguous(memory_format=torch.channels_last)
    params = parse_section("pretrain", {"steps": steps, "batch_size": batch, "precision": precision})
    trainer = MSETrainer(Generator(4, 8, 32, bicubic_skip=True, upsample="nearest"), lambda step: (lr, hr), params,
                         session.device, session.dist)
    for index in range(3):
        trainer.step(index)
    session.dist.barrier()
    start = time.perf_counter()
    for index in range(steps):
        losses = trainer.step(index)
    float(losses["train/mse"])
    session.dist.barrier()
    if rank == 0:
        rate = batch * steps / (time.perf_counter() - start)
        print(f"{world} process(es) on {session.device.type}, {torch.get_num_threads()} thread(s) each: "
              f"{rate:.1f} img/s (global batch {batch})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    add_precision_flag(parser, default_precision(), "the MSE step")
    args = parser.parse_args()
    if args.worker:
        worker(args.steps, args.batch, args.precision)
        return
    print(describe_cpu(), flush=True)
    print(f"default generator (8 blocks x 32 ch), {args.precision} MSE step, 96-px crops", flush=True)
    for processes in args.processes:
        subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                        str(processes), __file__, "--worker", "--steps", str(args.steps), "--batch", str(args.batch),
                        "--precision", args.precision],
                       check=True)


if __name__ == "__main__":
    main()
