"""The real `dvc repro` on tiny params, in a temporary copy of the project: outputs, and what reruns when.

The tests that only read the run share one repro'd project (`tiny_run`, built once per session); every test that
changes something (params, code, outputs, experiments) takes a private copy of it (`tiny_copy`), so none depends
on another or on the order they run in."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from srgan.models.io import load_generator

STAGES = {"backbones", "download", "download_eval@skimage", "prepare", "prepare_eval@skimage", "pretrain",
          "train_gan", "train_unsupervised", "evaluate@skimage", "report"}
TRACER = Path(__file__).parent / "stages" / "trace_params.py"
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def project(tiny_run):
    """The shared tiny run: read only."""
    return tiny_run


@pytest.fixture(scope="module")
def first_run(tiny_run):
    return tiny_run.first_run


def status(project) -> set[str]:
    """The stages `dvc status` reports as changed (their own deps, params or outputs)."""
    return set(json.loads(project.dvc("status", "--json").stdout))


def test_repro_runs_every_stage(project, first_run):
    assert project.ran(first_run) == STAGES


def test_repro_writes_every_output_of_the_tiny_pipeline(project, first_run):
    root = project.root
    assert len(list((root / "data/raw/train").glob("*.png"))) == 13
    assert sorted(p.stem for p in (root / "data/raw/eval/skimage").glob("*.png")) == ["astronaut", "chelsea",
                                                                                       "coffee"]
    assert [p.stem for p in (root / "data/raw/validation").glob("*.png")] == ["astronaut"]
    hr = np.load(root / "data/prepared/train/train_hr.npy", mmap_mode="r")
    lr = np.load(root / "data/prepared/train/train_lr.npy", mmap_mode="r")
    assert hr.shape == (13 * 3, 32, 32, 3) and lr.shape == (13 * 3, 8, 8, 3)
    for name in ("srresnet", "srgan", "unsupervised"):
        generator, meta = load_generator(root / "models" / f"{name}.pt")
        assert generator.scale == 4
        assert generator(torch.rand(1, 3, 8, 8)).shape == (1, 3, 32, 32)
        assert meta["execution"]["device"] == "cpu" and meta["execution"]["processes"] == 1
    evaluation = root / "reports/evaluate/skimage"
    per_image = pd.read_csv(evaluation / "per_image.csv")
    assert len(per_image) == 3 * 6  # five methods and the HR image's own NIQE, per image
    for sample in ("astronaut",):
        assert {p.stem for p in (evaluation / "samples" / sample).iterdir()} == {
            "lr", "nearest", "bicubic", "srresnet", "srgan", "unsupervised", "hr", "ur_srresnet", "ur_srgan",
            "ur_unsupervised"}
    for figure in ("comparison_skimage.png", "training_curves.png", "perception_distortion.png",
                   "grid_skimage_srgan.png", "grid_skimage_unsupervised.png"):
        assert (root / "reports/figures" / figure).stat().st_size > 10_000
    curves = root / "reports/train_gan/plots/metrics"
    for name in ("g/content", "g/adversarial", "g/total", "d/loss", "d/real", "d/fake", "adv_weight", "lr/g",
                 "lr/d", "val/psnr_y", "perf/images_per_s"):
        assert (curves / f"{name}.tsv").exists(), name
    assert (root / "reports/pretrain/plots/metrics/val/psnr_y.tsv").exists()
    assert (root / "reports/train_unsupervised/plots/metrics/g/consistency.tsv").exists()
    assert (root / "reports/metrics_table.tex").read_text().count("Unsupervised") == 1
    assert list((root / "reports/train_gan/plots/images/val").glob("astronaut_*.png"))
    assert not list((root / "checkpoints").glob("*")), "a finished run leaves no checkpoint behind"


def test_report_page_shows_the_kept_samples_offline(project, first_run, browser):
    """reports/index.html is a DVC output beside the samples it shows by relative path (none copied); opened from
    file:// it makes no network request, logs no error and shows the model labels and the whole image's metrics."""
    from tests.conftest import open_page

    root = project.root
    html = (root / "reports/index.html").read_text()
    assert '"src":"evaluate/skimage/samples/astronaut/srgan.png"' in html
    assert "path: reports/index.html" in (root / "dvc.lock").read_text()
    page, log = open_page(browser, (root / "reports/index.html").as_uri())
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    assert all(url.startswith(("file://", "data:")) for url in log.requests) and not log.errors, log.errors
    assert "SRGAN-MSE" in page.locator("select[data-role=right]").inner_text()
    assert "FALLBACK" in page.locator("#notes").inner_text()  # the provenance says what SRGAN-MSE means
    per_image = pd.read_csv(root / "reports/evaluate/skimage/per_image.csv").set_index(["image", "method"])
    right = page.locator("[data-side=right]")
    shown = float(right.get_attribute("data-psnr"))
    assert shown == pytest.approx(per_image.loc[("astronaut", "srgan"), "psnr_y"], abs=0.01)
    assert page.locator("table[data-table=skimage] tbody tr").count() == len(
        json.loads((root / "reports/evaluate/skimage/metrics.json").read_text()))
    page.close()


