"""Progressive growing x2 -> x4 -> x8: shapes and fade-in in every phase, trainers in every phase, resume across
phases, and phase params checked when params load."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tests.train.conftest import CPU, Interrupt, Recorder, assert_same, section, store, tiny_discriminator

from srgan.config import combination_problem, parse_section
from srgan.data.resize import degrade
from srgan.errors import SrganError
from srgan.losses import ContentLoss
from srgan.models.discriminator import Discriminator
from srgan.models.generator import Generator
from srgan.train.batches import PairBatches
from srgan.train.gan import GanTrainer
from srgan.train.loop import run_loop
from srgan.train.pretrain import MSETrainer
from srgan.train.tricks import Growth

MSE_ONLY = {"mse": 1.0, "vgg54": 0.0}


@pytest.mark.parametrize("scale", [4, 8])
def test_output_shapes_in_every_phase(scale):
    torch.manual_seed(0)
    upsample_steps = {4: 2, 8: 3}[scale]
    generator = Generator(scale, blocks=1, channels=8, progressive=True)
    discriminator = Discriminator(hr_size=64, channels=4, dense=8, max_skip=upsample_steps - 1)
    lr = torch.rand(2, 3, 64 // scale, 64 // scale)
    for phase in range(1, upsample_steps + 1):
        for alpha in (0.3, 1.0):
            sr = generator(lr, phase, alpha)
            assert sr.shape == (2, 3, lr.shape[-1] * 2**phase, lr.shape[-1] * 2**phase)
            assert discriminator(sr, skip=upsample_steps - phase, alpha=alpha).shape == (2,)


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
        Generator(4, blocks=1, channels=8)(torch.rand(1, 3, 4, 4), upsample_steps=1)


@pytest.fixture(scope="module")
def pairs8():
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, size=(8, 32, 32, 3)).astype(np.uint8)
    return np.stack([degrade(h, 8) for h in hr]), hr


def growing_generator(seed=0) -> Generator:
    torch.manual_seed(seed)
    return Generator(8, blocks=1, channels=8, progressive=True)


def test_progressive_pretraining_resumes_across_a_phase_boundary(pairs8, tmp_path):
    params = section("pretrain", steps=9, lr=1e-3, batch_size=4, log_every=1, checkpoint_every=2,
                     progressive={"phase_steps": [3, 3], "fade_steps": 2})

    def trainer(seed=0):
        return MSETrainer(growing_generator(seed), PairBatches(*pairs8, 4, 0, CPU), params, CPU)

    straight_trainer = trainer()
    assert straight_trainer.growth == Growth(3, (3, 3), 2)
    recorder = Recorder()
    straight = run_loop(straight_trainer, params, store=store(tmp_path, "a"), log_to=recorder)
    assert [values["progressive/scale"] for _, values in recorder.logged] == [2, 2, 2, 4, 4, 4, 8, 8, 8]
    assert [values["progressive/alpha"] for _, values in recorder.logged] == [1, 1, 1, .5, 1, 1, .5, 1, 1]
    with pytest.raises(Interrupt):  # killed in phase 2 (x4), after the checkpoint at step 4 (phase 2)
        run_loop(trainer(), params, store=store(tmp_path, "b"), log_to=Recorder(stop_step=6))
    assert store(tmp_path, "b").load()["step"] == 4
    resumed = run_loop(trainer(seed=5), params, store=store(tmp_path, "b"))
    assert_same(straight, resumed)


def growing_gan(pairs8, params, seed=0) -> GanTrainer:
    torch.manual_seed(seed)
    return GanTrainer(growing_generator(seed), tiny_discriminator(seed + 1, max_skip=2), ContentLoss({"mse": 1.0}),
                      PairBatches(*pairs8, 4, 0, CPU), params, CPU)


def test_progressive_gan_steps_in_every_phase(pairs8):
    params = section("gan", steps=3, batch_size=4, content=MSE_ONLY, replay={"size": 8},
                     progressive={"phase_steps": [1, 1], "fade_steps": 1})
    trainer = growing_gan(pairs8, params)
    scales = []
    for step in range(3):
        losses = trainer.step(step)
        assert torch.isfinite(losses["g/total"]) and torch.isfinite(losses["d/loss"])
        scales.append(trainer.schedule(step)["progressive/scale"])
        side = 32 // 2 ** (3 - (step + 1))
        assert trainer.replay.images[0].shape == (3, side, side)  # fakes of this phase's size only
    assert scales == [2, 4, 8]


def test_progressive_gan_resumes_across_a_phase_boundary(pairs8, tmp_path):
    params = section("gan", steps=4, batch_size=4, content=MSE_ONLY, replay={"size": 8}, log_every=1,
                     checkpoint_every=2, progressive={"phase_steps": [1, 2], "fade_steps": 1})
    straight = growing_gan(pairs8, params)
    run_loop(straight, params, store=store(tmp_path, "a"))
    with pytest.raises(Interrupt):
        run_loop(growing_gan(pairs8, params), params, store=store(tmp_path, "b"), log_to=Recorder(stop_step=3))
    resumed = growing_gan(pairs8, params, seed=3)
    run_loop(resumed, params, store=store(tmp_path, "b"))
    assert_same(straight.state_dict(), resumed.state_dict())


def all_sections(scale: int, **sections) -> dict:
    """Every section combination_problem looks at, defaults unless given."""
    values = {"data": {"scale": scale}, "execution": {}, "pretrain": {"steps": 10}, "gan": {"steps": 10},
              "unsupervised": {"steps": 10}, "evaluate": {}, "report": {}, **sections}
    return {name: parse_section(name, value) for name, value in values.items()}


def test_phase_params_are_checked():
    problem = combination_problem(all_sections(8, pretrain={"steps": 10, "progressive": {"phase_steps": [5]}}))
    assert problem.startswith("pretrain.progressive.phase_steps: x8 grows in 3 phases")
    with pytest.raises(SrganError, match="leaving no step"):
        parse_section("pretrain", {"steps": 10, "progressive": {"phase_steps": [5, 5]}})
    growing = {"steps": 10, "progressive": {"phase_steps": [3, 3], "fade_steps": 2}}
    problem = combination_problem(all_sections(8, gan=growing))
    assert "the pretrained generator cannot grow" in problem
    assert combination_problem(all_sections(8, gan={**growing, "init_generator": "scratch"})) is None
    assert combination_problem(all_sections(8, pretrain=growing, gan=growing)) is None
    assert combination_problem(all_sections(4, pretrain=growing)).startswith(
        "pretrain.progressive.phase_steps: x4 grows in 2 phases, so give 1 phase length(s) before the last, got 2")


def test_trainers_grow_as_their_params_say(pairs8):
    params = section("gan", steps=10, content=MSE_ONLY, progressive={"phase_steps": [3, 3], "fade_steps": 2})
    assert growing_gan(pairs8, params).growth == Growth(3, (3, 3), 2)
    direct = section("pretrain", steps=10)
    assert MSETrainer(growing_generator(), PairBatches(*pairs8, 4, 0, CPU), direct, CPU).growth == Growth(3)
