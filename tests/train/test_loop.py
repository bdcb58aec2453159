"""run_loop: logging cadence, losses read back at log steps only, resume with whole curves and images,
non-finite stops that keep the last good checkpoint, and the exponential moving average of G."""

import math
import time

import numpy as np
import pytest
import torch
from tests.train.conftest import CPU, Interrupt, Recorder, assert_same, section, store, tiny_generator

from srgan.errors import SrganError
from srgan.inference import upscale_image
from srgan.metrics import psnr_y
from srgan.train.batches import PairBatches
from srgan.train.distributed import Dist
from srgan.train.loop import RunningMean, Validation, run_loop
from srgan.train.pretrain import MSETrainer


def mse_trainer(pairs, seed: int = 0, batches=None, **values) -> MSETrainer:
    params = section("pretrain", **{"lr": 1e-3, "batch_size": 4, **values})
    return MSETrainer(tiny_generator(seed), batches or PairBatches(*pairs, 4, 0, CPU), params, CPU)


class Recording:
    """A trainer that records each step's losses (read back here, not by the loop) and G's weights after it."""

    def __init__(self, inner):
        self.inner, self.name, self.generator = inner, inner.name, inner.generator
        self.total_steps, self.images_per_step = inner.total_steps, inner.images_per_step
        self.losses: list[dict[str, float]] = []
        self.weights: list[dict[str, torch.Tensor]] = []

    def step(self, index):
        losses = self.inner.step(index)
        self.losses.append({name: float(value) for name, value in losses.items()})
        self.weights.append({name: value.detach().clone() for name, value in self.generator.state_dict().items()})
        return losses

    def schedule(self, index):
        return self.inner.schedule(index)

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, state):
        self.inner.load_state_dict(state)


def reading_dist(trainer: Recording, reads: list) -> Dist:
    """A one-process Dist that notes after how many steps the loop reads the losses back (Dist.detached_mean)."""

    class Reading(Dist):
        def detached_mean(self, values):
            reads.append(len(trainer.losses))
            return super().detached_mean(values)

    return Reading()


def test_losses_are_read_back_at_log_steps_only_and_logged_as_their_mean(pairs, tmp_path):
    trainer = Recording(mse_trainer(pairs, steps=10, log_every=5, checkpoint_every=1000))
    recorder, reads = Recorder(), []
    run_loop(trainer, trainer.inner.params, store=store(tmp_path), log_to=recorder, dist=reading_dist(trainer, reads))
    assert [step for step, _ in recorder.logged] == [5, 10]
    assert reads == [5, 10]
    for (step, values), steps in zip(recorder.logged, (range(0, 5), range(5, 10))):
        expected = np.mean([trainer.losses[k]["train/mse"] for k in steps])
        assert values["train/mse"] == pytest.approx(expected, rel=1e-6), step
    assert not store(tmp_path).state.exists()  # no checkpoint step before the end


def test_the_logged_mean_covers_every_step_since_the_last_log_across_checkpoints(pairs, tmp_path):
    trainer = Recording(mse_trainer(pairs, steps=10, log_every=5, checkpoint_every=2))
    recorder, reads = Recorder(), []
    run_loop(trainer, trainer.inner.params, store=store(tmp_path), log_to=recorder, dist=reading_dist(trainer, reads))
    assert [step for step, _ in recorder.logged] == [5, 10]
    assert store(tmp_path).load()["step"] == 8  # checkpoints at 2, 4, 6, 8 (each checked for finite losses)
    for (step, values), steps in zip(recorder.logged, (range(0, 5), range(5, 10))):
        expected = np.mean([trainer.losses[k]["train/mse"] for k in steps])
        assert values["train/mse"] == pytest.approx(expected, rel=1e-6), step


def test_log_cadence_schedule_and_throughput(pairs, tmp_path):
    trainer = mse_trainer(pairs, steps=10, log_every=4, checkpoint_every=1000)
    recorder = Recorder()
    returned = run_loop(trainer, trainer.params, store=store(tmp_path), log_to=recorder)
    assert returned is trainer.generator  # no EMA: the trained generator itself
    assert [step for step, _ in recorder.logged] == [4, 8, 10]  # and the last step, whatever the cadence
    for _, values in recorder.logged:
        assert set(values) == {"train/mse", "lr", "perf/images_per_s"}
        assert values["lr"] == pytest.approx(1e-3)
        assert math.isfinite(values["perf/images_per_s"]) and values["perf/images_per_s"] > 0