def test_metrics_files_hold_numbers_only_and_provenance_says_the_rest(project, first_run):
    root = project.root
    metrics = json.loads((root / "reports/evaluate/skimage/metrics.json").read_text())
    assert set(metrics) == {"nearest", "bicubic", "srresnet", "srgan", "unsupervised", "hr"}
    numbers = [value for values in metrics.values() for value in values.values()]
    assert all(isinstance(value, float) for value in numbers)
    assert set(metrics["srgan"]) == {"psnr_y", "ssim_y", "psnr_rgb", "niqe"}  # no LPIPS without AlexNet weights
    for stage in ("pretrain", "train_gan", "train_unsupervised"):
        summary = json.loads((root / "reports" / stage / "metrics.json").read_text())
        assert set(summary) == {"val", "perf", "step"}, "a training summary small enough for `dvc exp show`"
    provenance = json.loads((root / "reports/evaluate/skimage/provenance.json").read_text())
    assert provenance["lpips"].startswith("unavailable")
    assert provenance["models"]["srgan"]["label"].startswith("SRGAN-MSE")
    assert provenance["models"]["srgan"]["trained_with"].startswith("FALLBACK")
    assert provenance["images"] == 3 and provenance["left_out"] == []
    assert provenance["means_cover"]["srgan"] == {"psnr_y": 3, "ssim_y": 3, "psnr_rgb": 3, "niqe": 3}


def test_same_commit_writes_no_machine_specific_path(project, first_run):
    root = project.root
    home = str(Path.home())
    for path in [root / "reports/report.md", root / "data/weights.json",
                 *root.glob("reports/**/metrics.json"), *root.glob("reports/**/provenance.json")]:
        text = path.read_text()
        assert home not in text and str(root) not in text and str(root / ".torch") not in text, path


def test_unavailable_backbones_are_loud_everywhere(project, first_run):
    root = project.root
    record = json.loads((root / "data/weights.json").read_text())
    assert {entry["status"] for entry in record.values()} == {"unavailable"}
    assert all("not in the torch cache" in entry["reason"] for entry in record.values())
    assert "FALLBACK" in first_run.stdout + first_run.stderr
    report = (root / "reports/report.md").read_text()
    assert "FALLBACK" in report and "unavailable" in report and "| skimage" in report
    assert "SRGAN-MSE" in report and "| SRGAN " not in report
    assert "SRGAN-MSE" in (root / "reports/metrics_table.tex").read_text()


def test_outputs_have_the_permissions_of_a_normal_write(project, first_run):
    from srgan.atomic import default_mode

    root = project.root
    for path in [root / "reports/report.md", root / "models/srgan.pt", root / "data/weights.json",
                 root / "reports/figures/comparison_skimage.png", root / "data/prepared/train/train_hr.npy",
                 root / "reports/evaluate/skimage/metrics.json"]:
        assert path.stat().st_mode & 0o777 == default_mode(), path


def test_metrics_are_visible_to_dvc(project, first_run):
    metrics = project.dvc("metrics", "show", "--json").stdout
    assert "reports/evaluate/skimage/metrics.json" in metrics and "psnr_y" in metrics
    cells = project.dvc("metrics", "show").stdout.split()
    assert max(map(len, cells)) < 60, "metrics hold numbers only: no 964-character provenance strings"


