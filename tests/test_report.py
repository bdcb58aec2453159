"""Report: comparison grid, curves from DVCLive TSVs, Markdown with the table and provenance."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from srgan.imageio import read_image, write_png
from srgan.report import (
    centre_box,
    comparison_figure,
    crop,
    curves_figure,
    markdown_report,
    metrics_table,
    read_curves,
    sample_origin,
)
from srgan.samples import ur_box

PROJECT = Path(__file__).resolve().parents[1]


def make_samples(folder, scale=4):
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)
    for key in ["lr", "nearest", "bicubic", "srresnet", "srgan", "hr", "ur_srgan"]:
        factor = {"lr": 1 / scale, "ur_srgan": scale}.get(key, 1)
        height, width = (ur_box(64, 48)[2],) * 2 if key.startswith("ur_") else (64, 48)
        write_png(folder / "img" / f"{key}.png", np.resize(hr, (int(height * factor), int(width * factor), 3)))


def test_importing_the_report_modules_selects_no_matplotlib_backend():
    """Figures are plain matplotlib.figure.Figure objects: importing the library leaves matplotlib's state alone."""
    code = ("import sys, matplotlib\n"
            "import srgan.compare, srgan.report\n"
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
            "assert matplotlib.rcParams._get_backend_or_none() is None, 'a backend was selected'\n")
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    result = subprocess.run([sys.executable, "-c", code], env={**env, "PYTHONPATH": str(PROJECT / "src")},
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_report_stage_imports_no_torch():
    """It reads images, tables and model cards only; importing torch would add seconds to every report run."""
    code = "import sys, srgan.stages.report\nassert 'torch' not in sys.modules, 'torch was imported'\n"
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(PROJECT / "src")},
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_centre_box_is_the_middle_of_the_image_at_the_zoom():
    assert centre_box(100, 200, 0.5) == (25, 75, 50)


def test_the_zoomed_region_of_a_ur_is_the_same_place_as_in_hr():
    """A UR covers the centre of HR at `scale` times its resolution: the report's crop of it shows the region
    of HR it shows for every other method, clipped to what the UR covers."""
    scale, hr_shape = 4, (64, 48, 3)
    ur_top, ur_left, ur_side = ur_box(*hr_shape[:2])
    ur = np.arange(ur_side * scale * ur_side * scale * 3).reshape(ur_side * scale, ur_side * scale, 3)
    box = centre_box(64, 48, 0.25)  # inside the UR's region
    region = crop(ur, box, scale, sample_origin("ur_srgan", hr_shape))
    top, left = (box[0] - ur_top) * scale, (box[1] - ur_left) * scale
    assert np.array_equal(region, ur[top:top + box[2] * scale, left:left + box[2] * scale])
    whole = crop(ur, centre_box(64, 48, 1.0), scale, sample_origin("ur_srgan", hr_shape))
    assert whole.shape == ur.shape  # a larger zoom region shows all the UR has
    assert sample_origin("srgan", hr_shape) == (0, 0)


def test_the_zoomed_region_is_never_smaller_than_the_ssim_window():
    assert centre_box(512, 512, 0.02) == (250, 250, 11)
    assert centre_box(8, 30, 0.3) == (0, 11, 8)  # an image under 11px (never prepared now) bounds it


def test_a_tiny_zoom_still_makes_the_comparison_figure(tmp_path):
    make_samples(tmp_path / "samples")
    table = pd.DataFrame([{"image": "img", "method": "bicubic", "psnr_y": 30.0, "ssim_y": 0.9, "lpips": None,
                           "niqe": 6.5}])
    comparison_figure(tmp_path / "samples", ["img"], table, 4, 0.02, tmp_path / "fig.png", dpi=60)
    assert (tmp_path / "fig.png").stat().st_size > 1000


