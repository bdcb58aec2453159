"""The real `dvc repro` on tiny params, in a temporary copy of the project."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from srgan.models.io import load_generator

PROJECT = Path(__file__).resolve().parents[1]
STAGES = ["download", "prepare", "pretrain", "train_gan", "evaluate", "report"]


def tiny(params: dict) -> dict:
    params["data"].update(hr_size=32, crops_per_image=3, fetch_weights=False)
    params["model"]["generator"].update(blocks=1, channels=8)
    params["model"]["discriminator"].update(channels=4, dense=8)
    params["pretrain"].update(steps=4, batch_size=4, log_every=2, checkpoint_every=2, precision="fp32")
    params["gan"].update(steps=3, batch_size=4, log_every=1, checkpoint_every=2, precision="fp32")
    params["evaluate"].update(samples=2)
    params["report"].update(dpi=72)
    return params


def dvc(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "TORCH_HOME": str(project / ".torch"), "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=project, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def ran_stages(result: subprocess.CompletedProcess) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", result.stdout + result.stderr))


def edit_params(project: Path, edit) -> None:
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    edit(params)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def git(project: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=project, check=True,
                   capture_output=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(PROJECT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(PROJECT / ".dvc", root / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    for name in ("dvc.yaml", "params.yaml", ".gitignore"):
        shutil.copy(PROJECT / name, root / name)
    edit_params(root, tiny)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "tiny project")
    return root


@pytest.fixture(scope="module")
def first_run(project) -> subprocess.CompletedProcess:
    return dvc(project, "repro")


def test_repro_runs_every_stage(first_run):
    assert ran_stages(first_run) == set(STAGES)


def test_outputs(project, first_run):
    assert len(list((project / "data/raw/skimage/train").glob("*.png"))) == 13
    assert sorted(p.stem for p in (project / "data/raw/skimage/eval").glob("*.png")) == ["astronaut", "chelsea", "coffee"]
    hr = np.load(project / "data/prepared/train_hr.npy", mmap_mode="r")
    lr = np.load(project / "data/prepared/train_lr.npy", mmap_mode="r")
    assert hr.shape == (13 * 3, 32, 32, 3) and lr.shape == (13 * 3, 8, 8, 3)
    for name in ("srresnet", "srgan"):
        generator, meta = load_generator(project / "models" / f"{name}.pt")
        assert generator.scale == 4
        assert generator(torch.rand(1, 3, 8, 8)).shape == (1, 3, 32, 32)
    per_image = pd.read_csv(project / "reports/evaluate/per_image.csv")
    assert len(per_image) == 3 * 4
    for sample in ("astronaut", "chelsea"):
        assert {p.stem for p in (project / "reports/evaluate/samples/skimage" / sample).iterdir()} == {
            "lr", "nearest", "bicubic", "srresnet", "srgan", "hr", "ur"}
    for figure in ("comparison_skimage.png", "training_curves.png"):
        assert (project / "reports/figures" / figure).stat().st_size > 10_000
    assert (project / "reports/pretrain/plots/metrics/train/mse.tsv").exists()
    assert (project / "reports/train_gan/plots/metrics/d/real.tsv").exists()


def test_unavailable_backbones_are_loud_everywhere(project, first_run):
    record = json.loads((project / "data/weights.json").read_text())
    assert {entry["status"] for entry in record.values()} == {"unavailable"}
    assert "FALLBACK" in first_run.stdout + first_run.stderr
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert set(metrics["skimage"]) == {"nearest", "bicubic", "srresnet", "srgan"}
    assert all(values["lpips"] is None for values in metrics["skimage"].values())
    assert metrics["info"]["lpips"].startswith("unavailable")
    assert metrics["info"]["srgan_training"].startswith("FALLBACK")
    report = (project / "reports/report.md").read_text()
    assert "FALLBACK" in report and "unavailable" in report and "| skimage" in report


def test_metrics_and_plots_are_visible_to_dvc(project, first_run):
    shown = dvc(project, "metrics", "show", "--json").stdout
    assert "psnr_y" in shown
    plots = dvc(project, "plots", "show", "--json").stdout
    assert "train/mse" in plots or "mse.tsv" in plots


def test_nothing_changed_runs_nothing(project, first_run):
    assert ran_stages(dvc(project, "repro")) == set()


def test_gan_change_reruns_only_gan_evaluate_report(project, first_run):
    edit_params(project, lambda p: p["gan"].update(adv_weight=5e-3))
    assert ran_stages(dvc(project, "repro")) == {"train_gan", "evaluate", "report"}


def test_report_change_reruns_only_report(project, first_run):
    edit_params(project, lambda p: p["report"].update(dpi=80))
    assert ran_stages(dvc(project, "repro")) == {"report"}


def test_bad_params_stop_with_one_message(project, first_run):
    edit_params(project, lambda p: p["data"].update(hr_szie=p["data"]["hr_size"]))
    result = dvc(project, "repro", "prepare", "--force", "--single-item", check=False)
    edit_params(project, lambda p: p["data"].pop("hr_szie"))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "error: params.yaml: unknown key 'data.hr_szie'; did you mean 'hr_size'?" in output
    assert "Traceback" not in output
