"""Comparing commits and DVC experiments through dvc.api, in a real (tiny) git + DVC repository."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from srgan.cli.compare import main
from srgan.compare import comparison_markdown, runs_table

WRITE_METRICS = """
import json, yaml
x = yaml.safe_load(open("params.yaml"))["x"]
metrics = {"set5": {"srgan": {"psnr_y": 20.0 + x, "ssim_y": 0.5, "psnr_rgb": 19.0, "lpips": None}}}
json.dump(metrics, open("reports/metrics.json", "w"))
"""
STAGE = """stages:
  fake_evaluate:
    cmd: python write_metrics.py
    deps: [write_metrics.py]
    params: [x]
    metrics:
      - reports/metrics.json:
          cache: false
"""


def run(root: Path, *args: str) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"


def commit(root: Path, message: str) -> None:
    run(root, "git", "add", "-A")
    run(root, "git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", message)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    run(root, "git", "init", "-q")
    run(root, sys.executable, "-m", "dvc", "init", "-q")
    (root / "reports").mkdir()
    (root / "dvc.yaml").write_text(STAGE)
    (root / "write_metrics.py").write_text(WRITE_METRICS)
    for x in (1, 2):
        (root / "params.yaml").write_text(f"x: {x}\n")
        run(root, sys.executable, "-m", "dvc", "repro", "-q")
        commit(root, f"x={x}")
    return root


def test_runs_table_and_markdown():
    metrics = {"a": {"set5": {"bicubic": {"psnr_y": 28.0, "ssim_y": 0.8, "psnr_rgb": 27.0, "lpips": None}},
                     "info": {"scale": 4}},
               "b": {"set5": {"bicubic": {"psnr_y": 29.0, "ssim_y": 0.85, "psnr_rgb": 28.0, "lpips": 0.2}}}}
    table = runs_table(metrics)
    assert list(table["run"]) == ["a", "b"] and list(table["method"]) == ["Bicubic", "Bicubic"]
    text = comparison_markdown(table)
    assert "28.00 / 0.8000" in text and "29.00 / 0.8500 / 0.2000" in text


def test_compare_commits_and_workspace(repo, tmp_path):
    (repo / "reports/metrics.json").write_text(json.dumps(
        {"set5": {"srgan": {"psnr_y": 30.0, "ssim_y": 0.9, "psnr_rgb": 29.0, "lpips": None}}}))
    assert main(["HEAD~1", "HEAD", "workspace", "--repo", str(repo), "-o", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "comparison.csv")
    assert dict(zip(table["run"], table["psnr_y"])) == {"HEAD~1": 21.0, "HEAD": 22.0, "workspace": 30.0}
    assert (tmp_path / "comparison.png").stat().st_size > 1000
    assert "| set5" in (tmp_path / "comparison.md").read_text()


def test_compare_dvc_experiments(repo, tmp_path):
    run(repo, sys.executable, "-m", "dvc", "exp", "run", "-S", "x=5", "-n", "bigger-x", "-q")
    assert main(["--exp", "--repo", str(repo), "-o", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "comparison.csv")
    assert table.set_index("run").loc["bigger-x", "psnr_y"] == 25.0


def test_unknown_revision_is_one_clear_error(repo, tmp_path, capsys):
    assert main(["no-such-branch", "--repo", str(repo), "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "reports/metrics.json at no-such-branch" in err and "Traceback" not in err
