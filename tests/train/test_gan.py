"""SRGAN fine-tuning: every logged quantity, the tricks (D warm-up, several D steps, label smoothing, lr decay,
adversarial ramps), adversarial-only runs, the relativistic loss, feature matching, and exact resumes."""

import math

import pytest
import torch
import torch.nn.functional as F
from tests.train.conftest import (
    CPU,
    Interrupt,
    Recorder,
    assert_same,
    optimizer_steps,
    parameters,
    section,
    store,
    tiny_discriminator,
    tiny_generator,
)

from srgan.losses import ContentLoss, relativistic_discriminator_loss
from srgan.train.batches import PairBatches
from srgan.train.gan import GanTrainer
from srgan.train.loop import Validation, run_loop

MSE_ONLY = {"mse": 1.0, "vgg54": 0.0}
NO_CONTENT = {"mse": 0.0, "vgg54": 0.0}


def gan_params(**values):
    return section("gan", **{"steps": 4, "batch_size": 4, "content": MSE_ONLY, **values})


def gan_trainer(pairs, params, seed=0, content=None, batches=None) -> GanTrainer:
    weights = {name: w for name, w in params.content.model_dump().items() if name in ("mse", "l1")}
    return GanTrainer(tiny_generator(seed), tiny_discriminator(seed + 1), content or ContentLoss(weights),
                      batches or PairBatches(*pairs, 4, 0, CPU), params, CPU)


def test_gan_step_logs_every_quantity(pairs):
    trainer = gan_trainer(pairs, gan_params(steps=1, adv_weight=1e-2, real_label=0.9))
    losses = trainer.gan_step(PairBatches(*pairs, 4, 0, CPU), 0)
    assert {"g/total", "g/content", "g/adversarial", "g/content_mse", "d/loss", "d/real", "d/fake"} <= set(losses)
    assert "g/content_feature_matching" not in losses
    assert float(losses["g/total"]) == pytest.approx(float(losses["g/content"]) + 1e-2 * float(losses["g/adversarial"]),
                                                     rel=1e-5)
    assert 0 < float(losses["d/real"]) < 1 and 0 < float(losses["d/fake"]) < 1
    assert not any(value.requires_grad for value in losses.values())


@pytest.mark.parametrize("artifacts", [0.0, 1.0])
def test_gan_training_resumes_to_the_same_models(pairs, tmp_path, artifacts):
    # With a D warm-up step and a replay buffer (and G's running average, for the artifact term), whose state must
    # survive the resume too.
    params = gan_params(d_warmup_steps=1, replay={"size": 8, "fraction": 0.5}, adv_weight=1e-2, log_every=1,
                        checkpoint_every=2, content={**MSE_ONLY, "artifacts": artifacts})
    straight = gan_trainer(pairs, params)
    run_loop(straight, params, store=store(tmp_path, "a"))
    with pytest.raises(Interrupt):
        run_loop(gan_trainer(pairs, params), params, store=store(tmp_path, "b"), log_to=Recorder(stop_step=4))
    assert store(tmp_path, "b").load()["step"] == 2
    resumed = gan_trainer(pairs, params, seed=7)
    recorder = Recorder()
    run_loop(resumed, params, store=store(tmp_path, "b"), log_to=recorder)
    assert [step for step, _ in recorder.logged] == [1, 2, 3, 4, 5]
    assert len(resumed.replay.images) == 8
    assert ("reference" in resumed.state_dict()) == (artifacts > 0)
    assert_same(straight.state_dict(), resumed.state_dict())


def test_several_d_steps_per_g_step(pairs):
    trainer = gan_trainer(pairs, gan_params(steps=2, d_steps=3))
    used = []

    def batch_at(k):
        used.append(k)
        return PairBatches(*pairs, 4, 0, CPU)(k)

    trainer.gan_step(batch_at, 0)
    trainer.gan_step(batch_at, 1)
    assert optimizer_steps(trainer.opt_d) == 6 and optimizer_steps(trainer.opt_g) == 2
    assert used == [0, 1, 2, 3, 4, 5]  # every D step sees its own batch
    assert trainer.images_per_step == 4 * 3


