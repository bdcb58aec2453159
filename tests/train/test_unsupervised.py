"""Unsupervised SR: the consistency loss, random measurements, both modes train and resume exactly."""

import pytest
import torch
from tests.train.conftest import CPU, Interrupt, Recorder, assert_same, section, store

from srgan.data.resize import downscale
from srgan.models.discriminator import Discriminator
from srgan.models.generator import Generator
from srgan.train.batches import LQBatches, UnpairedBatches
from srgan.train.loop import run_loop
from srgan.train.unsupervised import UnsupervisedTrainer, consistency_loss, random_measurement


def test_consistency_loss_is_zero_for_a_perfect_inverse():
    hr = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    assert float(consistency_loss(hr, downscale(hr, 4), 4)) == pytest.approx(0.0, abs=1e-12)
    assert float(consistency_loss(hr + 0.1, downscale(hr, 4), 4)) == pytest.approx(0.01, rel=1e-6)


def test_random_measurement_shifts_then_degrades():
    images = torch.rand(2, 3, 32, 32)
    generator = torch.Generator().manual_seed(0)
    shifts = set()
    for _ in range(40):
        measured, (dy, dx) = random_measurement(images, 4, generator)
        assert measured.shape == (2, 3, 8, 8) and 0 <= dy < 4 and 0 <= dx < 4
        expected = downscale(torch.roll(images, (dy, dx), dims=(2, 3)), 4)
        assert torch.allclose(measured, expected)
        shifts.add((dy, dx))
    assert len(shifts) > 4


def batches_for(mode, crops):
    lr, hr, ids = crops
    return UnpairedBatches(lr, hr, ids, 4, 0, CPU) if mode == "unpaired" else LQBatches(lr, 4, 0, CPU)


def trainer(mode, crops, seed=0) -> UnsupervisedTrainer:
    torch.manual_seed(seed)
    d_size = 64 if mode == "unpaired" else 16
    params = section("unsupervised", mode=mode, steps=4, batch_size=4, log_every=1, checkpoint_every=2)
    return UnsupervisedTrainer(Generator(4, blocks=1, channels=8, bicubic_skip=True),
                               Discriminator(d_size, channels=4, dense=8), batches_for(mode, crops), params, CPU)


@pytest.mark.parametrize("mode", ["unpaired", "measurement"])
def test_both_modes_train_and_resume_exactly(mode, crops, tmp_path):
    first = trainer(mode, crops)
    losses = first.step(0)
    assert {"g/total", "g/consistency", "g/adversarial", "d/loss", "d/real", "d/fake"} <= set(losses)
    assert all(torch.isfinite(value) for value in losses.values())

    straight = trainer(mode, crops)
    straight_generator = run_loop(straight, straight.params, store=store(tmp_path, "a"))
    with pytest.raises(Interrupt):
        killed = trainer(mode, crops)
        run_loop(killed, killed.params, store=store(tmp_path, "b"), log_to=Recorder(stop_step=3))
    assert store(tmp_path, "b").load()["step"] == 2
    resumed = trainer(mode, crops, seed=9)
    recorder = Recorder()
    resumed_generator = run_loop(resumed, resumed.params, store=store(tmp_path, "b"), log_to=recorder)
    assert [step for step, _ in recorder.logged] == [1, 2, 3, 4]
    assert_same(straight_generator, resumed_generator)
    assert_same(straight.state_dict(), resumed.state_dict())  # D, both optimisers, the measurement shifts


def test_measurement_shifts_are_seeded_and_drawn_by_the_measurement_mode_only(crops):
    one, other = trainer("measurement", crops), trainer("measurement", crops)
    start = one.shifts.get_state().clone()
    assert torch.equal(start, other.shifts.get_state())
    for index in range(2):
        assert_same(one.step(index), other.step(index))
    assert_same(one.state_dict(), other.state_dict())
    assert not torch.equal(one.shifts.get_state(), start)
    unpaired = trainer("unpaired", crops)
    unpaired.step(0)
    assert torch.equal(unpaired.shifts.get_state(), start)
