"""The training tricks on their own: adversarial-weight ramps, the replay buffer, the growth schedule."""

import math

import pytest
import torch

from srgan.train.tricks import Growth, ReplayBuffer, adv_weight_at


def test_the_constant_adversarial_weight_never_changes():
    assert adv_weight_at(0, 1e-3) == adv_weight_at(10**6, 1e-3) == 1e-3


def test_the_linear_ramp_rises_from_start_to_the_full_weight():
    values = [adv_weight_at(step, 1.0, "linear", 0.2, 4) for step in range(6)]
    assert values == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0])


def test_the_cosine_ramp_follows_half_a_cosine_to_the_full_weight():
    assert adv_weight_at(0, 1.0, "cosine", 0.0, 100) == 0.0
    assert adv_weight_at(50, 1.0, "cosine", 0.0, 100) == pytest.approx(0.5)
    assert adv_weight_at(25, 1.0, "cosine", 0.0, 100) == pytest.approx((1 - math.cos(math.pi / 4)) / 2)
    assert adv_weight_at(100, 1.0, "cosine", 0.0, 100) == 1.0


def test_unknown_ramp_is_an_error():
    with pytest.raises(ValueError, match="unknown adversarial weight schedule"):
        adv_weight_at(1, 1.0, "exponential", 0.0, 10)


def batch_of(value: float, n: int = 8) -> torch.Tensor:
    return torch.full((n, 3, 2, 2), value)


def test_replay_off_returns_the_fresh_batch():
    fresh = batch_of(1.0)
    assert ReplayBuffer(0, 0.5).mix(fresh) is fresh


@pytest.mark.parametrize("fraction,replayed", [(0.5, 4), (0.25, 2), (1.0, 8), (0.0, 0)])
def test_replay_mixes_the_set_fraction_of_past_fakes(fraction, replayed):
    buffer = ReplayBuffer(size=32, fraction=fraction, seed=0)
    first = buffer.mix(batch_of(1.0))
    assert torch.equal(first, batch_of(1.0))  # nothing to replay yet
    mixed = buffer.mix(batch_of(2.0))
    from_past = int((mixed[:, 0, 0, 0] == 1.0).sum())
    assert from_past == replayed
    assert int((mixed[:, 0, 0, 0] == 2.0).sum()) == 8 - replayed


def test_replay_buffer_is_bounded_and_resumable():
    buffer = ReplayBuffer(size=10, fraction=0.5, seed=1)
    for value in range(5):
        buffer.mix(batch_of(float(value)))
    assert len(buffer.images) == 10
    copy = ReplayBuffer(size=10, fraction=0.5, seed=99)
    copy.load_state_dict(buffer.state_dict())
    assert torch.equal(buffer.mix(batch_of(7.0)), copy.mix(batch_of(7.0)))


def test_an_empty_replay_buffer_round_trips():
    copy = ReplayBuffer(size=10, fraction=0.5, seed=99)
    copy.load_state_dict(ReplayBuffer(size=10, fraction=0.5, seed=1).state_dict())
    assert copy.images == []


def test_replay_forgets_fakes_of_another_resolution():
    buffer = ReplayBuffer(size=16, fraction=1.0, seed=0)
    buffer.mix(batch_of(1.0))
    grown = torch.full((8, 3, 4, 4), 2.0)  # progressive growing doubled the resolution
    assert torch.equal(buffer.mix(grown), grown)
    assert all(image.shape == (3, 4, 4) for image in buffer.images)


def test_growth_schedule_and_fade_in_weights():
    growth = Growth(upsample_steps=3, phase_steps=(10, 10), fade_steps=4)
    assert [growth.at(step) for step in (0, 9)] == [(1, 1.0), (1, 1.0)]
    assert [growth.at(step) for step in (10, 11, 12, 13, 14)] == [(2, 0.25), (2, 0.5), (2, 0.75), (2, 1.0), (2, 1.0)]
    assert [growth.at(step) for step in (20, 23, 500)] == [(3, 0.25), (3, 1.0), (3, 1.0)]
    assert Growth(upsample_steps=3).at(0) == (3, 1.0)  # direct training
    assert Growth(upsample_steps=2, phase_steps=(5,), fade_steps=0).at(5) == (2, 1.0)


def test_growth_target_is_hr_at_the_phase_resolution():
    hr = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    growth = Growth(upsample_steps=3, phase_steps=(1, 1))
    assert growth.target(hr, 3) is hr
    assert growth.target(hr, 1).shape == (2, 3, 8, 8)
