"""Seeded training batches from the prepared crops, split across ranks, made ahead of time.

The global batch of step k is a pure function of (seed, k): a resumed run draws exactly the batches
an uninterrupted one would, and N data-parallel processes each take their 1/N of the same global
batch, so they train on the samples one process would.

Image batches are named as in BasicSR: `lq` the low-resolution inputs, `gt` their high-resolution ground
truth; in the training code `lr` is only ever a learning rate.
"""

from __future__ import annotations

import itertools
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from srgan.errors import SrganError

SUB_CROP_STREAM = 1  # keeps the sub-crop offsets' random stream apart from the degradation draws'


def to_tensor(images: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [0, 1], channels-last in memory (faster convs).

    The uint8 batch travels to the GPU (pinned, asynchronously) and is converted there: a quarter of
    the bytes of a float copy.
    """
    tensor = torch.as_tensor(np.ascontiguousarray(images))
    if device.type == "cuda":
        tensor = tensor.pin_memory().to(device, non_blocking=True)
    return tensor.permute(0, 3, 1, 2).float().div_(255.0).contiguous(memory_format=torch.channels_last)


class PairBatches:
    """Seeded random batches of (lq, gt) float tensors from uint8 NHWC arrays (memory-mapped is fine).

    Each epoch is a fresh permutation seeded by (seed, epoch). `batch_size` is the global batch;
    process `rank` of `world` gets its contiguous share of the (sorted) global batch.
    """

    def __init__(self, lq: np.ndarray, gt: np.ndarray, batch_size: int, seed: int, device: torch.device,
                 rank: int = 0, world: int = 1):
        if len(lq) != len(gt) or len(gt) == 0:
            raise SrganError(f"training pairs are empty or mismatched ({len(lq)} LR, {len(gt)} HR); rerun prepare")
        if batch_size % world:
            raise SrganError(f"a batch of {batch_size} cannot be split evenly over {world} processes")
        self.lq, self.gt = lq, gt
        self.batch_size, self.seed, self.device = batch_size, seed, device
        self.share = slice(rank * batch_size // world, (rank + 1) * batch_size // world)
        self._epoch, self._order = -1, None

    def indices(self, step: int) -> np.ndarray:
        """Crop indices of the global batch of `step`, in drawing order."""
        count = len(self.gt)
        positions = np.arange(step * self.batch_size, (step + 1) * self.batch_size)
        out = np.empty(self.batch_size, dtype=np.int64)
        for i, position in enumerate(positions):
            epoch = int(position // count)
            if epoch != self._epoch:
                generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                self._epoch, self._order = epoch, torch.randperm(count, generator=generator).numpy()
            out[i] = self._order[position % count]
        return out

    def local_indices(self, step: int) -> np.ndarray:
        """This rank's crop indices for `step`, sorted for locality in the memory-mapped arrays."""
        return np.sort(self.indices(step))[self.share]

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = self.local_indices(step)
        return to_tensor(self.lq[index], self.device), to_tensor(self.gt[index], self.device)


class DegradedBatches:
    """Seeded (lq, gt) batches whose LR is drawn afresh for every sample of every step (as Real-ESRGAN trains):
    `degrade(region, rng=rng) -> (lq, gt)` of each HR region of `regions` (uint8 NHWC).

    The regions of a step are PairBatches' global batch; the draw of each is seeded by (seed, step, its position
    in the sorted global batch), so a resumed run and N data-parallel processes draw what one process would.

    With `workers` > 0 the draws are made by that many worker processes (torch's DataLoader), several steps
    ahead: on a GPU the draws of one host thread feed the MSE step at a tenth of its speed (measured:
    benchmarks/gpu_check.py, section 8). The batches are the same with or without workers.
    """

    def __init__(self, regions: np.ndarray, degrade: Callable[[np.ndarray, np.random.Generator], tuple],
                 batch_size: int, seed: int, device: torch.device, rank: int = 0, world: int = 1, workers: int = 0):
        self.batches = PairBatches(regions, regions, batch_size, seed, device, rank, world)
        self.degrade, self.workers = degrade, workers
        self._next_step, self._drawn = -1, None

    def draw(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """This process's (lq, gt) share of step `step`, uint8 NHWC, drawn here."""
        batches = self.batches
        positions = range(batches.share.start, batches.share.stop)
        pairs = [self.degrade(batches.gt[index], rng=np.random.default_rng([batches.seed, step, position]))
                 for index, position in zip(batches.local_indices(step), positions, strict=True)]
        return tuple(np.stack(images) for images in zip(*pairs, strict=True))

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        lq, gt = self._from_workers(step) if self.workers else self.draw(step)
        return to_tensor(lq, self.batches.device), to_tensor(gt, self.batches.device)

    def _from_workers(self, step: int) -> tuple:
        if step != self._next_step:  # the first step, or a jump: start drawing from `step` on
            self.close()
            loader = DataLoader(_Draws(self), batch_size=None, sampler=itertools.count(step),
                                num_workers=self.workers, prefetch_factor=2)
            self._drawn = iter(loader)
        self._next_step = step + 1
        return next(self._drawn)

    def close(self) -> None:
        """Stop the worker processes (dropping the DataLoader's iterator shuts them down)."""
        self._drawn, self._next_step = None, -1


class _Draws(Dataset):
    """Step k -> DegradedBatches.draw(k), for the DataLoader's worker processes."""

    def __init__(self, source: DegradedBatches):
        self.draw = source.draw

    def __getitem__(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        return self.draw(step)


class SubCropped:
    """The (lq, gt) batches of a source cut to random aligned sub-crops, `size` HR pixels a side: smaller crops
    make cheaper steps (the MSE pretraining's lever on a CPU). The offset of each sample is seeded by (seed, step,
    its position in the global batch), as DegradedBatches' draws are, so resumed and data-parallel runs cut what
    one process would. `first` is the global position of this process's first sample."""

    def __init__(self, source: Callable[[int], tuple], size: int, scale: int, seed: int, first: int = 0):
        self.source, self.size, self.scale, self.seed, self.first = source, size, scale, seed, first

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        lq, gt = self.source(step)
        side = self.size // self.scale
        room = lq.shape[-2] - side + 1, lq.shape[-1] - side + 1
        lq_crops, gt_crops = [], []
        for i in range(len(lq)):
            rng = np.random.default_rng([self.seed, step, self.first + i, SUB_CROP_STREAM])
            top, left = int(rng.integers(room[0])), int(rng.integers(room[1]))
            lq_crops.append(lq[i, :, top:top + side, left:left + side])
            gt_crops.append(gt[i, :, top * self.scale:(top + side) * self.scale,
                               left * self.scale:(left + side) * self.scale])
        return tuple(torch.stack(crops).contiguous(memory_format=torch.channels_last)
                     for crops in (lq_crops, gt_crops))

    def close(self) -> None:
        close_source(self.source)


class UnpairedBatches:
    """LR inputs from one half of the training images, real HR crops from the other half.

    Images are split by their index (even: inputs, odd: real HR), so no batch can ever pair an
    input with its own HR. Batches are a pure function of (seed, step), like PairBatches.
    """

    def __init__(self, lq: np.ndarray, gt: np.ndarray, image_ids: np.ndarray, batch_size: int, seed: int,
                 device: torch.device, rank: int = 0, world: int = 1):
        inputs = np.flatnonzero(image_ids % 2 == 0)
        reals = np.flatnonzero(image_ids % 2 == 1)
        if len(inputs) == 0 or len(reals) == 0:
            raise SrganError("unpaired training needs at least two training images (inputs and real HR come "
                             "from different images); add images to data.train")
        self.image_ids = image_ids
        self.inputs = PairBatches(lq[inputs], lq[inputs], batch_size, seed, device, rank, world)
        self.reals = PairBatches(gt[reals], gt[reals], batch_size, seed + 1, device, rank, world)
        self.input_index, self.real_index = inputs, reals

    def indices(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Crop indices (into the full arrays) of the LR inputs and of the real HR crops of a step."""
        return self.input_index[self.inputs.indices(step)], self.real_index[self.reals.indices(step)]

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs(step)[0], self.reals(step)[0]


class LQBatches:
    """Seeded batches of LR crops alone: the measurement mode never sees an HR image."""

    def __init__(self, lq: np.ndarray, batch_size: int, seed: int, device: torch.device, rank: int = 0,
                 world: int = 1):
        self.batches = PairBatches(lq, lq, batch_size, seed, device, rank, world)

    def __call__(self, step: int) -> tuple[torch.Tensor, None]:
        return to_tensor(self.batches.lq[self.batches.local_indices(step)], self.batches.device), None


class Prefetched:
    """The batches of a source, each made in a background thread while the step before it trains.

    Steps are asked for in order, so after step k the batch of step k + 1 is prepared ahead: the
    gather from the memory-mapped arrays and the copy to the GPU overlap with the GPU's compute. The
    batch of a step is the same with or without prefetching. On a CPU the thread would only compete
    with training for the same cores (measured: 26 % slower on 2 cores), so there batches are made
    when asked for.
    """

    def __init__(self, source: Callable[[int], tuple], device: torch.device, ahead: bool | None = None):
        self.source = source
        self.ahead = device.type == "cuda" if ahead is None else ahead
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batches") if self.ahead else None
        self._ahead: dict[int, Future] = {}

    def __call__(self, step: int) -> tuple:
        if not self.ahead:
            return self.source(step)
        future = self._ahead.pop(step, None)
        batch = future.result() if future is not None else self.source(step)
        for stale in [key for key in self._ahead if key < step]:
            self._ahead.pop(stale).cancel()
        if step + 1 not in self._ahead:
            self._ahead[step + 1] = self._worker.submit(self.source, step + 1)
        return batch

    def close(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=True, cancel_futures=True)
        close_source(self.source)


def close_source(source: Callable) -> None:
    """Stop what a batch source runs in the background (worker processes), if anything."""
    if hasattr(source, "close"):
        source.close()
