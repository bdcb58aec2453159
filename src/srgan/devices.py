"""Which device to run on: `auto`, `cpu`, `cuda` or `cuda:N`, checked, with a free GPU for `auto`.

With several GPUs, `auto` claims one that no other srgan-dvc process on this machine holds (an
advisory lock per GPU, released when the process ends), so the experiments of `dvc queue start
--jobs N` spread over the GPUs instead of all landing on cuda:0. Under torchrun process N of a
machine takes its GPU N, claimed the same way (refused when taken, or when there are fewer GPUs than processes).
"""

from __future__ import annotations

import fcntl
import functools
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from srgan.config import DEVICE_PATTERN
from srgan.errors import SrganError

if TYPE_CHECKING:
    import torch

LOCK_DIR = Path(tempfile.gettempdir()) / "srgan-dvc-gpus"
_held: list = []  # open lock files: a claim lasts as long as the process


def check_device(name: object, key: str = "device") -> str:
    """The device name if it is one this project understands, else an error naming `key`."""
    if not isinstance(name, str) or not DEVICE_PATTERN.fullmatch(name):
        raise SrganError(f"{key}: expected auto, cpu, cuda or cuda:N, got {name!r}")
    return name


def pick_device(name: str = "auto", key: str = "device") -> torch.device:
    """The torch device for a checked name; `auto` is a free GPU when there is one, else the CPU."""
    import torch  # here: checking a name (check_device) needs no torch

    check_device(name, key)
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        if name == "auto":
            return torch.device("cpu")
        raise SrganError(f"{key}: {name} requested but CUDA is not available here; use auto or cpu")
    count = torch.cuda.device_count()
    if "LOCAL_RANK" in os.environ and name in ("auto", "cuda"):
        return torch.device("cuda", _rank_gpu(int(os.environ["LOCAL_RANK"]),
                                              int(os.environ.get("LOCAL_WORLD_SIZE", "1")), count))
    if name == "auto":
        return torch.device("cuda", _auto_gpu())
    index = int(name.partition(":")[2] or 0)
    if index >= count:
        raise SrganError(f"{key}: {name} requested but this machine has {count} GPU(s) (cuda:0 to cuda:{count - 1})")
    return torch.device("cuda", index)


def _rank_gpu(local_rank: int, local_processes: int, count: int) -> int:
    """Under torchrun, process N of a machine trains on its GPU N, claimed like `auto` claims one, so that a
    concurrent experiment cannot land on it."""
    import torch

    if local_processes > count:
        raise SrganError(f"execution.nproc_per_node: {local_processes} processes on this machine, but it has {count} "
                         "GPU(s); one process per GPU")
    uuid = str(torch.cuda.get_device_properties(local_rank).uuid)
    if not claim(LOCK_DIR / f"{uuid}.lock"):
        raise SrganError(f"execution.device: cuda:{local_rank} (the GPU of process {local_rank}) is held by another "
                         "srgan-dvc run; run fewer at once (dvc queue start --jobs), or wait")
    return local_rank


def claim(path: Path) -> bool:
    """Claim a lock file for as long as this process lives; False when another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return False
    _held.append(handle)
    return True


@functools.cache
def _auto_gpu() -> int:
    import torch

    count = torch.cuda.device_count()
    return claim_gpu([str(torch.cuda.get_device_properties(i).uuid) for i in range(count)],
                     free_memory=lambda i: torch.cuda.mem_get_info(i)[0])


def claim_gpu(uuids: list[str], free_memory=lambda index: 0, lock_dir: Path = LOCK_DIR) -> int:
    """Index of the first GPU no other process has claimed (claiming it); if all are taken, the emptiest."""
    for index, uuid in enumerate(uuids):
        if claim(lock_dir / f"{uuid}.lock"):
            return index
    return max(range(len(uuids)), key=free_memory)
