"""Training loops on tiny data: seeded batches, learning, checkpoints that resume exactly, non-finite stops."""

import numpy as np
import pytest
import torch

from srgan.data.resize import degrade
from srgan.errors import SrganError
from srgan.losses import ContentLoss
from srgan.models.discriminator import Discriminator
from srgan.models.generator import Generator
from srgan.train.common import NullLog, PairBatches, load_checkpoint, save_checkpoint
from srgan.train.gan import GanConfig, GanTrainer, train_gan
from srgan.train.pretrain import PretrainConfig, pretrain

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(12, 8, 8, 3)).astype(np.uint8)
    hr = np.stack([np.kron(b, np.ones((4, 4, 1), dtype=np.uint8)) for b in base])  # smooth-ish 32px crops
    lr = np.stack([degrade(h, 4) for h in hr])
    return lr, hr


def tiny_generator(seed=0):
    torch.manual_seed(seed)
    return Generator(scale=4, blocks=1, channels=8)


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


def test_batch_tensors(pairs):
    lr, hr = PairBatches(*pairs, batch_size=4, seed=0, device=CPU)(0)
    assert lr.shape == (4, 3, 8, 8) and hr.shape == (4, 3, 32, 32)
    assert lr.dtype == torch.float32 and 0 <= float(lr.min()) and float(hr.max()) <= 1


def test_empty_pairs_are_an_error():
    empty = np.zeros((0, 8, 8, 3), np.uint8)
    with pytest.raises(SrganError, match="rerun prepare"):
        PairBatches(empty, empty, 4, 0, CPU)


def test_pretraining_lowers_the_mse(pairs, tmp_path):
    recorder = Recorder()
    config = PretrainConfig(steps=40, lr=2e-3, log_every=10, checkpoint_every=100)
    pretrain(tiny_generator(), PairBatches(*pairs, 4, 0, CPU), config, checkpoint=tmp_path / "ck.pt",
             fingerprint="a", log_to=recorder)
    logged = [(step, values["train/mse"]) for step, values in recorder.logged]
    assert [step for step, _ in logged] == [10, 20, 30, 40]
    assert logged[-1][1] < logged[0][1]


class Interrupt(Exception):
    pass


class Recorder(NullLog):
    """Records what a loop logs; raises Interrupt when it logs `stop_step` (a run killed mid-way)."""

    def __init__(self, stop_step=None):
        self.logged, self.images, self.stop_step = [], [], stop_step

    def metrics(self, step, values):
        if step == self.stop_step:
            raise Interrupt
        self.logged.append((step, values))

    def image(self, step, name, image):
        self.images.append((step, name, image.shape))


def interrupt_at(stop_step):
    return Recorder(stop_step)


def test_pretraining_resumes_to_the_same_model(pairs, tmp_path):
    config = PretrainConfig(steps=6, lr=1e-3, log_every=1, checkpoint_every=3)
    straight = pretrain(tiny_generator(), PairBatches(*pairs, 4, 0, CPU), config,
                        checkpoint=tmp_path / "a.pt", fingerprint="x")
    with pytest.raises(Interrupt):
        pretrain(tiny_generator(), PairBatches(*pairs, 4, 0, CPU), config, checkpoint=tmp_path / "b.pt",
                 fingerprint="x", log_to=interrupt_at(5))
    assert torch.load(tmp_path / "b.pt", weights_only=False)["step"] == 3
    recorder = Recorder()
    resumed = pretrain(tiny_generator(seed=99), PairBatches(*pairs, 4, 0, CPU), config,
                       checkpoint=tmp_path / "b.pt", fingerprint="x", log_to=recorder)
    # The history up to the checkpoint is replayed, so the curves of a resumed run are whole.
    assert [step for step, _ in recorder.logged] == [1, 2, 3, 4, 5, 6]
    for name, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_checkpoint_of_another_run_is_ignored(tmp_path):
    save_checkpoint(tmp_path / "ck.pt", "run-a", 5, {"x": torch.ones(1)})
    assert load_checkpoint(tmp_path / "ck.pt", "run-a")["step"] == 5
    assert load_checkpoint(tmp_path / "ck.pt", "run-b") is None
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    assert load_checkpoint(tmp_path / "bad.pt", "run-a") is None


def gan_trainer(config, seed=0):
    generator = tiny_generator(seed)
    torch.manual_seed(seed + 1)
    discriminator = Discriminator(hr_size=32, channels=4, dense=8)
    return GanTrainer(generator, discriminator, ContentLoss({"mse": 1.0}), config, CPU)


def test_gan_step_logs_every_quantity(pairs):
    trainer = gan_trainer(GanConfig(steps=1, adv_weight=1e-2, real_label=0.9))
    losses = trainer.gan_step(PairBatches(*pairs, 4, 0, CPU), 0)
    assert {"g/total", "g/content", "g/adversarial", "g/content_mse", "d/loss", "d/real", "d/fake"} <= set(losses)
    assert float(losses["g/total"]) == pytest.approx(float(losses["g/content"]) + 1e-2 * float(losses["g/adversarial"]),
                                                     rel=1e-5)
    assert 0 < float(losses["d/real"]) < 1 and 0 < float(losses["d/fake"]) < 1


def test_gan_training_resumes_to_the_same_models(pairs, tmp_path):
    config = GanConfig(steps=4, log_every=1, checkpoint_every=2)
    straight = gan_trainer(config)
    train_gan(straight, PairBatches(*pairs, 4, 0, CPU), checkpoint=tmp_path / "a.pt", fingerprint="g")
    with pytest.raises(Interrupt):
        train_gan(gan_trainer(config), PairBatches(*pairs, 4, 0, CPU), checkpoint=tmp_path / "b.pt",
                  fingerprint="g", log_to=interrupt_at(3))
    resumed = gan_trainer(config, seed=7)
    train_gan(resumed, PairBatches(*pairs, 4, 0, CPU), checkpoint=tmp_path / "b.pt", fingerprint="g")
    for part in ("generator", "discriminator"):
        for name, value in straight.state()[part].items():
            assert torch.equal(value, resumed.state()[part][name]), (part, name)


class PoisonedBatches(PairBatches):
    """Real batches, except that the HR of one step is NaN: the loss of that step is not finite."""

    def __init__(self, *args, poisoned_step, **kwargs):
        super().__init__(*args, **kwargs)
        self.poisoned_step = poisoned_step

    def __call__(self, step):
        lr, hr = super().__call__(step)
        return (lr, torch.full_like(hr, float("nan"))) if step == self.poisoned_step else (lr, hr)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(pairs, tmp_path):
    config = PretrainConfig(steps=6, lr=1e-3, log_every=1, checkpoint_every=2)
    batches = PoisonedBatches(*pairs, batch_size=4, seed=0, device=CPU, poisoned_step=4)
    with pytest.raises(SrganError, match=r"step 5: loss 'train/mse' is nan.*checkpoint is kept"):
        pretrain(tiny_generator(), batches, config, checkpoint=tmp_path / "ck.pt", fingerprint="n")
    kept = load_checkpoint(tmp_path / "ck.pt", "n")
    assert kept["step"] == 4
    assert all(torch.isfinite(value).all() for value in kept["generator"].values() if value.is_floating_point())
