"""Seeded batches: a pure function of (seed, step), split across ranks, degraded afresh, unpaired and LR-only,
prefetched."""

import multiprocessing

import numpy as np
import pytest
import torch
from tests.train.conftest import CPU

from srgan.errors import SrganError
from srgan.train.batches import (
    DegradedBatches,
    LQBatches,
    PairBatches,
    Prefetched,
    SubCropped,
    UnpairedBatches,
    to_tensor,
)


def test_batches_are_a_function_of_seed_and_step(pairs):
    first = PairBatches(*pairs, batch_size=5, seed=3, device=CPU)
    second = PairBatches(*pairs, batch_size=5, seed=3, device=CPU)
    assert [first.indices(k).tolist() for k in (4, 0, 7)] == [second.indices(k).tolist() for k in (4, 0, 7)]
    other = PairBatches(*pairs, batch_size=5, seed=4, device=CPU)
    assert any(first.indices(k).tolist() != other.indices(k).tolist() for k in range(3))


def test_each_epoch_visits_every_pair_once(pairs):
    batches = PairBatches(*pairs, batch_size=4, seed=0, device=CPU)  # 12 pairs: 3 batches an epoch
    epoch = np.concatenate([batches.indices(k) for k in range(3)])
    assert sorted(epoch.tolist()) == list(range(12))


def test_a_batch_is_channels_last_float_tensors_in_the_unit_range(pairs):
    lr, hr = PairBatches(*pairs, batch_size=4, seed=0, device=CPU)(0)
    assert lr.shape == (4, 3, 8, 8) and hr.shape == (4, 3, 32, 32)
    assert lr.dtype == torch.float32 and 0 <= float(lr.min()) and float(hr.max()) <= 1
    assert lr.is_contiguous(memory_format=torch.channels_last)


def test_to_tensor_scales_uint8_to_unit_floats():
    images = np.array([[[[0, 51, 255]]]], dtype=np.uint8)  # (1, 1, 1, 3)
    tensor = to_tensor(images, CPU)
    assert tensor.shape == (1, 3, 1, 1)
    assert tensor.flatten().tolist() == pytest.approx([0.0, 0.2, 1.0])


def test_empty_pairs_are_an_error():
    empty = np.zeros((0, 8, 8, 3), np.uint8)
    with pytest.raises(SrganError, match="rerun prepare"):
        PairBatches(empty, empty, 4, 0, CPU)


def test_the_shares_of_two_ranks_make_the_one_process_batch(pairs):
    whole = PairBatches(*pairs, batch_size=6, seed=2, device=CPU)
    ranks = [PairBatches(*pairs, batch_size=6, seed=2, device=CPU, rank=rank, world=2) for rank in (0, 1)]
    for step in range(5):  # crosses epochs (12 pairs, 6 a batch)
        lr, hr = whole(step)
        shares = [batches(step) for batches in ranks]
        assert all(len(share[0]) == 3 for share in shares)
        assert torch.equal(torch.cat([share[0] for share in shares]), lr)
        assert torch.equal(torch.cat([share[1] for share in shares]), hr)
        assert not set(ranks[0].local_indices(step)) & set(ranks[1].local_indices(step))


def test_a_batch_must_split_evenly_over_the_ranks(pairs):
    with pytest.raises(SrganError, match="cannot be split evenly over 4 processes"):
        PairBatches(*pairs, batch_size=6, seed=0, device=CPU, rank=0, world=4)


class Counting:
    """A batch source that remembers every step it was asked for."""

    def __init__(self, source):
        self.source, self.calls = source, []

    def __call__(self, step):
        self.calls.append(step)
        return self.source(step)


@pytest.mark.parametrize("start", [0, 3])  # 3: a resumed run asks for its first step out of the blue
def test_prefetched_gives_the_batches_of_its_source(pairs, start):
    source = PairBatches(*pairs, batch_size=4, seed=1, device=CPU)
    counting = Counting(PairBatches(*pairs, batch_size=4, seed=1, device=CPU))
    prefetched = Prefetched(counting, CPU, ahead=True)
    try:
        for step in range(start, start + 6):
            lr, hr = prefetched(step)
            expected_lr, expected_hr = source(step)
            assert torch.equal(lr, expected_lr) and torch.equal(hr, expected_hr), step
        made = list(counting.calls)
        # Asked again, out of order: still the step's batch (the batches made ahead for later steps are dropped).
        for step in (start + 2, start + 1, start + 5):
            assert torch.equal(prefetched(step)[1], source(step)[1]), step
    finally:
        prefetched.close()
    # In order, each step's batch is made once (ahead of time, for every step after the first).
    assert all(made.count(step) == 1 for step in range(start, start + 6)), made