class SlowValidation(Validation):
    """A validation that takes `seconds` longer than the steps of a whole interval could."""

    def __init__(self, pairs, seconds: float):
        lr, hr = pairs
        super().__init__({"v": (lr[0], hr[0])}, scale=4)
        self.seconds = seconds

    def run(self, generator):
        time.sleep(self.seconds)
        return super().run(generator)


def test_the_throughput_counts_training_steps_not_validation_nor_checkpoints(pairs, tmp_path):
    """A validation and a checkpoint after every step, each validation 0.5 s: were that time counted, no interval
    of 2 steps of 4 crops could log more than 8 / 1.0 = 8 images/s."""
    trainer = mse_trainer(pairs, steps=6, log_every=2, checkpoint_every=1, validate_every=1)
    recorder = Recorder()
    run_loop(trainer, trainer.params, store=store(tmp_path), log_to=recorder, validation=SlowValidation(pairs, 0.5))
    rates = [values["perf/images_per_s"] for _, values in recorder.logged if "perf/images_per_s" in values]
    assert len(rates) == 3 and min(rates) > 8 * 4, rates


def test_validation_runs_at_its_cadence_and_logs_its_images(pairs, tmp_path):
    lr, hr = pairs
    validation = Validation({"first": (lr[0], hr[0]), "second": (lr[1], hr[1])}, scale=4)
    trainer = mse_trainer(pairs, steps=10, log_every=5, checkpoint_every=1000, validate_every=3)
    recorder = Recorder()
    run = store(tmp_path)
    generator = run_loop(trainer, trainer.params, store=run, log_to=recorder, validation=validation)
    assert [step for step, _ in recorder.logged] == [3, 5, 6, 9, 10]
    assert [set(values) for step, values in recorder.logged if step in (3, 6, 9)] == [{"val/psnr_y"}] * 3
    assert {"train/mse", "val/psnr_y"} <= set(recorder.logged[-1][1])
    # One sample image (the first validation image's) each time, kept in the run's folder for a resume.
    assert [(step, name) for step, name, _ in recorder.images] == [(s, "val/first") for s in (3, 6, 9, 10)]
    final = upscale_image(generator.eval(), lr[0])
    assert np.array_equal(recorder.images[-1][2], final) and np.array_equal(run.read_image(10, "val/first"), final)
    both = np.mean([psnr_y(final, hr[0], 4), psnr_y(upscale_image(generator, lr[1]), hr[1], 4)])
    assert recorder.logged[-1][1]["val/psnr_y"] == pytest.approx(both)


def without_throughput(logged):
    return [(step, {k: v for k, v in values.items() if k != "perf/images_per_s"}) for step, values in logged]


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_a_resumed_run_ends_at_the_same_model_with_the_same_curves_and_images(pairs, tmp_path, ema):
    lr, hr = pairs
    validation = Validation({"v": (lr[0], hr[0])}, scale=4)
    values = {"steps": 6, "log_every": 1, "checkpoint_every": 2, "validate_every": 2, "ema": ema}
    straight_log = Recorder()
    straight_trainer = mse_trainer(pairs, **values)
    straight = run_loop(straight_trainer, straight_trainer.params, store=store(tmp_path, "a"), log_to=straight_log,
                        validation=validation)
    with pytest.raises(Interrupt):  # killed while logging step 5: the last checkpoint is at step 4
        killed = mse_trainer(pairs, **values)
        run_loop(killed, killed.params, store=store(tmp_path, "b"), log_to=Recorder(stop_step=5),
                 validation=validation)
    saved = store(tmp_path, "b").load()
    assert saved["step"] == 4
    assert [(entry["step"], entry["images"]) for entry in saved["history"]] == [
        (1, []), (2, ["val/v"]), (3, []), (4, ["val/v"])]
    resumed_log = Recorder()
    resumed_trainer = mse_trainer(pairs, seed=99, **values)
    resumed = run_loop(resumed_trainer, resumed_trainer.params, store=store(tmp_path, "b"), log_to=resumed_log,
                       validation=validation)
    assert_same(straight, resumed)
    assert_same(straight_trainer.generator, resumed_trainer.generator)
    # The history is replayed: the resumed run's curves and images are the uninterrupted run's.
    assert [step for step, _ in resumed_log.logged] == [1, 2, 3, 4, 5, 6]
    assert without_throughput(resumed_log.logged) == without_throughput(straight_log.logged)
    assert [(step, name) for step, name, _ in resumed_log.images] == [(2, "val/v"), (4, "val/v"), (6, "val/v")]
    assert [(step, name) for step, name, _ in straight_log.images] == [(2, "val/v"), (4, "val/v"), (6, "val/v")]
    for (_, _, expected), (step, _, image) in zip(straight_log.images, resumed_log.images):
        assert np.array_equal(expected, image), step


