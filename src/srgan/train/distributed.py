"""Data-parallel training with torch.distributed: N processes started by torchrun, one GPU (or CPU share) each.

`Dist` says which process this is and does the few collective operations the loops need. With one
process every operation is a no-op, so the loops have one code path. Networks are wrapped in
DistributedDataParallel (gradients averaged across ranks) with their BatchNorm layers synchronised,
so N processes computing 1/N of the global batch each train as one process with the whole batch.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

TIMEOUT = datetime.timedelta(minutes=60)  # rank 0 validates and checkpoints while the others wait


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def wrap(self, module: nn.Module, device: torch.device, find_unused: bool = False) -> nn.Module:
        """The module as DDP with synchronised BatchNorm (in place), or the module itself in one process."""
        if not self.active:
            return module
        sync_batchnorm(module, device)
        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=find_unused)

    def detached_mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean over ranks of a tensor every rank holds, element by element, detached: for reading values back
        (logged losses), never for a loss to train on (see differentiable_mean)."""
        if not self.active:
            return values
        values = values.detach().clone()
        dist.all_reduce(values)
        return values / self.world

    def differentiable_mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean of all of `values` over the global batch, differentiable: gradients reach every rank's share
        (a term of a loss, such as the relativistic loss's mean logits)."""
        if not self.active:
            return values.mean()
        return all_reduce_sum(values.sum()) / (values.numel() * self.world)

    def gather(self, batch: torch.Tensor) -> torch.Tensor:
        """Every rank's share of a batch, concatenated in rank order: the global batch."""
        if not self.active:
            return batch
        parts = [torch.empty_like(batch) for _ in range(self.world)]
        dist.all_gather(parts, batch.contiguous())
        return torch.cat(parts)

    def share(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's share of a global batch."""
        size = len(batch) // self.world
        return batch[self.rank * size:(self.rank + 1) * size]

    def broadcast(self, value):
        """Rank 0's value of any picklable object, on every rank (a resumed run's checkpoint)."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


def from_environment(device: torch.device) -> Dist:
    """The Dist of this process: under torchrun (WORLD_SIZE set), joined to its process group
    (NCCL between GPUs, gloo between CPU processes)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)
    return Dist(dist.get_rank(), dist.get_world_size())


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks whose gradient is the sum over ranks of the gradients: what a loss on the global batch
    gives each rank's share."""

    @staticmethod
    def forward(ctx, values: torch.Tensor) -> torch.Tensor:
        values = values.clone()
        dist.all_reduce(values)
        return values

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    return _AllReduceSum.apply(values)


class CpuSyncBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose batch statistics cover the whole global batch, on CPU processes (gloo).

    torch's SyncBatchNorm does this on GPUs only. Sums and sums of squares are all-reduced with the
    differentiable all_reduce, so gradients flow through the global statistics as they would in
    one process. Its state dict is a BatchNorm2d's.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        x32 = x.float()
        channels = x.shape[1]
        count = torch.full((1,), x.numel() / channels, dtype=torch.float32, device=x.device)
        stats = all_reduce_sum(torch.cat([x32.sum((0, 2, 3)), (x32 * x32).sum((0, 2, 3)), count]))
        total = stats[-1]
        mean = stats[:channels] / total
        var = (stats[channels:2 * channels] / total - mean * mean).clamp_min(0)
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            self.running_mean.lerp_(mean.detach(), self.momentum)
            self.running_var.lerp_(var.detach() * total / (total - 1), self.momentum)
        scale = self.weight / torch.sqrt(var + self.eps)
        out = (x32 - mean[None, :, None, None]) * scale[None, :, None, None] + self.bias[None, :, None, None]
        return out.to(x.dtype)


def sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Replace, in place, every BatchNorm2d under `module` by its cross-rank synchronised version."""
    if device.type == "cuda":
        return _replace_children(module, lambda bn: nn.SyncBatchNorm.convert_sync_batchnorm(bn))
    return _replace_children(module, _cpu_sync)


def _cpu_sync(bn: nn.BatchNorm2d) -> CpuSyncBatchNorm:
    synced = CpuSyncBatchNorm(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
    synced.load_state_dict(bn.state_dict())
    return synced.to(bn.weight.device)


def _replace_children(module: nn.Module, convert) -> nn.Module:
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            setattr(module, name, convert(child))
        else:
            _replace_children(child, convert)
    return module
