"""A killed 2-process (gloo, torchrun) training run resumes, with 2 processes or with 1, to the files of an
uninterrupted run."""

import re
import shutil

import torch

from srgan.models.io import load_generator


def test_a_killed_two_process_run_resumes_with_two_or_one(copy_tiny_run):
    """One checkpoint of a killed 2-process run, resumed twice: with 2 processes to the files of an uninterrupted
    run, and with 1 process (N processes resume with M) to a finite model of the same architecture."""
    project = copy_tiny_run(lambda p: (  # pretrained already (the process count is an execution setting)
        p["execution"].update(nproc_per_node=2, device="cpu"),
        p["gan"].update(steps=40, checkpoint_every=10, log_every=10, validate_every=40,
                        replay={"size": 8, "fraction": 0.5})))
    root = project.root
    checkpoint = project.kill_during("train_gan", "checkpoints/train_gan-*/state.pt")
    kept = root.parent / "kept_checkpoint"
    shutil.copytree(checkpoint.parent, kept)
    resumed = project.dvc("repro", "train_gan")
    assert re.search(r"resuming from step \d+", resumed.stdout + resumed.stderr)
    after_resume = project.gan_digests()
    assert not checkpoint.parent.exists(), "a finished run removes its checkpoint"

    shutil.copytree(kept, checkpoint.parent)
    project.edit_params(lambda p: p["execution"].update(nproc_per_node=1))  # an execution setting: same run, same key
    resumed = project.dvc("repro", "--force", "--single-item", "train_gan")
    assert re.search(r"resuming from step \d+", resumed.stdout + resumed.stderr), "N processes resume with M"
    assert not checkpoint.parent.exists()
    with_one, _ = load_generator(root / "models/srgan.pt")
    assert all(torch.isfinite(value).all() for value in with_one.state_dict().values() if value.is_floating_point())

    project.edit_params(lambda p: p["execution"].update(nproc_per_node=2))
    uninterrupted = project.dvc("repro", "--force", "--single-item", "train_gan")
    assert "resuming" not in uninterrupted.stdout + uninterrupted.stderr
    assert project.gan_digests() == after_resume, "a resumed 2-process run ends with the files of an uninterrupted one"
    reference, _ = load_generator(root / "models/srgan.pt")
    assert reference.arch == with_one.arch