def test_discriminator_warmup_leaves_the_generator_alone(pairs):
    trainer = gan_trainer(pairs, gan_params(steps=1, d_warmup_steps=3))
    before_g = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    before_d = {k: v.clone() for k, v in trainer.discriminator.state_dict().items()}
    batches = PairBatches(*pairs, 4, 0, CPU)
    for step in range(3):
        losses = trainer.warmup_step(*batches(step))
        assert "g/total" not in losses and "d/loss" in losses
    assert_same(before_g, trainer.generator.state_dict())  # weights and BatchNorm statistics
    assert any(not torch.equal(v, trainer.discriminator.state_dict()[k]) for k, v in before_d.items())
    assert optimizer_steps(trainer.opt_g) == 0 and optimizer_steps(trainer.opt_d) == 3
    assert trainer.generator.training


def test_step_runs_the_warmup_then_the_gan_steps_on_the_following_batches(pairs):
    params = gan_params(steps=2, d_warmup_steps=2, adv_weight=1e-2, adv_ramp={"schedule": "linear", "steps": 2})
    used = []

    def batches(k):
        used.append(k)
        return PairBatches(*pairs, 4, 0, CPU)(k)

    trainer = gan_trainer(pairs, params, batches=batches)
    assert trainer.total_steps == 4
    assert [set(trainer.step(index)) >= {"g/total"} for index in range(4)] == [False, False, True, True]
    assert used == [0, 1, 2, 3]
    assert optimizer_steps(trainer.opt_d) == 4 and optimizer_steps(trainer.opt_g) == 2
    # Ramps and lr decay count GAN steps: the first GAN step (index 2) is at the ramp's start.
    assert [trainer.schedule(index)["adv_weight"] for index in range(4)] == pytest.approx([0, 0, 0, 5e-3])


def test_label_smoothing_sets_the_real_target(pairs):
    # With identical D outputs, the D loss differs exactly by the BCE term of the real target.
    smooth = gan_trainer(pairs, gan_params(steps=1, real_label=0.9))
    hard = gan_trainer(pairs, gan_params(steps=1, real_label=1.0))
    lr, hr = PairBatches(*pairs, 4, 0, CPU)(0)
    with torch.no_grad():
        fake = smooth.g(lr)
        logits = smooth.d(hr)
    loss_smooth = smooth.discriminator_step(fake, hr)["d/loss"]
    loss_hard = hard.discriminator_step(fake, hr)["d/loss"]
    target_gap = (F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, 0.9))
                  - F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)))
    assert float(loss_smooth - loss_hard) == pytest.approx(float(target_gap), abs=1e-5)


def test_an_r1_penalty_is_logged_and_changes_only_the_d_update(pairs):
    plain = gan_trainer(pairs, gan_params(steps=1))
    penalised = gan_trainer(pairs, gan_params(steps=1, r1_weight=10.0))
    lr, hr = PairBatches(*pairs, 4, 0, CPU)(0)
    with torch.no_grad():
        fake = plain.g(lr)
    without, with_r1 = plain.discriminator_step(fake, hr), penalised.discriminator_step(fake, hr)
    assert "d/r1" not in without and with_r1["d/r1"].item() > 0
    # The logged BCE is the same (the penalty is added for D's update only, so collapse checks read plain BCE) ...
    assert with_r1["d/loss"].item() == pytest.approx(without["d/loss"].item(), rel=1e-6)
    # ... and the update is not.
    after_plain, after_r1 = parameters(plain.discriminator), parameters(penalised.discriminator)
    assert any(not torch.equal(after_plain[name], after_r1[name]) for name in after_plain)


@pytest.mark.parametrize("discriminator_input", ["image", "high_pass"])
def test_a_luma_discriminator_cannot_see_a_change_of_colour_only(pairs, discriminator_input):
    trainer = gan_trainer(pairs, gan_params(steps=1, discriminator_input=discriminator_input,
                                            discriminator_luma=True))
    _, hr = PairBatches(*pairs, 4, 0, CPU)(0)
    fringe = torch.zeros_like(hr)
    fringe[..., ::2] = torch.tensor([0.587, -0.299, 0.0]).view(1, 3, 1, 1) * 0.2  # zero luma, striped
    seen, seen_fringed = trainer.seen_by_d(hr, 2), trainer.seen_by_d(hr + fringe, 2)
    assert torch.allclose(seen, seen_fringed, atol=1e-6)
    assert torch.equal(seen[:, 0], seen[:, 1]) and torch.equal(seen[:, 0], seen[:, 2])
    # Without it the fringe is in plain sight.
    rgb = gan_trainer(pairs, gan_params(steps=1, discriminator_input=discriminator_input))
    assert (rgb.seen_by_d(hr + fringe, 2) - rgb.seen_by_d(hr, 2)).abs().max() > 0.05