def test_comparison_figure_is_a_slide_ready_png_of_every_sample_labelled_with_its_metrics(tmp_path, monkeypatch):
    """Columns LR | methods | HR | UR of SRGAN, each named once above its whole image, which is labelled with its
    metrics and has the zoomed region marked; below, that region of the same image; saved at the dpi asked."""
    from srgan import report

    samples = tmp_path / "samples"
    make_samples(samples)
    bicubic = read_image(samples / "img" / "bicubic.png")
    write_png(samples / "img" / "bicubic.png", np.clip(bicubic.astype(int) + 20, 0, 255).astype(np.uint8))
    table = pd.DataFrame([{"image": "img", "method": method, "psnr_y": 30.0 + index, "ssim_y": 0.9, "lpips": None,
                           "niqe": 6.5} for index, method in enumerate(["bicubic", "srresnet", "srgan"])])
    figures = []
    save = report.save_figure
    monkeypatch.setattr(report, "save_figure", lambda fig, out, dpi: (figures.append(fig), save(fig, out, dpi)))
    out = tmp_path / "fig.png"
    comparison_figure(samples, ["img"], table, 4, 0.5, out, dpi=150)

    (fig,) = figures
    columns = ["lr", "bicubic", "srresnet", "srgan", "hr", "ur_srgan"]
    axes = np.array(fig.axes).reshape(2, len(columns))
    whole, zoomed = axes
    assert [ax.get_title() for ax in whole] == ["LR", "Bicubic", "SRResNet", "SRGAN", "HR",
                                                "UR (SRGAN on HR's centre)"]
    hr = read_image(samples / "img" / "hr.png")
    box = centre_box(*hr.shape[:2], 0.5)
    for key, top, bottom in zip(columns, whole, zoomed):
        image = read_image(samples / "img" / f"{key}.png")
        assert np.array_equal(top.images[0].get_array(), image), f"{key}: the whole sample is drawn"
        factor, origin = {"lr": 0.25, "ur_srgan": 4}.get(key, 1), sample_origin(key, hr.shape)
        assert np.array_equal(bottom.images[0].get_array(), crop(image, box, factor, origin)), f"{key}: its region"
        (marked,) = top.patches
        assert marked.get_width() == marked.get_height() == box[2] * factor, f"{key}: the region is marked"
    for index, ax in enumerate(whole[1:4]):
        assert ax.get_xlabel() == f"PSNR-Y {30 + index:.2f} dB, SSIM-Y 0.900\nNIQE 6.5"
    assert whole[0].get_ylabel() == "img" and zoomed[0].get_ylabel() == "marked region"
    assert zoomed[1].get_xlabel().startswith("region: PSNR-Y "), "a region's own metrics below it"
    assert zoomed[2].get_xlabel() == "", "no metrics for a region identical to HR's"
    assert fig._suptitle.get_text().startswith("x4 super-resolution")

    width_in, height_in = fig.get_size_inches()
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.info["dpi"][0] == pytest_approx(150)
        assert 1000 < image.width <= width_in * 150 and image.height <= height_in * 150
        assert image.width > image.height, "one image's two rows fit a landscape slide"
        assert len(image.convert("RGB").getcolors(1 << 24)) > 1000, "the samples' pixels, not a blank canvas"


def pytest_approx(value):
    import pytest
    return pytest.approx(value, abs=1)


def test_curves_are_read_from_dvclive_tsv_files(tmp_path):
    metric_dir = tmp_path / "pretrain" / "plots" / "metrics" / "val"
    metric_dir.mkdir(parents=True)
    (metric_dir / "psnr_y.tsv").write_text("step\tpsnr_y\n10\t25.5\n20\t26.25\n")
    curves = read_curves(tmp_path / "pretrain")
    assert list(curves) == ["val/psnr_y"]
    assert curves["val/psnr_y"]["value"].tolist() == [25.5, 26.25]
    curves_figure({"pretrain": curves}, tmp_path / "curves.png", dpi=150)
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_curves_figure_shows_the_few_curves_of_the_story(tmp_path):
    """Validation PSNR, G and D losses, D outputs and the adversarial weight: five labelled panels, not one per
    logged value."""
    from matplotlib.figure import Figure

    frame = pd.DataFrame({"step": [1, 2, 3], "value": [0.1, 0.2, 0.3]})
    names = ["val/psnr_y", "g/content", "g/adversarial", "g/total", "d/loss", "d/real", "d/fake", "adv_weight", "lr/g",
             "lr/d", "perf/images_per_s", "g/content_mse"]
    runs = {"pretrain": {"val/psnr_y": frame, "train/mse": frame, "lr": frame},
            "train_gan": dict.fromkeys(names, frame)}
    captured = {}
    original = Figure.savefig

    def spy(figure, *args, **kwargs):
        captured["axes"] = [(ax.get_title(), ax.get_ylabel()) for ax in figure.axes]
        return original(figure, *args, **kwargs)

    Figure.savefig = spy
    try:
        curves_figure(runs, tmp_path / "c.png", dpi=150)
    finally:
        Figure.savefig = original
    titles = [title for title, _ in captured["axes"]]
    assert titles == ["Validation PSNR-Y", "Generator losses (GAN)", "Discriminator loss (GAN)",
                      "Discriminator outputs (GAN)", "Adversarial weight"]
    assert all(ylabel for _, ylabel in captured["axes"])


