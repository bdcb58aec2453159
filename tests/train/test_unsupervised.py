"""Unsupervised SR: disjoint unpaired sampling, the consistency loss, random measurements, both modes train."""

import numpy as np
import pytest
import torch

from srgan.data.crops import write_training_crops
from srgan.data.resize import downscale
from srgan.errors import SrganError
from srgan.imageio import write_png
from srgan.models.discriminator import Discriminator
from srgan.models.generator import Generator
from srgan.train.unsupervised import (
    LRBatches,
    UnpairedBatches,
    UnsupervisedConfig,
    UnsupervisedTrainer,
    consistency_loss,
    random_measurement,
    train_unsupervised,
)

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def crops(tmp_path_factory):
    """Real prepared crops of five real image files: (lr, hr, image ids)."""
    root = tmp_path_factory.mktemp("crops")
    rng = np.random.default_rng(0)
    paths = []
    for index in range(5):
        paths.append(root / f"img{index}.png")
        write_png(paths[-1], np.kron(rng.integers(0, 256, (12, 12, 3)), np.ones((8, 8, 1))).astype(np.uint8))
    write_training_crops(paths, root / "out", hr_size=64, scale=4, crops_per_image=4, seed=0)
    return tuple(np.load(root / "out" / f"train_{name}.npy") for name in ("lr", "hr", "ids"))


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


def test_unpaired_needs_two_images(crops):
    lr, hr, ids = crops
    with pytest.raises(SrganError, match="at least two training images"):
        UnpairedBatches(lr, hr, np.zeros_like(ids), 4, 0, CPU)


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


def trainer(mode, seed=0):
    torch.manual_seed(seed)
    d_size = 64 if mode == "unpaired" else 16
    return UnsupervisedTrainer(Generator(4, blocks=1, channels=8, bicubic_skip=True),
                               Discriminator(d_size, channels=4, dense=8),
                               UnsupervisedConfig(mode=mode, steps=4, log_every=1, checkpoint_every=2), CPU)


@pytest.mark.parametrize("mode", ["unpaired", "measurement"])
def test_both_modes_train_and_resume_exactly(mode, crops, tmp_path):
    lr, hr, ids = crops
    make_batches = (lambda: UnpairedBatches(lr, hr, ids, 4, 0, CPU)) if mode == "unpaired" else \
        (lambda: LRBatches(lr, 4, 0, CPU))
    first = trainer(mode)
    losses = first.step(*make_batches()(0))
    assert {"g/total", "g/consistency", "g/adversarial", "d/loss", "d/real", "d/fake"} <= set(losses)
    assert all(torch.isfinite(value) for value in losses.values())

    straight = train_unsupervised(trainer(mode), make_batches(), checkpoint=tmp_path / "a.pt", fingerprint="u")

    class Stop(Exception):
        pass

    class StopAt3:
        def metrics(self, step, values):
            if step == 3:
                raise Stop

        def image(self, step, name, image):
            pass

    with pytest.raises(Stop):
        train_unsupervised(trainer(mode), make_batches(), checkpoint=tmp_path / "b.pt", fingerprint="u",
                           log_to=StopAt3())
    resumed = train_unsupervised(trainer(mode, seed=9), make_batches(), checkpoint=tmp_path / "b.pt",
                                 fingerprint="u")
    for name, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_measurement_mode_never_sees_hr(crops):
    lr, _, _ = crops
    lr_batch, nothing = LRBatches(lr, 4, 0, CPU)(0)
    assert nothing is None and lr_batch.shape == (4, 3, 16, 16)