def test_step_decay_of_both_learning_rates(pairs):
    trainer = gan_trainer(pairs, gan_params(lr_g=1e-3, lr_d=2e-3, lr_decay={"at": [2], "factor": 0.1}))
    batches = PairBatches(*pairs, 4, 0, CPU)
    seen = []
    for step in range(4):
        seen += [trainer.opt_g.lr, trainer.opt_d.lr]
        assert trainer.schedule(step)["lr/g"] == trainer.opt_g.lr and trainer.schedule(step)["lr/d"] == trainer.opt_d.lr
        trainer.gan_step(batches, step)
    assert seen == pytest.approx([1e-3, 2e-3, 1e-3, 2e-3, 1e-4, 2e-4, 1e-4, 2e-4])


def test_adversarial_only_and_content_only(pairs):
    batches = PairBatches(*pairs, 4, 0, CPU)
    adversarial_only = gan_trainer(pairs, gan_params(steps=1, adv_weight=1.0, content=NO_CONTENT))
    losses = adversarial_only.gan_step(batches, 0)
    assert float(losses["g/content"]) == 0 and float(losses["g/total"]) == pytest.approx(float(losses["g/adversarial"]))
    assert optimizer_steps(adversarial_only.opt_g) == 1
    content_only = gan_trainer(pairs, gan_params(steps=1, adv_weight=0.0))
    losses = content_only.gan_step(batches, 0)
    assert float(losses["g/total"]) == pytest.approx(float(losses["g/content"]))
    assert float(losses["g/adversarial"]) == 0


def test_adversarial_only_at_the_start_of_a_ramp_trains_d_and_leaves_g(pairs):
    # The README's "adversarial only" experiment with the default linear ramp from 0: the first G loss is
    # 0 * adversarial + no content, with no gradient at all. It used to raise "element 0 of tensors does
    # not require grad"; now G skips that update while D trains.
    params = gan_params(adv_weight=1e-2, content=NO_CONTENT, adv_ramp={"schedule": "linear", "start": 0.0,
                                                                       "steps": 4})
    trainer = gan_trainer(pairs, params, content=ContentLoss(dict(NO_CONTENT)))
    assert trainer.adv_weight(0) == 0
    g_before, d_before = parameters(trainer.generator), parameters(trainer.discriminator)
    losses = trainer.step(0)
    assert all(math.isfinite(float(value)) for value in losses.values())
    assert float(losses["g/total"]) == 0
    assert_same(g_before, parameters(trainer.generator))
    assert any(not torch.equal(value, parameters(trainer.discriminator)[name]) for name, value in d_before.items())
    assert optimizer_steps(trainer.opt_g) == 0 and optimizer_steps(trainer.opt_d) == 1
    assert trainer.opt_g.scheduler.last_epoch == 1  # the schedule still counts the step
    trainer.step(1)  # the ramp is above 0: G trains
    assert optimizer_steps(trainer.opt_g) == 1
    assert any(not torch.equal(value, parameters(trainer.generator)[name]) for name, value in g_before.items())


def test_adversarial_only_runs_through_the_loop(pairs, tmp_path):
    params = gan_params(adv_weight=1e-2, content=NO_CONTENT, log_every=1, checkpoint_every=2,
                        adv_ramp={"schedule": "linear", "steps": 4})
    recorder = Recorder()
    run_loop(gan_trainer(pairs, params), params, store=store(tmp_path), log_to=recorder)
    assert [step for step, _ in recorder.logged] == [1, 2, 3, 4]
    assert [values["adv_weight"] for _, values in recorder.logged] == pytest.approx([0, 2.5e-3, 5e-3, 7.5e-3])


@pytest.mark.parametrize("adversarial", ["standard", "relativistic"])
@pytest.mark.parametrize("matching", [0.0, 0.5])
def test_adversarial_kinds_and_feature_matching_train_finitely(pairs, tmp_path, adversarial, matching):
    params = gan_params(steps=2, adversarial=adversarial, adv_weight=1e-2, log_every=1, checkpoint_every=100,
                        content={**MSE_ONLY, "feature_matching": matching})
    trainer = gan_trainer(pairs, params)
    recorder = Recorder()
    run_loop(trainer, params, store=store(tmp_path), log_to=recorder)
    assert [step for step, _ in recorder.logged] == [1, 2]
    for _, values in recorder.logged:
        assert all(math.isfinite(value) for value in values.values()), values
        assert ("g/content_feature_matching" in values) == (matching > 0)
        if matching:
            assert values["g/content_feature_matching"] > 0
            assert values["g/content"] == pytest.approx(values["g/content_mse"]
                                                         + matching * values["g/content_feature_matching"], rel=1e-5)
        else:
            assert values["g/content"] == pytest.approx(values["g/content_mse"], rel=1e-5)


