"""The discriminator watch: a D that outputs the same for real and fake is called collapsed, loudly, and recorded."""

import logging

import torch
from tests.train.conftest import CPU, section, store, tiny_discriminator, tiny_generator

from srgan.losses import ContentLoss
from srgan.train.batches import PairBatches
from srgan.train.gan import GanTrainer
from srgan.train.health import DiscriminatorWatch
from srgan.train.loop import run_loop


def test_a_discriminator_that_separates_is_not_collapsed():
    watch = DiscriminatorWatch(start=0, margin=0.02, patience=3)
    for step in range(1, 10):
        watch.observe(step, {"d/real": 0.7, "d/fake": 0.3})
    assert watch.summary()["collapsed"] is False
    assert watch.summary()["separation_mean"] == 0.4


def test_collapse_needs_patience_consecutive_steps_after_the_start():
    watch = DiscriminatorWatch(start=20, margin=0.02, patience=3)
    for step in (10, 20):  # warm-up: not watched
        watch.observe(step, {"d/real": 0.45, "d/fake": 0.45})
    for step, fake in ((30, 0.45), (40, 0.45), (50, 0.2), (60, 0.45), (70, 0.45)):
        watch.observe(step, {"d/real": 0.45, "d/fake": fake})
    assert not watch.summary()["collapsed"]
    watch.observe(80, {"d/real": 0.45, "d/fake": 0.45})
    assert watch.summary()["collapsed"] and watch.summary()["collapsed_at"] == 80


def test_steps_without_discriminator_outputs_are_ignored():
    watch = DiscriminatorWatch()
    watch.observe(10, {"train/mse": 0.1})
    assert watch.summary() == {"collapsed": False, "logged_steps": 0}


def test_a_constant_discriminator_is_detected_in_a_real_gan_run(pairs, tmp_path, caplog):
    discriminator = tiny_discriminator()
    with torch.no_grad():  # logits = the head's bias, whatever the image: D(real) = D(fake)
        for module in discriminator.head.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.zero_()
    discriminator.requires_grad_(False)
    params = section("gan", steps=8, batch_size=4, content={"mse": 1.0, "vgg54": 0.0}, adv_weight=1e-2,
                     d_warmup_steps=2, log_every=1, real_label=0.9)
    trainer = GanTrainer(tiny_generator(), discriminator, ContentLoss({"mse": 1.0}), PairBatches(*pairs, 4, 0, CPU),
                         params, CPU)
    watch = DiscriminatorWatch(start=params.d_warmup_steps)
    with caplog.at_level(logging.WARNING, logger="srgan.train.health"):
        run_loop(trainer, params, store=store(tmp_path), watch=watch)
    verdict = watch.summary()
    assert verdict["collapsed"] and verdict["collapsed_at"] == 2 + 5
    assert verdict["separation_last"] == 0.0
    assert any("DISCRIMINATOR COLLAPSED" in record.getMessage() for record in caplog.records)