def test_batches_are_made_ahead_on_gpus_only(pairs):
    """On a CPU a prefetching thread competes with training for the same cores: batches are made when asked."""
    counting = Counting(PairBatches(*pairs, batch_size=4, seed=1, device=CPU))
    on_cpu = Prefetched(counting, CPU)
    on_cpu(0)
    on_cpu(1)
    on_cpu.close()
    assert counting.calls == [0, 1] and not on_cpu.ahead
    assert Prefetched(counting, torch.device("cuda"), ahead=None).ahead


def test_crops_remember_their_image(crops):
    lr, hr, ids = crops
    assert ids.tolist() == [i for i in range(5) for _ in range(4)]


def test_unpaired_sampler_never_pairs_an_input_with_its_own_hr(crops):
    lr, hr, ids = crops
    batches = UnpairedBatches(lr, hr, ids, batch_size=6, seed=0, device=CPU)
    for step in range(50):
        inputs, reals = batches.indices(step)
        assert not set(ids[inputs]) & set(ids[reals])
        assert set(ids[inputs]) <= {0, 2, 4} and set(ids[reals]) <= {1, 3}
    lr_batch, hr_batch = batches(0)
    assert lr_batch.shape == (6, 3, 16, 16) and hr_batch.shape == (6, 3, 64, 64)


def test_unpaired_shares_of_two_ranks_make_the_one_process_batch(crops):
    lr, hr, ids = crops
    whole = UnpairedBatches(lr, hr, ids, batch_size=4, seed=0, device=CPU)
    ranks = [UnpairedBatches(lr, hr, ids, batch_size=4, seed=0, device=CPU, rank=rank, world=2) for rank in (0, 1)]
    for step in range(3):
        inputs, reals = whole(step)
        shares = [batches(step) for batches in ranks]
        assert torch.equal(torch.cat([share[0] for share in shares]), inputs)
        assert torch.equal(torch.cat([share[1] for share in shares]), reals)


def test_unpaired_needs_two_images(crops):
    lr, hr, ids = crops
    with pytest.raises(SrganError, match="at least two training images"):
        UnpairedBatches(lr, hr, np.zeros_like(ids), 4, 0, CPU)


def test_measurement_mode_never_sees_hr(crops):
    lr, _, _ = crops
    lr_batch, nothing = LQBatches(lr, 4, 0, CPU)(0)
    assert nothing is None and lr_batch.shape == (4, 3, 16, 16)
    assert torch.equal(lr_batch, PairBatches(lr, lr, 4, 0, CPU)(0)[0])