def test_feature_matching_alone_trains_g_without_an_adversarial_term(pairs):
    params = gan_params(steps=1, adv_weight=0.0, content={**NO_CONTENT, "feature_matching": 1.0})
    trainer = gan_trainer(pairs, params)
    before = parameters(trainer.generator)
    losses = trainer.step(0)
    assert float(losses["g/content_feature_matching"]) > 0
    assert float(losses["g/total"]) == pytest.approx(float(losses["g/content_feature_matching"]))
    assert optimizer_steps(trainer.opt_g) == 1
    assert any(not torch.equal(value, parameters(trainer.generator)[name]) for name, value in before.items())


def test_the_artifact_term_compares_g_with_its_running_average(pairs):
    params = gan_params(steps=3, content={**MSE_ONLY, "artifacts": 2.0})
    trainer = gan_trainer(pairs, params)
    assert gan_trainer(pairs, gan_params(steps=1)).reference is None  # off: no average kept
    start = parameters(trainer.generator)
    for index in range(3):
        losses = trainer.step(index)
        assert float(losses["g/content_artifacts"]) > 0
        assert float(losses["g/content"]) == pytest.approx(
            float(losses["g/content_mse"]) + 2.0 * float(losses["g/content_artifacts"]), rel=1e-5)
    # The average trails G (torch's AveragedModel starts from G after its first update, then moves a thousandth of
    # the way a step): it has left G's start, and is far from where G is now.
    average, now = parameters(trainer.reference.generator), parameters(trainer.generator)
    moved = {name: (now[name] - start[name]).abs().sum() for name in start}
    behind = {name: (now[name] - average[name]).abs().sum() for name in start}
    assert any(not torch.equal(average[name], start[name]) for name in start)
    assert all(0 < behind[name] < moved[name] for name in start if moved[name] > 0)


def test_relativistic_discriminator_loss_is_used(pairs):
    standard = gan_trainer(pairs, gan_params(steps=1))
    relativistic = gan_trainer(pairs, gan_params(steps=1, adversarial="relativistic"))
    lr, hr = PairBatches(*pairs, 4, 0, CPU)(0)
    with torch.no_grad():
        fake = standard.g(lr)
        real_logits, fake_logits = standard.d(hr), standard.d(fake)
    expected = relativistic_discriminator_loss(real_logits, fake_logits, real_logits.mean(), fake_logits.mean())
    assert float(relativistic.discriminator_step(fake, hr)["d/loss"]) == pytest.approx(float(expected), rel=1e-5)
    assert float(standard.discriminator_step(fake, hr)["d/loss"]) != pytest.approx(float(expected), rel=1e-5)


def test_logs_schedule_values_and_validation(pairs, tmp_path):
    lr, hr = pairs
    validation = Validation({"v": (lr[0], hr[0])}, scale=4)
    params = gan_params(adv_weight=1e-2, adv_ramp={"schedule": "linear", "start": 0.0, "steps": 4}, log_every=2,
                        checkpoint_every=100, validate_every=4)
    plain, validated = Recorder(), Recorder()
    run_loop(gan_trainer(pairs, params), params, store=store(tmp_path, "a"), log_to=plain)
    run_loop(gan_trainer(pairs, params), params, store=store(tmp_path, "b"), log_to=validated, validation=validation)
    assert [step for step, _ in plain.logged] == [2, 4] and [step for step, _ in validated.logged] == [2, 4]
    assert plain.logged[0][1]["adv_weight"] == pytest.approx(1e-2 * 1 / 4)  # logged at GAN step index 1
    assert {"g/content", "g/adversarial", "g/total", "d/loss", "d/real", "d/fake", "lr/g", "lr/d",
            "perf/images_per_s"} <= set(plain.logged[0][1])
    assert "val/psnr_y" in validated.logged[1][1] and "val/psnr_y" not in plain.logged[1][1]
    assert plain.images == []
    assert [(step, name, image.shape) for step, name, image in validated.images] == [(4, "val/v", (32, 32, 3))]
