"""Comparing commits and DVC experiments through dvc.api, in a real (tiny) git + DVC repository."""

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

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


def test_runs_become_a_table_and_markdown():
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
    assert "old-commit: the metrics of set5" in str(err.value)


def test_runs_are_named_by_the_params_that_differ():
    params = {"a": {"gan": {"adv_weight": 0.001, "steps": 10}, "execution": {"device": "cpu"}},
              "b": {"gan": {"adv_weight": 0.01, "steps": 10}, "execution": {"device": "cuda:1"}}}
    assert differing_params(params) == {"a": "gan.adv_weight=0.001", "b": "gan.adv_weight=0.01"}


def test_compare_puts_commits_and_the_workspace_side_by_side(repo, tmp_path, capsys):
    (repo / "reports/evaluate/set5/metrics.json").write_text(json.dumps({"srgan": {"psnr_y": 31.0, "ssim_y": 0.9}}))
    assert main(["HEAD~1", "HEAD", "workspace", "--repo", str(repo), "-o", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "comparison.csv")
    srgan = table[table["method"] == "SRGAN"]
    assert dict(zip(srgan["run"], srgan["psnr_y"])) == {"r1": 29.0, "r2": 28.0, "r3": 31.0}
    key = pd.read_csv(tmp_path / "runs.csv", keep_default_na=False)
    assert key[["run", "revision", "params"]].values.tolist() == [["r1", "HEAD~1", "gan.adv_weight=0.01"],
                                                                  ["r2", "HEAD", "gan.adv_weight=0.02"],
                                                                  ["r3", "workspace", "gan.adv_weight=0.02"]]
    assert "| r3    | workspace  | gan.adv_weight=0.02 |" in capsys.readouterr().out, "the key is printed"
    assert (tmp_path / "comparison.png").stat().st_size > 1000
    assert (tmp_path / "tradeoff.png").stat().st_size > 1000
    markdown = (tmp_path / "comparison.md").read_text()
    assert "| set5" in markdown and "| r1    | HEAD~1" in markdown


def test_figures_stay_slide_sized_with_many_runs_differing_in_many_params(tmp_path):
    from PIL import Image

    from srgan.compare import run_key, write_comparison

    labels = [f"exp-{index}" for index in range(14)]
    params = {label: {"gan": {"adv_weight": index * 1e-3, "lr_d": 1e-4 * (index % 3), "steps": 100 + index,
                              "content": {"feature_matching": index % 4, "low_pass": index % 2}},
                      "seed": index % 5} for index, label in enumerate(labels)}
    runs = {label: {"skimage": {"bicubic": {"psnr_y": 28.5, "ssim_y": 0.8, "niqe": 7.6},
                                "srgan": {"psnr_y": 28.0 - (index % 4) * 0.1, "ssim_y": 0.78,
                                          "niqe": 4.5 + (index % 4) * 0.1}}}  # runs whose points coincide
            for index, label in enumerate(labels)}
    key = run_key(labels, differing_params(params))
    assert list(key["run"]) == [f"r{index}" for index in range(1, 15)]
    assert key["params"][3].count("=") == 6  # every differing param is in the key, not in the figures
    write_comparison(dict(zip(key["run"], runs.values())), tmp_path, 150, key)
    for figure in ("comparison.png", "tradeoff.png"):
        width, height = Image.open(tmp_path / figure).size
        assert width <= 2100 and height <= 1200, (figure, width, height)  # 13.3 x 7.5 inches at 150 dpi or less


def test_tradeoff_gives_each_run_its_own_marker_shape(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    from srgan import report

    shapes = []
    original = Axes.scatter

    def scatter(ax, *args, marker=None, **kwargs):
        shapes.append(marker)
        return original(ax, *args, marker=marker, **kwargs)

    monkeypatch.setattr(Axes, "scatter", scatter)
    runs = {f"r{index}": {"set5": {"srgan": {"psnr_y": 28.0, "ssim_y": 0.8, "niqe": 5.0 + (index > 2)}}}
            for index in range(1, 6)}
    report.perception_distortion_figure(runs_table(runs), tmp_path / "t.png", 100, series="run")
    assert len(shapes) == 5 and len(set(shapes)) == 5


def test_across_runs_on_several_sets_each_point_names_its_set(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    from srgan import report

    labels = []
    original = Axes.annotate
    monkeypatch.setattr(Axes, "annotate", lambda ax, text, *a, **k: (labels.append(text), original(ax, text, *a, **k)))
    runs = {f"adv={w}": {name: {"srgan": {"psnr_y": 28.0 - w + shift, "ssim_y": 0.8, "niqe": 5.0 + w},
                                "hr": {"niqe": 3.0 + shift}}
                         for name, shift in (("skimage", 0), ("set14", 2))} for w in (0, 1)}
    report.perception_distortion_figure(runs_table(runs), tmp_path / "t.png", 100, series="run")
    assert {"SRGAN (skimage)", "SRGAN (set14)", "HR (skimage)", "HR (set14)"} <= set(labels), labels
    labels.clear()
    report.perception_distortion_figure(runs_table({run: {"skimage": sets["skimage"]} for run, sets in runs.items()}),
                                        tmp_path / "t.png", 100, series="run")
    assert "SRGAN" in labels and not any("(" in str(label) for label in labels if "SRGAN" in str(label))


def test_a_set_added_to_params_but_not_yet_run_is_left_out_not_an_error(tmp_path, capsys):
    """The sets compared are those params.yaml names and dvc.lock says were evaluated: params.yaml may already
    name one that has not run (`dvc repro` not yet run after adding it), and dvc.lock still lists a removed one."""
    root = tmp_path / "project"
    root.mkdir()
    run(root, "git", "init", "-q")
    run(root, sys.executable, "-m", "dvc", "init", "-q")
    (root / "params.yaml").write_text("data: {eval: {set5: set5, set14: set14}}\ngan: {adv_weight: 0.01}\n")
    (root / "dvc.lock").write_text("schema: '2.0'\nstages:\n  evaluate@set5:\n    cmd: python evaluate.py set5\n"
                                   "    params:\n      params.yaml:\n        gan.adv_weight: 0.01\n"
                                   "  evaluate@removed:\n    cmd: python evaluate.py removed\n")
    for name in ("set5", "removed"):  # a set removed from params.yaml keeps its stage in dvc.lock and its folder
        (root / "reports/evaluate" / name).mkdir(parents=True)
        (root / "reports/evaluate" / name / "metrics.json").write_text('{"srgan": {"psnr_y": 29.0, "ssim_y": 0.8}}')
    assert main(["workspace", "--repo", str(root), "-o", str(tmp_path / "out")]) == 0, capsys.readouterr().err
    assert set(pd.read_csv(tmp_path / "out" / "comparison.csv")["dataset"]) == {"set5"}


def test_a_workspace_is_named_by_the_params_its_outputs_came_from(repo, tmp_path, capsys):
    """`dvc exp run` in the workspace, then params.yaml reset to HEAD's (as the README's reset line does): the
    workspace's metrics are the experiment's, and so is its name."""
    try:
        run(repo, sys.executable, "-m", "dvc", "exp", "run", "-S", "gan.adv_weight=0.04", "-q")
        run(repo, "git", "checkout", "params.yaml")
        assert main(["HEAD", "workspace", "--repo", str(repo), "-o", str(tmp_path)]) == 0
        key = pd.read_csv(tmp_path / "runs.csv", keep_default_na=False).set_index("revision")
        assert key.loc["workspace", "params"] == "gan.adv_weight=0.04"
        assert key.loc["HEAD", "params"] == "gan.adv_weight=0.02" and key.loc["HEAD", "note"] == ""
        assert "other params than its params.yaml (gan.adv_weight)" in key.loc["workspace", "note"]
        table = pd.read_csv(tmp_path / "comparison.csv")
        assert table[(table["run"] == "r2") & (table["method"] == "SRGAN")]["psnr_y"].item() == pytest.approx(26.0)
    finally:
        run(repo, "git", "checkout", ".")


def test_compare_reads_dvc_experiments_and_names_them_by_their_params(repo, tmp_path):
    run(repo, sys.executable, "-m", "dvc", "exp", "run", "-S", "gan.adv_weight=0.05", "-n", "bigger-x", "-q")
    assert main(["HEAD", "--exp", "--repo", str(repo), "-o", str(tmp_path)]) == 0
    key = pd.read_csv(tmp_path / "runs.csv").set_index("revision")
    assert key.loc["bigger-x", "params"] == "gan.adv_weight=0.05"
    table = pd.read_csv(tmp_path / "comparison.csv").set_index(["run", "method"])
    assert table.loc[(key.loc["bigger-x", "run"], "SRGAN"), "psnr_y"] == pytest.approx(25.0)


def test_a_revision_without_metrics_is_skipped_and_named(repo, tmp_path, capsys):
    assert main(["no-such-branch", "HEAD", "--repo", str(repo), "-o", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "skipped no-such-branch" in err and "Traceback" not in err
    assert set(pd.read_csv(tmp_path / "comparison.csv")["run"]) == {"r1"}
    assert list(pd.read_csv(tmp_path / "runs.csv")["revision"]) == ["HEAD"]


def test_nothing_to_compare_is_one_clear_error(repo, tmp_path, capsys):
    assert main(["no-such-branch", "--repo", str(repo), "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "params.yaml at no-such-branch" in err and "Traceback" not in err


WRITE_SAMPLES = WRITE_METRICS + """
import numpy as np
from PIL import Image
folder = "reports/evaluate/set5/samples/bird"
os.makedirs(folder, exist_ok=True)
hr = np.random.default_rng(0).integers(0, 200, (48, 40, 3)).astype(np.uint8)
images = {"hr": hr, "lr": hr[::4, ::4], "bicubic": hr + 3, "srgan": hr + int(round(x * 1000))}
for key, image in images.items():
    Image.fromarray(image).save(f"{folder}/{key}.png")
"""
IMAGE_STAGE = STAGE + """    outs:
      - reports/evaluate/set5/samples
"""


@pytest.fixture(scope="module")
def image_repo(tmp_path_factory) -> Path:
    """Two commits and an experiment whose evaluation kept sample PNGs (a DVC output, in the cache)."""
    root = tmp_path_factory.mktemp("image-repo")
    run(root, "git", "init", "-q")
    run(root, sys.executable, "-m", "dvc", "init", "-q")
    (root / "dvc.yaml").write_text(IMAGE_STAGE)
    (root / "write_metrics.py").write_text(WRITE_SAMPLES)
    for x in (0.01, 0.02):
        (root / "params.yaml").write_text(PARAMS.format(x=x).replace("set5: set5}", "set5: set5}, scale: 4"))
        run(root, sys.executable, "-m", "dvc", "repro", "-q")
        commit(root, f"x={x}")
    run(root, sys.executable, "-m", "dvc", "exp", "run", "-S", "gan.adv_weight=0.05", "-n", "bigger-x", "-q")
    return root


def test_compare_html_shows_each_runs_pixels_named_by_params(image_repo, tmp_path, browser):
    from tests.conftest import open_page

    assert main(["HEAD~1", "HEAD", "--exp", "--html", "--repo", str(image_repo), "-o", str(tmp_path)]) == 0
    # hr, lr and bicubic are the same bytes in every run: stored once; SRGAN once per run
    assert len(list((tmp_path / "images").glob("*.png"))) == 3 + 3
    page, log = open_page(browser, (tmp_path / "index.html").as_uri())
    page.keyboard.press("g")
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    labels = page.locator("[data-set=set5] figure figcaption b").all_inner_texts()
    assert labels[:2] == ["LR", "Bicubic"] and labels[-1] == "HR" and len(labels) == 6
    srgan = [label for label in labels if label.startswith("SRGAN")]
    assert len(srgan) == 3 and any("gan.adv_weight=0.05" in label for label in srgan)
    assert any(label.startswith("SRGAN · r1: gan.adv_weight=0.01") for label in srgan)  # r1 is HEAD~1
    hr = np.asarray(Image.open(tmp_path / "images" / next(
        p.name for p in (tmp_path / "images").iterdir() if np.asarray(Image.open(p)).shape == (48, 40, 3)
        and np.asarray(Image.open(p)).max() < 200)))
    for index, x in enumerate((0.01, 0.02)):  # the tiles show each run's own pixels
        tile = page.locator(f"[data-set=set5] figure[data-key='srgan@{index}'] canvas")
        top, left, h, w = (int(v) for v in tile.get_attribute("data-region").split(","))
        with Image.open(io.BytesIO(tile.screenshot())) as shot:
            shown = np.asarray(shot.convert("RGB"))[0, 0]
        assert np.array_equal(shown, hr[top, left] + int(round(x * 1000))), x
    assert "PSNR-Y" in page.locator("table[data-table=set5]").inner_text()
    assert all(url.startswith(("file://", "data:")) for url in log.requests) and not log.errors, log.errors
    page.close()


def test_compare_html_names_a_run_whose_images_are_not_in_the_cache(image_repo, tmp_path, capsys):
    clone = tmp_path / "clone"
    shutil.copytree(image_repo, clone, ignore=shutil.ignore_patterns("cache"))  # git and DVC files, no DVC cache
    shutil.rmtree(clone / "reports/evaluate/set5/samples")
    out = tmp_path / "out"
    assert main(["HEAD", "--html", "--repo", str(clone), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "no images of HEAD" in err and "reports/evaluate/set5/samples at HEAD" in err and "dvc pull" in err
    assert "Traceback" not in err
    html = (out / "index.html").read_text()
    assert '"viewers":[]' in html and '"name":"set5"' in html  # the table still, no viewer


@pytest.mark.parametrize("dpi", ["0", "-3", "high"])
def test_a_dpi_below_1_is_refused_naming_the_option(dpi, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["HEAD", "--dpi", dpi, "-o", str(tmp_path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --dpi:" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_a_queued_experiment_is_named_and_left_out_not_shown_with_its_base_commit_s_numbers(repo, tmp_path, capsys):
    run(repo, sys.executable, "-m", "dvc", "exp", "run", "--queue", "-S", "gan.adv_weight=0.3", "-n", "waiting")
    try:
        assert main(["HEAD", "--exp", "--repo", str(repo), "-o", str(tmp_path)]) == 0
    finally:
        run(repo, sys.executable, "-m", "dvc", "queue", "remove", "--all")
    assert "skipped waiting: queued, it has no results of its own" in capsys.readouterr().err
    assert "waiting" not in set(pd.read_csv(tmp_path / "runs.csv")["revision"])


def test_an_output_folder_of_the_pipeline_or_a_file_is_refused(repo, tmp_path, capsys):
    (tmp_path / "taken").write_text("keep")
    for out, message in ((repo / "reports", "the pipeline's stages write reports/"),
                         (repo / "reports" / "index.html", "the pipeline's stages write reports/"),
                         (tmp_path / "taken", "is a file")):
        assert main(["HEAD", "--repo", str(repo), "-o", str(out)]) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    assert (tmp_path / "taken").read_text() == "keep" and not (repo / "reports" / "index.html").exists()
    assert main(["HEAD", "--repo", str(repo), "-o", str(repo / "reports" / "compare")]) == 0


def test_a_comparison_without_html_removes_an_earlier_page_whose_run_names_it_would_contradict(image_repo, tmp_path):
    assert main(["HEAD~1", "HEAD", "--html", "--repo", str(image_repo), "-o", str(tmp_path)]) == 0
    assert (tmp_path / "index.html").exists() and list((tmp_path / "images").iterdir())
    assert main(["HEAD", "HEAD~1", "--repo", str(image_repo), "-o", str(tmp_path)]) == 0
    assert not (tmp_path / "index.html").exists() and not (tmp_path / "images").exists()


def test_runs_of_different_scales_get_no_page_and_are_named(tmp_path, capsys):
    from srgan.cli.compare import write_html

    (tmp_path / "index.html").write_text("an earlier page")
    params = {"HEAD": {"data.scale": 4, "data.eval.set5": "set5"}, "x2": {"data.scale": 2, "data.eval.set5": "set5"}}
    write_html({"HEAD": "HEAD", "x2": "x2"}, params, {"HEAD": "r1: data.scale=4", "x2": "r2: data.scale=2"},
               pd.DataFrame(), tmp_path, str(tmp_path))
    assert "no index.html: the runs upscale by different factors (r1 x4, r2 x2)" in capsys.readouterr().err
    assert not (tmp_path / "index.html").exists()


def test_a_run_without_a_set_shows_a_dash_not_nan():
    one = {"set5": {"bicubic": {"psnr_y": 28.0, "ssim_y": 0.8}}}
    two = {**one, "extra": {"bicubic": {"psnr_y": 25.0, "ssim_y": 0.7}}}
    text = comparison_markdown(runs_table({"r1": one, "r2": two}))
    row = next(line for line in text.splitlines() if line.startswith("| extra"))
    assert "nan" not in text and row.replace(" ", "") == "|extra|Bicubic|–|25.00/0.7000|"