def sets_fixture(lpips, niqe=True):
    def values(psnr, ssim, lp, nq):
        out = {"psnr_y": psnr, "ssim_y": ssim, "psnr_rgb": psnr - 2}
        if lp is not None:
            out["lpips"] = lp
        if niqe:
            out["niqe"] = nq
        return out
    return {"set5": {"bicubic": values(28.4, 0.81, lpips, 7.1),
                     "srgan": values(26.0, 0.74, lpips and lpips / 2, 4.2),
                     **({"hr": {"niqe": 3.0}} if niqe else {})}}


LABELS = {"set5": {"srgan": "SRGAN-MSE"}}


def test_markdown_report_has_table_labels_and_provenance():
    provenance = {"set5": {"source": "set5", "lpips": "unavailable: not in the torch cache", "niqe": "NIQE ...",
                           "inference": {"precision": "bf16"}, "images": 3,
                           "left_out": ["niqe of srgan: the mean covers 2 of 3 images; left out: small"],
                           "models": {"srgan": {"label": "SRGAN-MSE", "trained_with": "FALLBACK: ...", "steps": 3,
                                                "execution": {"device": "cpu"}}}}}
    text = markdown_report(metrics_table(sets_fixture(None), LABELS), 4, provenance, {"Curves": "figures/c.png"},
                           "metrics_table.tex")
    assert "| set5" in text and "Bicubic" in text and "28.40" in text and "SRGAN-MSE" in text
    assert "| SRGAN " not in text, "a model trained as SRGAN-MSE is never labelled SRGAN"
    assert "unavailable: not in the torch cache" in text and "FALLBACK" in text
    assert "LPIPS (AlexNet" not in text.split("## Provenance")[0], "no claim of a metric that is n/a"
    assert "NIQE (no reference, lower is better)" in text
    assert "![Curves](figures/c.png)" in text
    assert "- **images**: 3; niqe of srgan: the mean covers 2 of 3 images; left out: small" in text


def test_perception_distortion_uses_lpips_else_niqe_never_ssim(tmp_path):
    from srgan.report import perception_distortion_figure

    assert perception_distortion_figure(metrics_table(sets_fixture(0.3)), tmp_path / "a.png", 150) == "lpips"
    assert perception_distortion_figure(metrics_table(sets_fixture(None)), tmp_path / "b.png", 150) == "niqe"
    assert perception_distortion_figure(metrics_table(sets_fixture(None, niqe=False)), tmp_path / "c.png",
                                        150) is None
    assert (tmp_path / "a.png").stat().st_size > 1000 and (tmp_path / "b.png").stat().st_size > 1000
    assert not (tmp_path / "c.png").exists()


def test_latex_table_claims_only_computed_metrics():
    from srgan.report import latex_table

    text = latex_table(metrics_table(sets_fixture(None), LABELS), 4)
    assert "\\begin{table}" in text and "\\toprule" in text and "\\label{tab:sr-metrics}" in text
    assert "28.40" in text and "SRGAN-MSE" in text and "NIQE" in text
    assert "LPIPS" not in text, "every LPIPS cell would be n/a: neither the column nor the caption claims it"
    with_lpips = latex_table(metrics_table(sets_fixture(0.3), LABELS), 4)
    assert "LPIPS (AlexNet" in with_lpips and "0.1500" in with_lpips


def test_latex_table_escapes_set_names_and_labels():
    """Set names such as skimage_real and free-form labels hold LaTeX's special characters."""
    from srgan.report import latex_table

    metrics = {"skimage_real": sets_fixture(None)["set5"]}
    text = latex_table(metrics_table(metrics, {"skimage_real": {"srgan": "SRGAN 50% & more"}}), 4)
    assert "skimage\\_real & Bicubic" in text and "SRGAN 50\\% \\& more" in text
    assert "skimage_real" not in text


def test_comparison_columns_follow_the_evaluated_methods():
    from srgan.report import comparison_columns

    table = pd.DataFrame({"method": ["nearest", "bicubic", "srresnet", "srgan", "nearest", "hr"]})
    assert comparison_columns(table) == ["lr", "nearest", "bicubic", "srresnet", "srgan", "hr", "ur_srgan"]
    assert comparison_columns(pd.DataFrame({"method": ["bicubic", "unsupervised"]}))[-1] == "ur_unsupervised"


def test_display_names_follow_what_was_trained():
    from srgan.report import display_name

    assert display_name("srgan", {"srgan": "SRGAN-MSE"}) == "SRGAN-MSE"
    assert display_name("ur_srgan", {"srgan": "SRGAN-MSE"}) == "UR (SRGAN-MSE on HR's centre)"
    assert display_name("srgan") == "SRGAN"
