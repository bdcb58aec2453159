"""Optimisers: Adam with step decay, and in fp16 a gradient scaler whose state is checkpointed and restored."""

import pytest
import torch
from tests.train.conftest import (
    CPU,
    Interrupt,
    Recorder,
    assert_same,
    optimizer_steps,
    section,
    store,
    tiny_discriminator,
    tiny_generator,
)

from srgan.config import LrDecay
from srgan.losses import ContentLoss
from srgan.precision import autocast
from srgan.train.batches import PairBatches
from srgan.train.gan import GanTrainer
from srgan.train.loop import run_loop
from srgan.train.optim import Optimiser
from srgan.train.pretrain import MSETrainer


def fp16_autocast_on_cpu() -> str | None:
    """Why fp16 autocast cannot run on this CPU build, or None when it can."""
    try:
        with autocast(CPU, "fp16"):
            out = torch.nn.functional.conv2d(torch.rand(1, 3, 4, 4), torch.rand(2, 3, 3, 3))
        if out.dtype != torch.float16:
            return f"autocast to fp16 on CPU gives {out.dtype}"
    except (RuntimeError, TypeError) as err:
        return f"fp16 autocast on CPU is unsupported here: {err}"
    return None


needs_fp16 = pytest.mark.skipif(fp16_autocast_on_cpu() is not None, reason=str(fp16_autocast_on_cpu()))


def mse_trainer(pairs, precision, seed=0, **values) -> MSETrainer:
    params = section("pretrain", **{"steps": 6, "lr": 1e-3, "batch_size": 4, "precision": precision, **values})
    return MSETrainer(tiny_generator(seed), PairBatches(*pairs, 4, 0, CPU), params, CPU)


@needs_fp16
def test_fp16_scaler_is_enabled_in_the_state_and_restored(pairs):
    trainer = mse_trainer(pairs, "fp16")
    assert trainer.optimiser.scaler.is_enabled()
    for index in range(2):
        assert torch.isfinite(trainer.step(index)["train/mse"])
    trainer.optimiser.scaler.update(1024.0)  # a scale no fresh scaler has
    state = trainer.state_dict()["optimiser"]["scaler"]
    assert state["scale"] == 1024.0 and state["_growth_tracker"] == 2
    fresh = mse_trainer(pairs, "fp16", seed=3)
    assert fresh.optimiser.scaler.state_dict() != state
    fresh.load_state_dict(trainer.state_dict())
    assert fresh.optimiser.scaler.state_dict() == state
    assert fresh.optimiser.scaler.get_scale() == 1024.0
    assert_same(trainer.state_dict(), fresh.state_dict())


@needs_fp16
def test_fp16_scaler_state_is_in_the_checkpoint(pairs, tmp_path):
    trainer = mse_trainer(pairs, "fp16", log_every=1, checkpoint_every=2)
    with pytest.raises(Interrupt):
        run_loop(trainer, trainer.params, store=store(tmp_path), log_to=Recorder(stop_step=3))
    saved = store(tmp_path).load()  # loads with weights_only
    assert saved["step"] == 2
    scaler = saved["trainer"]["optimiser"]["scaler"]
    assert scaler["_growth_tracker"] == 2 and scaler["scale"] > 0


@needs_fp16
def test_fp16_gan_trainer_scales_both_networks(pairs):
    params = section("gan", steps=2, batch_size=4, precision="fp16", adv_weight=1e-2,
                     content={"mse": 1.0, "vgg54": 0.0})
    trainer = GanTrainer(tiny_generator(), tiny_discriminator(), ContentLoss({"mse": 1.0}),
                         PairBatches(*pairs, 4, 0, CPU), params, CPU)
    assert trainer.opt_g.scaler.is_enabled() and trainer.opt_d.scaler.is_enabled()
    losses = trainer.step(0)
    assert all(torch.isfinite(value) for value in losses.values())
    state = trainer.state_dict()
    assert state["opt_g"]["scaler"]["_growth_tracker"] == 1 and state["opt_d"]["scaler"]["_growth_tracker"] == 1


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_no_scaler_without_fp16(pairs, precision):
    trainer = mse_trainer(pairs, precision)
    trainer.step(0)
    assert not trainer.optimiser.scaler.is_enabled()
    assert trainer.state_dict()["optimiser"]["scaler"] == {}


def test_a_loss_without_gradient_changes_nothing():
    module = torch.nn.Linear(2, 1)
    optimiser = Optimiser(module, 0.1, (0.9, 0.999), precision="fp32", device=CPU)
    before = {name: value.clone() for name, value in module.named_parameters()}
    optimiser.step(torch.zeros(()))
    assert optimizer_steps(optimiser) == 0
    assert all(torch.equal(value, dict(module.named_parameters())[name]) for name, value in before.items())
    optimiser.step(module(torch.ones(1, 2)).sum())
    assert optimizer_steps(optimiser) == 1


def test_step_decay_and_state_round_trip():
    module = torch.nn.Linear(2, 1)
    optimiser = Optimiser(module, 0.1, (0.9, 0.999), precision="fp32", device=CPU, decay=LrDecay(at=[1, 3], factor=0.5))
    seen = []
    for _ in range(4):
        seen.append(optimiser.lr)
        optimiser.step(module(torch.ones(1, 2)).sum())
        optimiser.end_of_step()
    assert seen == pytest.approx([0.1, 0.05, 0.05, 0.025])
    copy = Optimiser(module, 0.1, (0.9, 0.999), precision="fp32", device=CPU, decay=LrDecay(at=[1, 3], factor=0.5))
    copy.load_state_dict(optimiser.state_dict())
    assert copy.lr == pytest.approx(0.025) and copy.scheduler.last_epoch == 4
