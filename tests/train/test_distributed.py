"""Data-parallel training with real processes and the gloo backend: for each training method, 2 processes end with
identical weights on both ranks, and where 1 process with the same global batch ends."""

import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from srgan.config import parse_section
from srgan.data.resize import degrade
from srgan.losses import ContentLoss
from srgan.models.discriminator import Discriminator
from srgan.models.generator import Generator
from srgan.train.batches import LQBatches, PairBatches, UnpairedBatches
from srgan.train.distributed import Dist
from srgan.train.gan import GanTrainer
from srgan.train.pretrain import MSETrainer
from srgan.train.unsupervised import UnsupervisedTrainer

CPU = torch.device("cpu")
STEPS = 4
METHODS = ("pretrain", "gan", "unpaired", "measurement")


def data(side: int = 32):
    rng = np.random.default_rng(0)
    hr = np.stack([np.kron(rng.integers(0, 256, (side // 4, side // 4, 3)), np.ones((4, 4, 1))).astype(np.uint8)
                   for _ in range(16)])
    return np.stack([degrade(h, 4) for h in hr]), hr, np.arange(16) % 4


def trainer(method: str, rank: int, world: int):
    """A tiny trainer of `method` whose global batch of 4 is split over `world` processes."""
    lr, hr, ids = data(64 if method == "measurement" else 32)
    torch.manual_seed(0)
    g = Generator(4, blocks=1, channels=8, norm="batch")  # BatchNorm: synchronised across ranks
    d = Discriminator(32, channels=4, norm="batch", dense=8)
    common = {"steps": STEPS, "batch_size": 4, "precision": "fp32"}
    if method == "pretrain":
        return MSETrainer(g, PairBatches(lr, hr, 4, 0, CPU, rank, world), parse_section("pretrain", common), CPU,
                          Dist(rank, world))
    if method == "gan":
        params = parse_section("gan", {**common, "content": {"mse": 1.0, "vgg54": 0.0, "feature_matching": 1.0},
                                       "replay": {"size": 8, "fraction": 0.5}, "adversarial": "relativistic",
                                       "adv_ramp": {"schedule": "constant"}, "adv_weight": 1e-2})
        return GanTrainer(g, d, ContentLoss({"mse": 1.0}), PairBatches(lr, hr, 4, 0, CPU, rank, world), params, CPU,
                          dist=Dist(rank, world))
    if method == "unpaired":
        batches = UnpairedBatches(lr, hr, ids, 4, 0, CPU, rank, world)
        params = parse_section("unsupervised", {**common, "mode": "unpaired"})
    else:
        batches = LQBatches(lr, 4, 0, CPU, rank, world)
        params = parse_section("unsupervised", {**common, "mode": "measurement"})
        d = Discriminator(16, channels=4, norm="batch", dense=8)
    return UnsupervisedTrainer(g, d, batches, params, CPU, dist=Dist(rank, world))


def weights(t) -> torch.Tensor:
    modules = [t.generator] + ([t.discriminator] if hasattr(t, "discriminator") else [])
    return torch.cat([value.detach().float().flatten() for m in modules for value in m.state_dict().values()])


def worker(rank: int, world: int, port: int, out: str) -> None:
    """Every method in turn, in one process group: a spawned process pays for importing torch once."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    for method in METHODS:
        t = trainer(method, rank, world)
        for index in range(STEPS):
            t.step(index)
        torch.save(weights(t), f"{out}.{method}.{rank}")
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{method: (rank 0's weights, rank 1's)} after STEPS steps on 2 gloo processes."""
    out = tmp_path_factory.mktemp("distributed") / "w"
    mp.spawn(worker, args=(2, free_port(), str(out)), nprocs=2, join=True)
    return {method: (torch.load(f"{out}.{method}.0"), torch.load(f"{out}.{method}.1")) for method in METHODS}


@pytest.mark.parametrize("method", METHODS)
def test_two_processes_end_identical_and_where_one_ends(method, two_processes):
    rank0, rank1 = two_processes[method]
    assert torch.equal(rank0, rank1), "both ranks must hold the same weights"
    torch.set_num_threads(1)
    single = trainer(method, 0, 1)
    for index in range(STEPS):
        single.step(index)
    # Same global batch, synchronised BatchNorm and averaged gradients: equal up to the order in which float
    # sums are added (all-reduce against one process's reductions). Adam divides each gradient by its own
    # running scale, so a weight whose true gradient is zero (the relativistic D's output bias: its loss is
    # invariant to a shift of all logits) moves on rounding noise alone, by up to Adam's largest step,
    # lr * (1 - beta1) / sqrt(1 - beta2) = 3.16 lr a step (Kingma and Ba 2015, 2.1), in each run and either
    # way; the tolerance is that bound over the steps, for both runs (lr 1e-4, betas 0.9 and 0.999: the paper's,
    # config.py's defaults). Every other weight agrees to ~1e-6.
    adam_bound = 1e-4 * (1 - 0.9) / (1 - 0.999) ** 0.5
    torch.testing.assert_close(rank0, weights(single), atol=2 * STEPS * adam_bound, rtol=0)
    assert (rank0 - weights(single)).abs().median() < 1e-6