def test_each_curve_is_plotted_once_with_steps_on_x(project, first_run):
    plots = json.loads(project.dvc("plots", "show", "--json").stdout)["data"]
    configured = [next(iter(entry)) for entry in yaml.safe_load((project.root / "dvc.yaml").read_text())["plots"]
                  if isinstance(entry, dict)]
    curves = {name: entries for name, entries in plots.items() if not name.endswith(".png")}
    assert sorted(curves) == sorted(configured), "each configured curve once, and no per-file copies"
    for name, entries in curves.items():
        assert len(entries) == 1 and entries[0]["content"]["encoding"]["x"]["field"] == "step", name
    images = [name for name in plots if name.endswith(".png")]
    assert all(len(plots[name]) == 1 for name in images)
    assert any(name.endswith("comparison_skimage.png") for name in images)
    assert any("plots/images/val/astronaut_" in name for name in images)


def test_nothing_changed_runs_nothing(tiny_copy):
    assert tiny_copy.ran(tiny_copy.dvc("repro")) == set()


def test_execution_settings_rerun_nothing(tiny_copy):
    tiny_copy.edit_params(lambda p: p["execution"].update(device="cpu", compile=False, nproc_per_node=2))
    assert status(tiny_copy) == set()
    assert tiny_copy.ran(tiny_copy.dvc("repro")) == set()


def test_max_images_dirties_the_downloads(tiny_copy):
    tiny_copy.edit_params(lambda p: p["data"].update(max_images=5))
    assert status(tiny_copy) == {"download", "download_eval@skimage"}


def test_editing_the_gan_loop_does_not_touch_pretraining(tiny_copy):
    path = tiny_copy.root / "src/srgan/train/gan.py"
    path.write_text(path.read_text() + "\n# an edit\n")
    assert status(tiny_copy) == {"train_gan"}


def test_adding_and_removing_an_evaluation_set_trains_nothing(tiny_copy, tmp_path_factory):
    photos = tmp_path_factory.mktemp("held_out")
    rng = np.random.default_rng(0)
    for index in range(2):
        Image.fromarray(rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)).save(photos / f"plate{index}.png")
    tiny_copy.edit_params(lambda p: p["data"]["eval"].update(plates=f"folder:{photos}"))
    added = tiny_copy.dvc("repro")
    assert tiny_copy.ran(added) == {"download_eval@plates", "prepare_eval@plates", "evaluate@plates", "report"}
    assert (tiny_copy.root / "reports/figures/comparison_plates.png").exists()
    assert "| plates" in (tiny_copy.root / "reports/report.md").read_text()
    tiny_copy.edit_params(lambda p: p["data"]["eval"].pop("plates"))
    assert tiny_copy.ran(tiny_copy.dvc("repro")) == {"report"}
    assert "| plates" not in (tiny_copy.root / "reports/report.md").read_text()


def test_unsupervised_change_reruns_only_its_stage_evaluate_report(tiny_copy):
    tiny_copy.edit_params(lambda p: p["unsupervised"].update(adv_weight=2e-3))
    assert tiny_copy.ran(tiny_copy.dvc("repro")) == {"train_unsupervised", "evaluate@skimage", "report"}


def test_bad_params_stop_with_one_message(tiny_copy):
    tiny_copy.edit_params(lambda p: p["data"].update(hr_szie=p["data"]["hr_size"]))
    result = tiny_copy.dvc("repro", "prepare", "--force", "--single-item", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "error: params.yaml: unknown key 'data.hr_szie'; did you mean 'hr_size'?" in output
    assert "Traceback" not in output


def test_no_samples_still_makes_a_report(tiny_copy):
    tiny_copy.edit_params(lambda p: p["evaluate"].update(samples=0))
    result = tiny_copy.dvc("repro")
    assert {"evaluate@skimage", "report"} <= tiny_copy.ran(result)
    assert "| skimage" in (tiny_copy.root / "reports/report.md").read_text()


def test_dvc_plots_page_loads_vega_from_a_cdn_as_the_readme_says(project, first_run, tmp_path):
    project.dvc("plots", "show", "-o", str(tmp_path / "plots"))
    page = (tmp_path / "plots" / "index.html").read_text()
    assert "cdn.jsdelivr.net" in page and "vega" in page, "README: offline, `dvc plots show` curves stay blank"
    readme = " ".join(README.read_text().split())
    assert "load their scripts from a CDN (cdn.jsdelivr.net)" in readme
