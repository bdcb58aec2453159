"""kill -9 in the middle of train_gan, then `dvc repro`: training resumes and ends with the same files."""

import os

import torch


def test_killed_training_resumes_to_the_same_files(make_project):
    project = make_project(lambda p: p["gan"].update(
        steps=150, checkpoint_every=10, log_every=10, validate_every=20, d_warmup_steps=10,
        replay={"size": 8, "fraction": 0.5}, adv_ramp={"schedule": "linear", "start": 0.0, "steps": 100}))
    root = project.root
    project.dvc("repro", "pretrain")
    checkpoint = project.kill_during("train_gan", "checkpoints/train_gan-*/state.pt")
    step = torch.load(checkpoint, map_location="cpu", weights_only=False)["step"]
    assert 0 < step < 160
    assert not (root / "models/srgan.pt").exists()
    # A fresh checkout gives the inputs new mtimes: the run is keyed by content, so it still resumes.
    for path in (root / "data/prepared").rglob("*"):
        os.utime(path, (1_000_000, 1_000_000))

    resumed = project.dvc("repro")
    assert {"train_gan", "evaluate@skimage", "report"} <= project.ran(resumed)
    assert f"resuming from step {step}" in resumed.stdout + resumed.stderr
    after_resume = project.gan_digests()
    assert any("images/val" in name for name in after_resume), "validation images before the kill were replayed"

    uninterrupted = project.dvc("repro", "--force", "--single-item", "train_gan")
    assert "resuming" not in uninterrupted.stdout + uninterrupted.stderr
    assert project.gan_digests() == after_resume