class PoisonedBatches(PairBatches):
    """Real batches, except that the HR of one step is NaN: the loss of that step is not finite."""

    def __init__(self, *args, poisoned_step, **kwargs):
        super().__init__(*args, **kwargs)
        self.poisoned_step = poisoned_step

    def __call__(self, step):
        lr, hr = super().__call__(step)
        return (lr, torch.full_like(hr, float("nan"))) if step == self.poisoned_step else (lr, hr)


def assert_finite_weights(state: dict) -> None:
    assert all(torch.isfinite(value).all() for value in state.values() if value.is_floating_point())


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(pairs, tmp_path):
    batches = PoisonedBatches(*pairs, batch_size=4, seed=0, device=CPU, poisoned_step=4)
    trainer = mse_trainer(pairs, batches=batches, steps=6, log_every=1, checkpoint_every=2)
    recorder = Recorder()
    with pytest.raises(SrganError, match=r"step 5: loss 'train/mse' is nan.*checkpoint is kept \(.*state\.pt\)"):
        run_loop(trainer, trainer.params, store=store(tmp_path), log_to=recorder)
    assert [step for step, _ in recorder.logged] == [1, 2, 3, 4]
    kept = store(tmp_path).load()
    assert kept["step"] == 4
    assert_finite_weights(kept["trainer"]["generator"])


def test_a_diverged_run_is_never_checkpointed_between_log_steps(pairs, tmp_path):
    # Losses are read back at checkpoint steps too: a NaN at step 3 stops the run at the checkpoint of step 4.
    batches = PoisonedBatches(*pairs, batch_size=4, seed=0, device=CPU, poisoned_step=2)
    trainer = Recording(mse_trainer(pairs, batches=batches, steps=8, log_every=1000, checkpoint_every=2))
    reads = []
    with pytest.raises(SrganError, match=r"step 4: loss 'train/mse' is nan"):
        run_loop(trainer, trainer.inner.params, store=store(tmp_path), dist=reading_dist(trainer, reads))
    assert reads == [2, 4]
    kept = store(tmp_path).load()
    assert kept["step"] == 2
    assert_finite_weights(kept["trainer"]["generator"])


def test_ema_returns_the_average_of_the_generator(pairs, tmp_path):
    decay = 0.75
    trainer = Recording(mse_trainer(pairs, steps=5, log_every=5, checkpoint_every=1000, ema=decay))
    average = run_loop(trainer, trainer.inner.params, store=store(tmp_path))
    assert average is not trainer.generator
    raw, averaged = trainer.generator.state_dict(), average.state_dict()
    assert raw.keys() == averaged.keys()
    assert any(not torch.equal(raw[name], averaged[name]) for name, _ in trainer.generator.named_parameters())
    # Weights and BatchNorm statistics: the first step's copied, then each step lerped in by 1 - decay.
    expected = {name: value.clone() for name, value in trainer.weights[0].items()}
    for weights in trainer.weights[1:]:
        for name, value in expected.items():
            if value.is_floating_point():
                value.mul_(decay).add_(weights[name], alpha=1 - decay)
    for name, value in expected.items():
        if value.is_floating_point():
            assert torch.allclose(averaged[name], value, atol=1e-6), name


def test_validation_scores_the_average(pairs, tmp_path):
    lr, hr = pairs
    trainer = mse_trainer(pairs, steps=4, log_every=4, checkpoint_every=1000, validate_every=4, ema=0.9)
    recorder = Recorder()
    average = run_loop(trainer, trainer.params, store=store(tmp_path), log_to=recorder,
                       validation=Validation({"v": (lr[0], hr[0])}, scale=4))
    sample = upscale_image(average.eval(), lr[0])
    assert np.array_equal(recorder.images[-1][2], sample)
    assert recorder.logged[-1][1]["val/psnr_y"] == pytest.approx(psnr_y(sample, hr[0], 4))


def test_ema_state_is_checkpointed(pairs, tmp_path):
    trainer = mse_trainer(pairs, steps=4, log_every=1, checkpoint_every=2, ema=0.9)
    with pytest.raises(Interrupt):
        run_loop(trainer, trainer.params, store=store(tmp_path), log_to=Recorder(stop_step=3))
    saved = store(tmp_path).load()
    assert saved["step"] == 2 and int(saved["average"]["n_averaged"]) == 2
    plain = mse_trainer(pairs, steps=4, log_every=1, checkpoint_every=2)
    with pytest.raises(Interrupt):
        run_loop(plain, plain.params, store=store(tmp_path, "plain"), log_to=Recorder(stop_step=3))
    assert store(tmp_path, "plain").load()["average"] is None