def _noisy_quarter(region: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A stand-in degradation: the region's 4x-subsampled centre plus a seeded random offset; the centre as HR."""
    centre = region[8:-8, 8:-8]
    return np.clip(centre[::4, ::4].astype(int) + rng.integers(0, 9), 0, 255).astype(np.uint8), centre


def test_degraded_batches_draw_afresh_each_step_and_are_a_function_of_seed_and_step(pairs):
    regions = np.pad(pairs[1], ((0, 0), (8, 8), (8, 8), (0, 0)), mode="reflect")
    first = DegradedBatches(regions, _noisy_quarter, batch_size=12, seed=3, device=CPU)
    again = DegradedBatches(regions, _noisy_quarter, batch_size=12, seed=3, device=CPU)
    lq, gt = first(0)
    assert lq.shape == (12, 3, 8, 8) and gt.shape == (12, 3, 32, 32)
    assert lq.is_contiguous(memory_format=torch.channels_last)
    assert all(torch.equal(a, b) for a, b in zip(first(5), again(5), strict=True))
    next_epoch_lq, next_epoch_gt = first(1)  # 12 regions, 12 a batch: the same regions, drawn again
    assert torch.equal(next_epoch_gt, gt) and not torch.equal(next_epoch_lq, lq)
    wanted = PairBatches(regions, regions, 12, 3, CPU).local_indices(0)
    assert torch.equal(gt, to_tensor(pairs[1][wanted], CPU)), "HR is the centre of each region of the step's batch"


def test_degraded_shares_of_two_ranks_make_the_one_process_batch(pairs):
    regions = np.pad(pairs[1], ((0, 0), (8, 8), (8, 8), (0, 0)), mode="reflect")
    whole = DegradedBatches(regions, _noisy_quarter, batch_size=6, seed=2, device=CPU)
    ranks = [DegradedBatches(regions, _noisy_quarter, 6, 2, CPU, rank=rank, world=2) for rank in (0, 1)]
    for step in range(3):
        shares = [batches(step) for batches in ranks]
        for part, joined in enumerate(whole(step)):
            assert torch.equal(torch.cat([share[part] for share in shares]), joined)


def test_worker_processes_draw_the_batches_one_process_draws_and_stop_when_closed(pairs):
    regions = np.pad(pairs[1], ((0, 0), (8, 8), (8, 8), (0, 0)), mode="reflect")
    here = DegradedBatches(regions, _noisy_quarter, batch_size=6, seed=2, device=CPU)
    workers = DegradedBatches(regions, _noisy_quarter, batch_size=6, seed=2, device=CPU, workers=2)
    for step in (0, 1, 2, 7, 8, 3):  # in order, then a jump ahead (a resume) and one back
        assert all(torch.equal(a, b) for a, b in zip(workers(step), here(step), strict=True)), step
    assert len(multiprocessing.active_children()) == 2
    Prefetched(SubCropped(workers, size=16, scale=4, seed=0), CPU).close()  # closing the outer source stops them
    assert multiprocessing.active_children() == []


def _blocky_pairs() -> tuple[np.ndarray, np.ndarray]:
    """8-px LR crops and their 32-px HR, each LR pixel a 4x4 HR block: an aligned HR sub-crop is its LR sub-crop
    upscaled by repeating pixels."""
    lq = np.random.default_rng(5).integers(0, 256, size=(6, 8, 8, 3)).astype(np.uint8)
    return lq, np.stack([np.kron(image, np.ones((4, 4, 1), dtype=np.uint8)) for image in lq])


def test_sub_crops_are_aligned_and_drawn_per_sample_as_a_function_of_seed_and_step():
    lq, gt = _blocky_pairs()
    crops = SubCropped(PairBatches(lq, gt, batch_size=6, seed=3, device=CPU), size=16, scale=4, seed=3)
    small, large = crops(0)
    assert small.shape == (6, 3, 4, 4) and large.shape == (6, 3, 16, 16)
    assert small.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(large, small.repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)), "HR covers its LR"
    whole = to_tensor(lq[PairBatches(lq, gt, 6, 3, CPU).local_indices(0)], CPU)
    offsets = set()
    for image, crop in zip(whole, small, strict=True):
        found = [(y, x) for y in range(5) for x in range(5) if torch.equal(image[:, y:y + 4, x:x + 4], crop)]
        assert found, "each sub-crop is cut from its own sample"
        offsets.add(found[0])
    assert len(offsets) > 1, "every sample draws its own offset"
    again = SubCropped(PairBatches(lq, gt, 6, 3, CPU), 16, 4, 3)
    assert all(torch.equal(a, b) for a, b in zip(crops(7), again(7), strict=True))
    assert not torch.equal(crops(0)[0], crops(1)[0]), "the next epoch cuts the same crops elsewhere"


def test_sub_cropped_shares_of_two_ranks_make_the_one_process_batch():
    lq, gt = _blocky_pairs()
    whole = SubCropped(PairBatches(lq, gt, 6, 2, CPU), 16, 4, 2)
    ranks = [SubCropped(PairBatches(lq, gt, 6, 2, CPU, rank=rank, world=2), 16, 4, 2, first=3 * rank)
             for rank in (0, 1)]
    for step in range(3):
        shares = [batches(step) for batches in ranks]
        for part, joined in enumerate(whole(step)):
            assert torch.equal(torch.cat([share[part] for share in shares]), joined)
