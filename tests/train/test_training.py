"""Training loops on tiny data: seeded batches, learning, checkpoints that resume exactly, non-finite stops."""

import numpy as np
import pytest
import torch

from srgan.data.resize import degrade
from srgan.errors import SrganError
from srgan.losses import ContentLoss
from srgan.models.discriminator import Discriminator
from srgan.models.generator import Generator
from srgan.train.common import PairBatches, load_checkpoint, save_checkpoint
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
    logged = []
    config = PretrainConfig(steps=40, lr=2e-3, log_every=10, checkpoint_every=100)
    pretrain(tiny_generator(), PairBatches(*pairs, 4, 0, CPU), config, checkpoint=tmp_path / "ck.pt",
             fingerprint="a", logger=lambda step, m: logged.append((step, m["train/mse"])))
    assert [step for step, _ in logged] == [10, 20, 30, 40]
    assert logged[-1][1] < logged[0][1]


class Interrupt(Exception):
    pass


def interrupt_at(stop_step):
    def logger(step, metrics):
        if step == stop_step:
            raise Interrupt
    return logger


def test_pretraining_resumes_to_the_same_model(pairs, tmp_path):
    config = PretrainConfig(steps=6, lr=1e-3, log_every=1, checkpoint_every=3)
    straight = pretrain(tiny_generator(), PairBatches(*pairs, 4, 0, CPU), config,
                        checkpoint=tmp_path / "a.pt", fingerprint="x")
    with pytest.raises(Interrupt):
        pretrain(tiny_generator(), PairBatches(*pairs, 4, 0, CPU), config, checkpoint=tmp_path / "b.pt",
                 fingerprint="x", logger=interrupt_at(5))
    assert torch.load(tmp_path / "b.pt", weights_only=False)["step"] == 3
    resumed_steps = []
    resumed = pretrain(tiny_generator(seed=99), PairBatches(*pairs, 4, 0, CPU), config,
                       checkpoint=tmp_path / "b.pt", fingerprint="x",
                       logger=lambda step, m: resumed_steps.append(step))
    assert resumed_steps == [4, 5, 6]
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
    losses = trainer.step(*PairBatches(*pairs, 4, 0, CPU)(0))
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
                  fingerprint="g", logger=interrupt_at(3))
    resumed = gan_trainer(config, seed=7)
    train_gan(resumed, PairBatches(*pairs, 4, 0, CPU), checkpoint=tmp_path / "b.pt", fingerprint="g")
    for part in ("generator", "discriminator"):
        for name, value in straight.state()[part].items():
            assert torch.equal(value, resumed.state()[part][name]), (part, name)


def test_non_finite_loss_stops_and_keeps_the_checkpoint(pairs, tmp_path):
    lr, hr = pairs
    config = PretrainConfig(steps=4, lr=1e-3, log_every=1, checkpoint_every=2)
    pretrain(tiny_generator(), PairBatches(lr, hr, 4, 0, CPU), config, checkpoint=tmp_path / "ck.pt",
             fingerprint="n", logger=interrupt_at(-1))  # finishes, leaving a step-2 checkpoint
    before = (tmp_path / "ck.pt").read_bytes()
    generator = tiny_generator()
    with torch.no_grad():
        generator.tail.bias.fill_(float("nan"))
    with pytest.raises(SrganError, match="loss 'mse' is nan.*checkpoint is kept"):
        pretrain(generator, PairBatches(lr, hr, 4, 0, CPU), config, checkpoint=tmp_path / "other.pt",
                 fingerprint="n2")
    assert (tmp_path / "ck.pt").read_bytes() == before
