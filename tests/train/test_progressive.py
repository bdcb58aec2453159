"""Progressive growing x2 -> x4 -> x8: schedule, fade-in weights, shapes in every phase, resume across phases."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from srgan.config import parse_section
from srgan.data.resize import degrade
from srgan.errors import SrganError
from srgan.losses import ContentLoss
from srgan.models.discriminator import Discriminator
from srgan.models.generator import Generator
from srgan.stages._stage import growth_for
from srgan.train.common import NullLog, PairBatches
from srgan.train.gan import GanConfig, GanTrainer
from srgan.train.pretrain import PretrainConfig, pretrain
from srgan.train.tricks import Growth

CPU = torch.device("cpu")


def test_growth_schedule_and_fade_in_weights():
    growth = Growth(stages=3, phase_steps=(10, 10), fade_steps=4)
    assert [growth.at(step) for step in (0, 9)] == [(1, 1.0), (1, 1.0)]
    assert [growth.at(step) for step in (10, 11, 12, 13, 14)] == [(2, 0.25), (2, 0.5), (2, 0.75), (2, 1.0), (2, 1.0)]
    assert [growth.at(step) for step in (20, 23, 500)] == [(3, 0.25), (3, 1.0), (3, 1.0)]
    assert Growth(stages=3).at(0) == (3, 1.0)  # direct training
    assert Growth(stages=2, phase_steps=(5,), fade_steps=0).at(5) == (2, 1.0)


@pytest.mark.parametrize("scale", [4, 8])
def test_output_shapes_in_every_phase(scale):
    torch.manual_seed(0)
    stages = {4: 2, 8: 3}[scale]
    generator = Generator(scale, blocks=1, channels=8, progressive=True)
    discriminator = Discriminator(hr_size=64, channels=4, dense=8, max_skip=stages - 1)
    lr = torch.rand(2, 3, 64 // scale, 64 // scale)
    for phase in range(1, stages + 1):
        for alpha in (0.3, 1.0):
            sr = generator(lr, phase, alpha)
            assert sr.shape == (2, 3, lr.shape[-1] * 2**phase, lr.shape[-1] * 2**phase)
            assert discriminator(sr, skip=stages - phase, alpha=alpha).shape == (2,)


def test_generator_fade_in_blends_with_the_upsampled_previous_stage():
    torch.manual_seed(0)
    generator = Generator(8, blocks=1, channels=8, progressive=True).eval()
    lr = torch.rand(1, 3, 6, 6)
    with torch.no_grad():
        previous = F.interpolate(generator(lr, 1), scale_factor=2, mode="nearest")
        new = generator(lr, 2, 1.0)
        assert torch.allclose(generator(lr, 2, 0.0), previous, atol=1e-6)
        assert torch.allclose(generator(lr, 2, 0.25), 0.25 * new + 0.75 * previous, atol=1e-6)


def test_discriminator_fade_in_blends_with_the_pooled_path():
    torch.manual_seed(0)
    discriminator = Discriminator(hr_size=64, channels=4, dense=8, max_skip=2, norm="none")
    image = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(discriminator(image, skip=1, alpha=0.0), discriminator(F.avg_pool2d(image, 2), skip=2),
                              atol=1e-6)
    with pytest.raises(ValueError, match="at most"):
        Discriminator(hr_size=64, channels=4, dense=8, max_skip=1)(image, skip=2)


def test_a_direct_generator_cannot_output_intermediate_scales():
    with pytest.raises(ValueError, match="progressive"):
        Generator(4, blocks=1, channels=8)(torch.rand(1, 3, 4, 4), stages=1)


def test_growth_target_is_hr_at_the_phase_resolution():
    hr = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    growth = Growth(stages=3, phase_steps=(1, 1))
    assert growth.target(hr, 3) is hr
    assert growth.target(hr, 1).shape == (2, 3, 8, 8)


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, size=(8, 32, 32, 3)).astype(np.uint8)
    return np.stack([degrade(h, 8) for h in hr]), hr


class StopAt(NullLog):
    def __init__(self, step):
        self.step = step

    def metrics(self, step, values):
        if step == self.step:
            raise KeyboardInterrupt


def test_progressive_pretraining_resumes_across_a_phase_boundary(pairs, tmp_path):
    growth = Growth(stages=3, phase_steps=(3, 3), fade_steps=2)
    config = PretrainConfig(steps=9, lr=1e-3, log_every=1, checkpoint_every=2)

    def generator(seed=0):
        torch.manual_seed(seed)
        return Generator(8, blocks=1, channels=8, progressive=True)

    straight = pretrain(generator(), PairBatches(*pairs, 4, 0, CPU), config, checkpoint=tmp_path / "a.pt",
                        fingerprint="p", growth=growth)
    with pytest.raises(KeyboardInterrupt):  # killed in phase 2, checkpoint at step 4 (phase 2)
        pretrain(generator(), PairBatches(*pairs, 4, 0, CPU), config, checkpoint=tmp_path / "b.pt",
                 fingerprint="p", growth=growth, log_to=StopAt(6))
    resumed = pretrain(generator(5), PairBatches(*pairs, 4, 0, CPU), config, checkpoint=tmp_path / "b.pt",
                       fingerprint="p", growth=growth)
    for name, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_progressive_gan_steps_in_every_phase(pairs):
    torch.manual_seed(0)
    growth = Growth(stages=3, phase_steps=(1, 1), fade_steps=1)
    trainer = GanTrainer(Generator(8, blocks=1, channels=8, progressive=True),
                         Discriminator(hr_size=32, channels=4, dense=8, max_skip=2), ContentLoss({"mse": 1.0}),
                         GanConfig(steps=3, replay_size=8), CPU, growth)
    batches = PairBatches(*pairs, 4, 0, CPU)
    for step in range(3):
        losses = trainer.gan_step(batches, step)
        assert torch.isfinite(losses["g/total"]) and torch.isfinite(losses["d/loss"])


def test_phase_params_are_checked():
    with pytest.raises(SrganError, match="pretrain.progressive.phase_steps: x8 grows in 3 phases"):
        growth_for(parse_section("pretrain", {"steps": 10, "progressive": {"phase_steps": [5]}}), 8, "pretrain")
    with pytest.raises(SrganError, match="leaving no step"):
        parse_section("pretrain", {"steps": 10, "progressive": {"phase_steps": [5, 5]}})
    assert growth_for(parse_section("gan", {"steps": 10, "progressive": {"phase_steps": [3, 3], "fade_steps": 2}}),
                      8, "gan") == Growth(3, (3, 3), 2)
