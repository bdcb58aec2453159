"""Sharing through a DVC remote (a local folder): repro, push, a fresh clone, pull, and `dvc repro` runs nothing."""

import subprocess
import sys

import yaml

from srgan.models.io import load_generator


def test_a_fresh_clone_pulls_everything_and_reruns_nothing(copy_tiny_run, tmp_path_factory):
    project = copy_tiny_run()  # repro'd already: the repro below checks it is up to date
    store = tmp_path_factory.mktemp("remote")
    project.dvc("remote", "add", "-d", "team", str(store))
    project.dvc("repro")
    project.commit("a run, shared")
    project.dvc("push")
    project.dvc("push", "--run-cache")

    clone = tmp_path_factory.mktemp("clone") / "project"
    subprocess.run(["git", "clone", "-q", str(project.root), str(clone)], check=True, capture_output=True)
    other = type(project)(clone)
    assert not (clone / "models/srgan.pt").exists()
    other.dvc("pull")
    for name in ("srresnet", "srgan", "unsupervised"):
        load_generator(clone / "models" / f"{name}.pt")
    assert (clone / "data/backbones/README.md").exists() and (clone / "data/raw/train").is_dir()
    assert (clone / "reports/figures/comparison_skimage.png").exists()
    assert other.ran(other.dvc("repro")) == set()
    status = other.dvc("status", "--json").stdout.strip()
    assert status in ("{}", "")


def test_run_cache_restores_a_stage_instead_of_running_it(copy_tiny_run, tmp_path_factory):
    """With the team's run-cache, a stage another machine ran with the same inputs is restored, not rerun."""
    project = copy_tiny_run()  # repro'd: its run-cache holds every stage
    store = tmp_path_factory.mktemp("remote")
    project.dvc("remote", "add", "-d", "team", str(store))
    project.commit("prepared")
    project.dvc("push", "--run-cache")
    clone = tmp_path_factory.mktemp("clone") / "project"
    subprocess.run(["git", "clone", "-q", str(project.root), str(clone)], check=True, capture_output=True)
    other = type(project)(clone)
    result = other.dvc("repro", "--pull", "prepare")
    assert "Running stage 'prepare'" not in result.stdout
    assert (clone / "data/prepared/train/train_hr.npy").exists()
    assert sys.executable  # the clone ran with this interpreter's dvc


def test_shared_downloads_leave_out_lock_files_partial_downloads_and_extracted_folders(tiny_copy):
    """`dvc add data/downloads` (README) after a killed download tracks the archives, not its leftovers, nor the
    folders the archives were extracted to."""
    downloads = tiny_copy.root / "data" / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    (downloads / "benchmark.tar").write_bytes(b"an archive")
    (downloads / "benchmark" / "Set14").mkdir(parents=True)
    (downloads / "benchmark" / "Set14" / "baboon.png").write_bytes(b"an extracted image")
    (downloads / "benchmark" / ".extracted").write_text("done")
    (downloads / "benchmark.tar.lock").write_bytes(b"")
    (downloads / "DIV2K_train_HR.zip.part").write_bytes(b"half an archive")
    tiny_copy.dvc("add", "data/downloads")
    tracked = yaml.safe_load((tiny_copy.root / "data" / "downloads.dvc").read_text())["outs"][0]
    assert tracked["nfiles"] == 1
