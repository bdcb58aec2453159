"""kill -9 in the middle of train_gan, then `dvc repro`: training resumes and ends at the same model."""

import os
import signal
import subprocess
import sys
import time

import torch


def state_of(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_killed_training_resumes_to_the_same_model(make_project):
    project = make_project(lambda p: p["gan"].update(
        steps=150, checkpoint_every=10, log_every=10, validate_every=0, d_warmup_steps=10,
        replay={"size": 8, "fraction": 0.5}, adv_ramp={"schedule": "linear", "start": 0.0, "steps": 100}))
    root = project.root
    project.dvc("repro", "pretrain")
    checkpoint = root / "checkpoints/train_gan.pt"
    run = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "train_gan"], cwd=root, env=project.env(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert checkpoint.exists(), "the run ended before its first checkpoint: nothing was interrupted"
    step = torch.load(checkpoint, map_location="cpu", weights_only=False)["step"]
    assert 0 < step < 160
    assert not (root / "models/srgan.pt").exists()

    resumed = project.dvc("repro")
    assert {"train_gan", "evaluate", "report"} <= project.ran(resumed)
    assert f"resuming from step {step}" in resumed.stdout + resumed.stderr
    after_resume = state_of(root / "models/srgan.pt")

    checkpoint.unlink()
    uninterrupted = project.dvc("repro", "--force", "--single-item", "train_gan")
    assert "resuming" not in uninterrupted.stdout + uninterrupted.stderr
    reference = state_of(root / "models/srgan.pt")
    assert after_resume.keys() == reference.keys()
    for name, value in reference.items():
        assert torch.equal(value, after_resume[name]), name
