"""Comparing commits and DVC experiments through dvc.api, in a real (tiny) git + DVC repository."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from srgan.cli.compare import main
from srgan.compare import comparison_markdown, differing_params, runs_table
from srgan.errors import SrganError
from srgan.report import shared_points

WRITE_METRICS = """
import json, os, yaml
params = yaml.safe_load(open("params.yaml"))
x = params["gan"]["adv_weight"]
os.makedirs("reports/evaluate/set5", exist_ok=True)
metrics = {"bicubic": {"psnr_y": 28.0, "ssim_y": 0.8, "niqe": 7.0},
           "srgan": {"psnr_y": 30.0 - 100 * x, "ssim_y": 0.5, "psnr_rgb": 19.0, "niqe": 6.0 - 100 * x}}
json.dump(metrics, open("reports/evaluate/set5/metrics.json", "w"))
"""
STAGE = """stages:
  fake_evaluate:
    cmd: python write_metrics.py
    deps: [write_metrics.py]
    params: [gan.adv_weight]
    metrics:
      - reports/evaluate/set5/metrics.json:
          cache: false
"""
PARAMS = "execution: {{device: cpu}}\ndata: {{eval: {{set5: set5}}}}\ngan: {{adv_weight: {x}}}\n"


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
    (root / "dvc.yaml").write_text(STAGE)
    (root / "write_metrics.py").write_text(WRITE_METRICS)
    for x in (0.01, 0.02):
        (root / "params.yaml").write_text(PARAMS.format(x=x))
        run(root, sys.executable, "-m", "dvc", "repro", "-q")
        commit(root, f"x={x}")
    return root


def test_runs_table_and_markdown():
    runs = {"a": {"set5": {"bicubic": {"psnr_y": 28.0, "ssim_y": 0.8, "psnr_rgb": 27.0}}},
            "b": {"set5": {"bicubic": {"psnr_y": 29.0, "ssim_y": 0.85, "psnr_rgb": 28.0, "lpips": 0.2}}}}
    table = runs_table(runs)
    assert list(table["run"]) == ["a", "b"] and list(table["method"]) == ["Bicubic", "Bicubic"]
    text = comparison_markdown(table)
    assert "28.00 / 0.8000 / –" in text and "29.00 / 0.8500 / 0.2000" in text


def test_tradeoff_draws_a_baseline_every_run_shares_once_and_joins_what_the_sweep_moved():
    runs = {f"adv={w}": {"skimage": {"bicubic": {"psnr_y": 28.5, "ssim_y": 0.8, "niqe": 7.6},
                                     "srgan": {"psnr_y": 28.5 - w, "ssim_y": 0.78, "niqe": 4.5 + w}}}
            for w in (0, 1, 2)}
    runs["other set"] = {"set5": {"bicubic": {"psnr_y": 30.0, "ssim_y": 0.9, "niqe": 6.0}}}
    table = runs_table(runs)
    shared = shared_points(table, "run", "niqe")
    assert not shared.any()  # one run lacks skimage: nothing is every run's
    table = runs_table({name: sets for name, sets in runs.items() if name != "other set"})
    shared = shared_points(table, "run", "niqe")
    assert set(table[shared]["method"]) == {"Bicubic"} and not shared[table["method"] == "SRGAN"].any()


@pytest.mark.parametrize("metrics,message", [
    ([1, 2], "expected a mapping of methods"),
    ({"srgan": {"psnr_y": "high"}}, "does not map metric names to numbers"),
    ({"srgan": 3.0}, "does not map metric names to numbers"),
])
def test_other_schema_names_the_run_and_file(metrics, message):
    with pytest.raises(SrganError, match=message) as err:
        runs_table({"old-commit": {"set5": metrics}})
    assert "old-commit: reports/evaluate/set5/metrics.json" in str(err.value)


def test_runs_are_named_by_the_params_that_differ():
    params = {"a": {"gan": {"adv_weight": 0.001, "steps": 10}, "execution": {"device": "cpu"}},
              "b": {"gan": {"adv_weight": 0.01, "steps": 10}, "execution": {"device": "cuda:1"}}}
    assert differing_params(params) == {"a": "gan.adv_weight=0.001", "b": "gan.adv_weight=0.01"}


def test_compare_commits_and_workspace(repo, tmp_path):
    (repo / "reports/evaluate/set5/metrics.json").write_text(json.dumps({"srgan": {"psnr_y": 31.0, "ssim_y": 0.9}}))
    assert main(["HEAD~1", "HEAD", "workspace", "--repo", str(repo), "-o", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "comparison.csv")
    srgan = table[table["method"] == "SRGAN"]
    assert dict(zip(srgan["run"], srgan["psnr_y"])) == {"HEAD~1: gan.adv_weight=0.01": 29.0,
                                                        "HEAD: gan.adv_weight=0.02": 28.0,
                                                        "workspace: gan.adv_weight=0.02": 31.0}
    assert (tmp_path / "comparison.png").stat().st_size > 1000
    assert (tmp_path / "tradeoff.png").stat().st_size > 1000
    assert "| set5" in (tmp_path / "comparison.md").read_text()


def test_compare_dvc_experiments(repo, tmp_path):
    run(repo, sys.executable, "-m", "dvc", "exp", "run", "-S", "gan.adv_weight=0.05", "-n", "bigger-x", "-q")
    assert main(["HEAD", "--exp", "--repo", str(repo), "-o", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "comparison.csv").set_index(["run", "method"])
    runs = set(table.index.get_level_values("run"))
    assert any(run.startswith("bigger-x: ") and "gan.adv_weight=0.05" in run for run in runs)
    assert table.loc[[r for r in runs if r.startswith("bigger-x")][0], "SRGAN"]["psnr_y"] == pytest.approx(25.0)


def test_a_revision_without_metrics_is_skipped_and_named(repo, tmp_path, capsys):
    assert main(["no-such-branch", "HEAD", "--repo", str(repo), "-o", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "skipped no-such-branch" in err and "Traceback" not in err
    assert set(pd.read_csv(tmp_path / "comparison.csv")["run"]) == {"HEAD"}


def test_nothing_to_compare_is_one_clear_error(repo, tmp_path, capsys):
    assert main(["no-such-branch", "--repo", str(repo), "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "params.yaml at no-such-branch" in err and "Traceback" not in err


@pytest.mark.parametrize("dpi", ["0", "-3", "high"])
def test_a_dpi_below_1_is_refused_naming_the_option(dpi, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["HEAD", "--dpi", dpi, "-o", str(tmp_path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --dpi:" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())
