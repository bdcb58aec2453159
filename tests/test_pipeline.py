"""The real `dvc repro` on tiny params, in a temporary copy of the project."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from srgan.models.io import load_generator

STAGES = {"download", "prepare", "pretrain", "train_gan", "train_unsupervised", "evaluate", "report"}


@pytest.fixture(scope="module")
def project(make_project):
    return make_project()


@pytest.fixture(scope="module")
def first_run(project):
    return project.dvc("repro")


def test_repro_runs_every_stage(project, first_run):
    assert project.ran(first_run) == STAGES


def test_outputs(project, first_run):
    root = project.root
    assert len(list((root / "data/raw/skimage/train").glob("*.png"))) == 13
    assert sorted(p.stem for p in (root / "data/raw/skimage/eval").glob("*.png")) == ["astronaut", "chelsea", "coffee"]
    hr = np.load(root / "data/prepared/train_hr.npy", mmap_mode="r")
    lr = np.load(root / "data/prepared/train_lr.npy", mmap_mode="r")
    assert hr.shape == (13 * 3, 32, 32, 3) and lr.shape == (13 * 3, 8, 8, 3)
    for name in ("srresnet", "srgan", "unsupervised"):
        generator, meta = load_generator(root / "models" / f"{name}.pt")
        assert generator.scale == 4
        assert generator(torch.rand(1, 3, 8, 8)).shape == (1, 3, 32, 32)
    per_image = pd.read_csv(root / "reports/evaluate/per_image.csv")
    assert len(per_image) == 3 * 5
    for sample in ("astronaut", "chelsea"):
        assert {p.stem for p in (root / "reports/evaluate/samples/skimage" / sample).iterdir()} == {
            "lr", "nearest", "bicubic", "srresnet", "srgan", "unsupervised", "hr", "ur_srresnet", "ur_srgan",
            "ur_unsupervised"}
    for figure in ("comparison_skimage.png", "training_curves.png", "perception_distortion.png",
                   "grid_skimage_srgan.png", "grid_skimage_unsupervised.png"):
        assert (root / "reports/figures" / figure).stat().st_size > 10_000
    curves = root / "reports/train_gan/plots/metrics"
    for name in ("g/content", "g/adversarial", "g/total", "d/loss", "d/real", "d/fake", "adv_weight", "lr/g",
                 "lr/d", "val/psnr_y"):
        assert (curves / f"{name}.tsv").exists(), name
    assert (root / "reports/pretrain/plots/metrics/val/psnr_y.tsv").exists()
    assert (root / "reports/train_unsupervised/plots/metrics/g/consistency.tsv").exists()
    assert (root / "reports/metrics_table.tex").read_text().count("Unsupervised") == 1
    assert list((root / "reports/train_gan/plots/images/val").glob("astronaut_*.png"))


def test_unavailable_backbones_are_loud_everywhere(project, first_run):
    root = project.root
    record = json.loads((root / "data/weights.json").read_text())
    assert {entry["status"] for entry in record.values()} == {"unavailable"}
    assert "FALLBACK" in first_run.stdout + first_run.stderr
    metrics = json.loads((root / "reports/metrics.json").read_text())
    assert set(metrics["skimage"]) == {"nearest", "bicubic", "srresnet", "srgan", "unsupervised"}
    assert all(values["lpips"] is None for values in metrics["skimage"].values())
    assert metrics["info"]["lpips"].startswith("unavailable")
    assert metrics["info"]["srgan_training"].startswith("FALLBACK")
    report = (root / "reports/report.md").read_text()
    assert "FALLBACK" in report and "unavailable" in report and "| skimage" in report


def test_metrics_and_plots_are_visible_to_dvc(project, first_run):
    assert "psnr_y" in project.dvc("metrics", "show", "--json").stdout
    plots = project.dvc("plots", "show", "--json").stdout
    assert "mse.tsv" in plots and "comparison_skimage.png" in plots


def test_nothing_changed_runs_nothing(project, first_run):
    assert project.ran(project.dvc("repro")) == set()


def test_gan_change_reruns_only_gan_evaluate_report(project, first_run):
    project.edit_params(lambda p: p["gan"].update(adv_weight=5e-3))
    assert project.ran(project.dvc("repro")) == {"train_gan", "evaluate", "report"}


def test_unsupervised_change_reruns_only_its_stage_evaluate_report(project, first_run):
    project.edit_params(lambda p: p["unsupervised"].update(adv_weight=2e-3))
    assert project.ran(project.dvc("repro")) == {"train_unsupervised", "evaluate", "report"}


def test_measurement_mode_needs_lr_crops_the_discriminator_can_take(project, first_run):
    project.edit_params(lambda p: p["unsupervised"].update(mode="measurement"))
    result = project.dvc("repro", "train_unsupervised", check=False)
    project.edit_params(lambda p: p["unsupervised"].update(mode="unpaired"))
    assert result.returncode != 0
    output = result.stderr + result.stdout
    assert "error: params.yaml: unsupervised.mode: measurement compares LR crops of 8px" in output


def test_report_change_reruns_only_report(project, first_run):
    project.edit_params(lambda p: p["report"].update(dpi=160))
    assert project.ran(project.dvc("repro")) == {"report"}


def test_bad_params_stop_with_one_message(project, first_run):
    project.edit_params(lambda p: p["data"].update(hr_szie=p["data"]["hr_size"]))
    result = project.dvc("repro", "prepare", "--force", "--single-item", check=False)
    project.edit_params(lambda p: p["data"].pop("hr_szie"))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "error: params.yaml: unknown key 'data.hr_szie'; did you mean 'hr_size'?" in output
    assert "Traceback" not in output


def test_a_stage_run_without_its_inputs_says_what_to_do(tmp_path):
    import subprocess
    import sys

    (tmp_path / "params.yaml").write_text((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    result = subprocess.run([sys.executable, "-m", "srgan.stages.pretrain"], cwd=tmp_path, capture_output=True,
                            text=True)
    assert result.returncode == 1
    assert "data/prepared/train_lr.npy: missing" in result.stderr and "dvc repro" in result.stderr
    assert "Traceback" not in result.stderr
