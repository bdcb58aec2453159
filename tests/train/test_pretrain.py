"""SRResNet pretraining (pixel MSE): it learns, and a killed run resumes to the same model."""

import pytest
import torch
from tests.train.conftest import CPU, Interrupt, Recorder, assert_same, section, store, tiny_generator

from srgan.train.batches import PairBatches
from srgan.train.loop import run_loop
from srgan.train.pretrain import MSETrainer


def trainer(pairs, seed=0, **values) -> MSETrainer:
    params = section("pretrain", **{"batch_size": 4, **values})
    return MSETrainer(tiny_generator(seed), PairBatches(*pairs, 4, 0, CPU), params, CPU)


def test_pretraining_lowers_the_mse(pairs, tmp_path):
    recorder = Recorder()
    mse = trainer(pairs, steps=40, lr=2e-3, log_every=10, checkpoint_every=100)
    run_loop(mse, mse.params, store=store(tmp_path), log_to=recorder)
    logged = [(step, values["train/mse"]) for step, values in recorder.logged]
    assert [step for step, _ in logged] == [10, 20, 30, 40]
    assert logged[-1][1] < logged[0][1]


def test_pretraining_resumes_to_the_same_model(pairs, tmp_path):
    values = {"steps": 6, "lr": 1e-3, "log_every": 1, "checkpoint_every": 3}
    straight_trainer = trainer(pairs, **values)
    straight = run_loop(straight_trainer, straight_trainer.params, store=store(tmp_path, "a"))
    with pytest.raises(Interrupt):
        killed = trainer(pairs, **values)
        run_loop(killed, killed.params, store=store(tmp_path, "b"), log_to=Recorder(stop_step=5))
    assert store(tmp_path, "b").load()["step"] == 3
    recorder = Recorder()
    resumed_trainer = trainer(pairs, seed=99, **values)
    resumed = run_loop(resumed_trainer, resumed_trainer.params, store=store(tmp_path, "b"), log_to=recorder)
    # The history up to the checkpoint is replayed, so the curves of a resumed run are whole.
    assert [step for step, _ in recorder.logged] == [1, 2, 3, 4, 5, 6]
    assert_same(straight, resumed)
    assert_same(straight_trainer.optimiser.state_dict(), resumed_trainer.optimiser.state_dict())


def test_learning_rate_decays_at_its_steps(pairs):
    mse = trainer(pairs, steps=6, lr=1e-3, lr_decay={"at": [2, 4], "factor": 0.5})
    seen = []
    for index in range(6):
        seen.append(mse.schedule(index)["lr"])
        mse.step(index)
    assert seen == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4])


def test_a_step_returns_device_tensors_and_trains_the_generator(pairs):
    mse = trainer(pairs, steps=2, lr=1e-3)
    before = {name: value.clone() for name, value in mse.generator.named_parameters()}
    losses = mse.step(0)
    assert list(losses) == ["train/mse"]
    assert torch.is_tensor(losses["train/mse"]) and not losses["train/mse"].requires_grad
    assert any(not torch.equal(value, dict(mse.generator.named_parameters())[name]) for name, value in before.items())
    assert mse.schedule(0) == {"lr": pytest.approx(1e-3)}  # no progressive values when not growing
    assert mse.images_per_step == 4 and mse.total_steps == 2
