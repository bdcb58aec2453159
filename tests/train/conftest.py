"""Shared pieces of the training tests: tiny data, tiny networks, params sections, a recording log.

Test modules import the helpers as `from tests.train.conftest import ...` (pytest registers this
conftest under that name in --import-mode=importlib).
"""

import numpy as np
import pytest
import torch

from srgan.config import parse_section
from srgan.data.crops import write_training_crops
from srgan.data.resize import degrade
from srgan.imageio import write_png
from srgan.models.discriminator import Discriminator
from srgan.models.generator import Generator
from srgan.train.checkpoint import RunStore
from srgan.train.loop import NullLog

CPU = torch.device("cpu")


def section(name: str, **values):
    """A validated params section (defaults from config.py, precision fp32 unless given)."""
    return parse_section(name, {"precision": "fp32", **values})


def tiny_generator(seed: int = 0, scale: int = 4, **kwargs) -> Generator:
    torch.manual_seed(seed)
    return Generator(scale=scale, blocks=1, channels=8, **kwargs)


def store(tmp_path, name: str = "run", fingerprint: str = "f" * 64) -> RunStore:
    return RunStore(tmp_path, name, fingerprint)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks train fastest on one thread; several spin against each other on a busy machine (10x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
        self.images.append((step, name, image.copy()))


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(12, 8, 8, 3)).astype(np.uint8)
    hr = np.stack([np.kron(b, np.ones((4, 4, 1), dtype=np.uint8)) for b in base])  # smooth-ish 32px crops
    lr = np.stack([degrade(h, 4) for h in hr])
    return lr, hr


def tiny_discriminator(seed: int = 1, hr_size: int = 32, **kwargs) -> Discriminator:
    torch.manual_seed(seed)
    return Discriminator(hr_size=hr_size, channels=4, dense=8, **kwargs)


def assert_same(expected, actual, where: str = "") -> None:
    """Nested states (dicts, lists, tensors, numbers) are equal, tensors bit for bit."""
    if isinstance(expected, torch.nn.Module):
        expected, actual = expected.state_dict(), actual.state_dict()
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and expected.keys() == actual.keys(), where
        for key in expected:
            assert_same(expected[key], actual[key], f"{where}/{key}")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(actual, (list, tuple)) and len(expected) == len(actual), where
        for index, (a, b) in enumerate(zip(expected, actual)):
            assert_same(a, b, f"{where}[{index}]")
    elif torch.is_tensor(expected):
        assert torch.is_tensor(actual) and expected.dtype == actual.dtype, where
        assert torch.equal(expected, actual), where
    else:
        assert expected == actual, where


def parameters(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of a module's trainable weights (not its BatchNorm statistics)."""
    return {name: value.detach().clone() for name, value in module.named_parameters()}


def optimizer_steps(optimiser) -> int:
    """How many updates an Optimiser's Adam has made."""
    states = list(optimiser.optimizer.state.values())
    return int(states[0]["step"]) if states else 0


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
