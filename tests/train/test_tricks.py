"""Each SRGAN training trick shows its effect on tiny inputs."""

import math

import numpy as np
import pytest
import torch

from srgan.data.resize import degrade
from srgan.losses import ContentLoss
from srgan.models.discriminator import Discriminator
from srgan.models.generator import Generator
from srgan.train.common import PairBatches, Validation
from srgan.train.gan import GanConfig, GanTrainer, train_gan
from srgan.train.tricks import ReplayBuffer, adv_weight_at

CPU = torch.device("cpu")


def test_constant_weight():
    assert adv_weight_at(0, 1e-3) == adv_weight_at(10**6, 1e-3) == 1e-3


def test_linear_ramp():
    values = [adv_weight_at(step, 1.0, "linear", 0.2, 4) for step in range(6)]
    assert values == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0])


def test_cosine_ramp():
    assert adv_weight_at(0, 1.0, "cosine", 0.0, 100) == 0.0
    assert adv_weight_at(50, 1.0, "cosine", 0.0, 100) == pytest.approx(0.5)
    assert adv_weight_at(25, 1.0, "cosine", 0.0, 100) == pytest.approx((1 - math.cos(math.pi / 4)) / 2)
    assert adv_weight_at(100, 1.0, "cosine", 0.0, 100) == 1.0


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


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, size=(16, 32, 32, 3)).astype(np.uint8)
    return np.stack([degrade(h, 4) for h in hr]), hr


def trainer(config: GanConfig, content=None) -> GanTrainer:
    torch.manual_seed(0)
    generator = Generator(4, blocks=1, channels=8)
    discriminator = Discriminator(hr_size=32, channels=4, dense=8)
    return GanTrainer(generator, discriminator, content or ContentLoss({"mse": 1.0}), config, CPU)


def optimizer_steps(optimizer) -> int:
    states = list(optimizer.state.values())
    return int(states[0]["step"]) if states else 0


def test_several_d_steps_per_g_step(pairs):
    t = trainer(GanConfig(steps=2, d_steps=3))
    used = []

    def batch_at(k):
        used.append(k)
        return PairBatches(*pairs, 4, 0, CPU)(k)

    t.gan_step(batch_at, 0)
    t.gan_step(batch_at, 1)
    assert optimizer_steps(t.opt_d) == 6 and optimizer_steps(t.opt_g) == 2
    assert used == [0, 1, 2, 3, 4, 5]  # every D step sees its own batch


def test_discriminator_warmup_leaves_the_generator_alone(pairs, tmp_path):
    t = trainer(GanConfig(steps=1, d_warmup_steps=3, log_every=1, checkpoint_every=100))
    before_g = {k: v.clone() for k, v in t.g.state_dict().items()}
    before_d = {k: v.clone() for k, v in t.d.state_dict().items()}
    batches = PairBatches(*pairs, 4, 0, CPU)
    for step in range(3):
        losses = t.warmup_step(*batches(step))
        assert "g/total" not in losses and "d/loss" in losses
    assert all(torch.equal(v, t.g.state_dict()[k]) for k, v in before_g.items())
    assert any(not torch.equal(v, t.d.state_dict()[k]) for k, v in before_d.items())
    assert optimizer_steps(t.opt_g) == 0 and optimizer_steps(t.opt_d) == 3


def test_label_smoothing_sets_the_real_target(pairs):
    # With identical D outputs, the D loss differs exactly by the BCE term of the real target.
    smooth, hard = trainer(GanConfig(steps=1, real_label=0.9)), trainer(GanConfig(steps=1, real_label=1.0))
    lr, hr = PairBatches(*pairs, 4, 0, CPU)(0)
    with torch.no_grad():
        fake = smooth.g(lr)
        logits = smooth.d(hr)
    loss_smooth = smooth.discriminator_step(fake, hr)["d/loss"]
    loss_hard = hard.discriminator_step(fake, hr)["d/loss"]
    target_gap = (torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.full_like(logits, 0.9))
                  - torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)))
    assert float(loss_smooth - loss_hard) == pytest.approx(float(target_gap), abs=1e-5)


def test_step_decay_of_both_learning_rates(pairs):
    t = trainer(GanConfig(steps=4, lr_g=1e-3, lr_d=2e-3, lr_decay_at=(2,), lr_decay_factor=0.1))
    batches = PairBatches(*pairs, 4, 0, CPU)
    seen = []
    for step in range(4):
        seen += [t.opt_g.param_groups[0]["lr"], t.opt_d.param_groups[0]["lr"]]
        t.gan_step(batches, step)
    assert seen == pytest.approx([1e-3, 2e-3, 1e-3, 2e-3, 1e-4, 2e-4, 1e-4, 2e-4])


def test_adversarial_only_and_content_only(pairs):
    batches = PairBatches(*pairs, 4, 0, CPU)
    adversarial_only = trainer(GanConfig(steps=1, adv_weight=1.0), content=ContentLoss({"mse": 0.0}))
    losses = adversarial_only.gan_step(batches, 0)
    assert float(losses["g/content"]) == 0 and float(losses["g/total"]) == pytest.approx(float(losses["g/adversarial"]))
    content_only = trainer(GanConfig(steps=1, adv_weight=0.0))
    losses = content_only.gan_step(batches, 0)
    assert float(losses["g/total"]) == pytest.approx(float(losses["g/content"]))


def test_logs_schedule_values_and_validation(pairs, tmp_path):
    logged, images = [], []

    class Log:
        def metrics(self, step, values):
            logged.append((step, values))

        def image(self, step, name, image):
            images.append((step, name, image.shape))

    lr, hr = pairs
    validation = Validation({"v": (lr[0], hr[0])}, scale=4)
    config = GanConfig(steps=4, adv_weight=1e-2, adv_schedule="linear", adv_start=0.0, adv_ramp_steps=4,
                       log_every=2, checkpoint_every=100, validate_every=4)
    train_gan(trainer(config), PairBatches(*pairs, 4, 0, CPU), checkpoint=tmp_path / "ck.pt", fingerprint="v",
              log_to=Log())
    train_gan(trainer(config), PairBatches(*pairs, 4, 0, CPU), checkpoint=tmp_path / "ck2.pt", fingerprint="v",
              log_to=Log(), validation=validation)
    steps = [step for step, _ in logged]
    assert steps == [2, 4, 2, 4]
    assert logged[0][1]["adv_weight"] == pytest.approx(1e-2 * 1 / 4)  # logged at GAN step index 1
    assert {"g/content", "g/adversarial", "g/total", "d/loss", "d/real", "d/fake", "lr/g", "lr/d"} <= set(logged[0][1])
    assert "val/psnr_y" in logged[3][1] and "val/psnr_y" not in logged[1][1]
    assert images == [(4, "val/v", (32, 32, 3))]
