"""Report: comparison grid, curves from DVCLive TSVs, Markdown with the table and provenance."""

import numpy as np
import pandas as pd
from PIL import Image

from srgan.imageio import write_png
from srgan.report import (
    centre_box,
    comparison_figure,
    curves_figure,
    markdown_report,
    metrics_table,
    read_curves,
)


def make_samples(folder, scale=4):
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)
    for key in ["lr", "nearest", "bicubic", "srresnet", "srgan", "hr", "ur_srgan"]:
        factor = {"lr": 1 / scale, "ur_srgan": scale}.get(key, 1)
        write_png(folder / "img" / f"{key}.png", np.resize(hr, (int(64 * factor), int(48 * factor), 3)))


def test_centre_box():
    assert centre_box(100, 200, 0.5) == (25, 75, 50)


def test_comparison_figure_is_a_slide_ready_png(tmp_path):
    make_samples(tmp_path / "samples")
    table = pd.DataFrame([{"image": "img", "method": "bicubic", "psnr_y": 30.0, "ssim_y": 0.9, "lpips": None}])
    out = tmp_path / "fig.png"
    comparison_figure(tmp_path / "samples", ["img"], table, 4, 0.5, out, dpi=150)
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.info["dpi"][0] == pytest_approx(150)
        assert image.width > 1000


def pytest_approx(value):
    import pytest
    return pytest.approx(value, abs=1)


def test_curves_from_dvclive_tsv(tmp_path):
    metric_dir = tmp_path / "pretrain" / "plots" / "metrics" / "train"
    metric_dir.mkdir(parents=True)
    (metric_dir / "mse.tsv").write_text("timestamp\tstep\tmse\n1\t10\t0.5\n2\t20\t0.25\n")
    curves = read_curves(tmp_path / "pretrain")
    assert list(curves) == ["train/mse"]
    assert curves["train/mse"]["value"].tolist() == [0.5, 0.25]
    curves_figure({"pretrain": curves}, tmp_path / "curves.png", dpi=100)
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_markdown_report_has_table_and_provenance():
    metrics = {"set5": {"bicubic": {"psnr_y": 28.4, "ssim_y": 0.81, "psnr_rgb": 26.0, "lpips": None}},
               "info": {"scale": 4, "lpips": "unavailable: no weights"}}
    text = markdown_report(metrics_table(metrics), metrics["info"], {"Curves": "figures/c.png"})
    assert "| set5" in text and "Bicubic" in text and "28.40" in text
    assert "n/a" in text and "unavailable: no weights" in text
    assert "![Curves](figures/c.png)" in text


def metrics_fixture(lpips):
    return {"set5": {"bicubic": {"psnr_y": 28.4, "ssim_y": 0.81, "psnr_rgb": 26.0, "lpips": lpips},
                     "srgan": {"psnr_y": 26.0, "ssim_y": 0.74, "psnr_rgb": 24.0, "lpips": lpips and lpips / 2}},
            "info": {"scale": 4}}


def test_perception_distortion_uses_lpips_or_falls_back_to_ssim(tmp_path):
    from srgan.report import perception_distortion_figure

    assert perception_distortion_figure(metrics_table(metrics_fixture(0.3)), tmp_path / "a.png", 100) == "lpips"
    assert perception_distortion_figure(metrics_table(metrics_fixture(None)), tmp_path / "b.png", 100) == "ssim_y"
    assert (tmp_path / "a.png").stat().st_size > 1000 and (tmp_path / "b.png").stat().st_size > 1000


def test_latex_table():
    from srgan.report import latex_table

    text = latex_table(metrics_table(metrics_fixture(None)), 4)
    assert "\\begin{table}" in text and "\\toprule" in text and "\\label{tab:sr-metrics}" in text
    assert "28.40" in text and "n/a" in text and "SRGAN" in text


def test_comparison_columns_follow_the_evaluated_methods():
    from srgan.report import comparison_columns

    table = pd.DataFrame({"method": ["nearest", "bicubic", "srresnet", "srgan", "nearest"]})
    assert comparison_columns(table) == ["lr", "nearest", "bicubic", "srresnet", "srgan", "hr", "ur_srgan"]
    assert comparison_columns(pd.DataFrame({"method": ["bicubic", "unsupervised"]}))[-1] == "ur_unsupervised"
