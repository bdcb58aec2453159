"""Devices by name, and a free GPU per process for `auto` (claims tested with real processes and lock files)."""

import multiprocessing

import pytest
import torch

from srgan.devices import check_device, claim_gpu, pick_device
from srgan.errors import SrganError


@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "cuda:3"])
def test_known_device_names_are_accepted_as_given(name):
    assert check_device(name) == name


@pytest.mark.parametrize("name", ["foo", "gpu", "cuda:x", "", 3])
def test_unknown_names_are_one_error_naming_the_key(name):
    with pytest.raises(SrganError, match="--device: expected auto, cpu, cuda or cuda:N"):
        pick_device(name, key="--device")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_cuda_says_what_to_do():
    assert pick_device("auto") == torch.device("cpu")
    with pytest.raises(SrganError, match="execution.device: cuda:1 requested but CUDA is not available"):
        pick_device("cuda:1", key="execution.device")


def _claim(lock_dir, queue, hold):
    queue.put(claim_gpu(["gpu-a", "gpu-b"], lock_dir=lock_dir))
    hold.wait(30)


def test_concurrent_processes_claim_different_gpus(tmp_path):
    """Two queued experiments starting at once land on two GPUs; a third, with all taken, gets one anyway."""
    context = multiprocessing.get_context("spawn")
    queue, hold = context.Queue(), context.Event()
    workers = [context.Process(target=_claim, args=(tmp_path, queue, hold)) for _ in range(2)]
    for worker in workers:
        worker.start()
    claimed = sorted(queue.get(timeout=60) for _ in workers)
    assert claimed == [0, 1]
    assert claim_gpu(["gpu-a", "gpu-b"], free_memory=lambda index: [5, 9][index], lock_dir=tmp_path) == 1
    hold.set()
    for worker in workers:
        worker.join(30)
    assert claim_gpu(["gpu-a", "gpu-b"], lock_dir=tmp_path) == 0  # the claims ended with their processes


def _hold(path, ready, hold):
    from srgan.devices import claim

    assert claim(path)
    ready.set()
    hold.wait(30)


def test_under_torchrun_process_n_claims_gpu_n_and_is_refused_when_taken_or_missing(tmp_path, monkeypatch):
    import types

    import torch

    import srgan.devices as devices

    monkeypatch.setattr(devices, "LOCK_DIR", tmp_path)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: types.SimpleNamespace(uuid=f"gpu-{index}"))
    with pytest.raises(SrganError, match="nproc_per_node: 3 processes on this machine, but it has 2 GPU"):
        devices._rank_gpu(0, 3, 2)
    context = multiprocessing.get_context("spawn")
    ready, hold = context.Event(), context.Event()
    other = context.Process(target=_hold, args=(tmp_path / "gpu-1.lock", ready, hold))
    other.start()
    try:
        assert ready.wait(60)
        assert devices._rank_gpu(0, 2, 2) == 0
        with pytest.raises(SrganError, match=r"cuda:1 \(the GPU of process 1\) is held by another srgan-dvc run"):
            devices._rank_gpu(1, 2, 2)
    finally:
        hold.set()
        other.join(30)