def test_running_mean_averages_each_loss_over_the_steps_that_had_it():
    running = RunningMean()
    running.add({"a": torch.tensor(1.0), "b": torch.tensor(4.0)})
    running.add({"a": torch.tensor(3.0), "b": torch.tensor(2.0)})
    assert running.pop(Dist(), 2, "ck") == {"a": 2.0, "b": 3.0}
    assert running.pop(Dist(), 3, "ck") == {}
    running.add({"a": torch.tensor(1.0)})
    running.add({"d/loss": torch.tensor(5.0)})  # a D warm-up ends: other losses from here on
    assert running.pop(Dist(), 4, "ck") == {"a": 1.0, "d/loss": 5.0}
    running.add({"a": torch.tensor(float("inf"))})
    with pytest.raises(SrganError, match=r"step 7: loss 'a' is inf"):
        running.pop(Dist(), 7, "ck")


def test_a_checkpoint_that_does_not_fit_the_model_starts_over_with_one_line(pairs, tmp_path, caplog):
    import logging

    from srgan.models.generator import Generator

    params = section("pretrain", lr=1e-3, batch_size=4, steps=4, log_every=2, checkpoint_every=2)
    wider = MSETrainer(Generator(scale=4, blocks=1, channels=12), PairBatches(*pairs, 4, 0, CPU), params, CPU)
    with pytest.raises(Interrupt):
        run_loop(wider, params, store=store(tmp_path), log_to=Recorder(stop_step=4))
    assert store(tmp_path).load()["step"] == 2

    with caplog.at_level(logging.WARNING, logger="srgan.train.loop"):
        resumed = run_loop(mse_trainer(pairs, steps=4, log_every=2, checkpoint_every=2), params,
                           store=store(tmp_path))
    assert "does not fit this model (" in caplog.text and "training starts over from step 0" in caplog.text
    fresh = run_loop(mse_trainer(pairs, steps=4, log_every=2, checkpoint_every=2), params,
                     store=store(tmp_path / "fresh"))
    assert_same(fresh.state_dict(), resumed.state_dict())


class CtrlC(Recorder):
    def metrics(self, step, values):
        if step == self.stop_step:
            raise KeyboardInterrupt
        super().metrics(step, values)


@pytest.mark.parametrize("stop_step,kept", [(2, None), (6, 4)])
def test_an_interruption_says_which_checkpoint_is_kept(pairs, tmp_path, stop_step, kept):
    trainer = mse_trainer(pairs, steps=8, log_every=2, checkpoint_every=4)
    with pytest.raises(KeyboardInterrupt) as info:
        run_loop(trainer, trainer.params, store=store(tmp_path), log_to=CtrlC(stop_step=stop_step))
    message = str(info.value)
    assert message.startswith(f"{trainer.name}: interrupted after step {stop_step} of 8")
    if kept:
        assert f"its checkpoint of step {kept} is kept ({store(tmp_path).state})" in message
        assert store(tmp_path).load()["step"] == kept
    else:
        assert "before its first checkpoint (checkpoint_every: 4): nothing is kept" in message
        assert not store(tmp_path).state.exists()


def test_the_average_of_a_spectral_norm_generator_divides_each_weight_by_its_own_norm():
    """torch's AveragedModel averages the spectral norm's vectors too; their average is no singular vector of the
    averaged weight, which would be scaled wrongly (about 6 % in a run of a few hundred steps)."""
    from srgan.models.generator import Generator
    from srgan.train.loop import Averaged

    torch.manual_seed(0)
    generator = Generator(2, blocks=1, channels=8, norm="spectral")
    average = Averaged(generator, 0.5)
    for _ in range(5):
        with torch.no_grad():
            for parameter in generator.parameters():
                parameter.add_(torch.randn_like(parameter) * 0.3)
            generator.train()(torch.rand(1, 3, 4, 4))  # a power-iteration step for the new weights
        average.update(generator)
    for name, module in average.generator.named_modules():
        if hasattr(module, "parametrizations"):
            original = module.parametrizations.weight.original
            expected = original / torch.linalg.matrix_norm(original.flatten(1).double(), ord=2).float()
            torch.testing.assert_close(module.eval().weight, expected, rtol=1e-5, atol=1e-6, msg=name)
