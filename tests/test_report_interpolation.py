"""The SRResNet-to-SRGAN blends (evaluate.interpolation) in the report: names, and the perception-distortion curve."""

import numpy as np

import srgan.report
from srgan.interpolation import alpha_of, blend_name
from srgan.report import comparison_columns, display_name, metrics_table, perception_distortion_figure


def _sets() -> dict:
    dial = {"srresnet": (30.0, 6.0), "blend_0.25": (29.8, 5.6), "blend_0.5": (29.5, 5.1),
            "blend_0.75": (29.1, 4.8), "srgan": (28.6, 4.5)}
    methods = {"bicubic": {"psnr_y": 28.0, "ssim_y": 0.8, "niqe": 7.5}}
    methods |= {method: {"psnr_y": psnr, "ssim_y": 0.8, "niqe": niqe} for method, (psnr, niqe) in dial.items()}
    return {"skimage": methods, "hr": {"hr": {"niqe": 3.0}}}


def test_blend_names_round_trip_and_read_on_a_slide():
    assert blend_name(0.25) == "blend_0.25" and alpha_of("blend_0.25") == 0.25
    assert blend_name(0.5000001) != blend_name(0.5) and alpha_of(blend_name(0.5000001)) == 0.5000001
    assert alpha_of("srresnet") == 0.0 and alpha_of("srgan") == 1.0 and alpha_of("bicubic") is None
    assert display_name("blend_0.5") == "Blend α=0.5"


def test_the_perception_distortion_figure_draws_the_dial_as_a_curve(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(srgan.report, "save_figure", lambda fig, out, dpi: drawn.append(fig))
    table = metrics_table(_sets(), {"skimage": {"srgan": "SRGAN-MSE"}})
    assert perception_distortion_figure(table, tmp_path / "pd.png", 150) == "niqe"
    curves = [line for line in drawn[0].axes[0].lines if len(line.get_xdata()) > 2]
    assert len(curves) == 1
    assert np.allclose(curves[0].get_xdata(), [30.0, 29.8, 29.5, 29.1, 28.6])  # SRResNet first, SRGAN last
    assert np.allclose(curves[0].get_ydata(), [6.0, 5.6, 5.1, 4.8, 4.5])


def test_without_blends_no_curve_is_drawn(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(srgan.report, "save_figure", lambda fig, out, dpi: drawn.append(fig))
    sets = _sets()
    sets["skimage"] = {m: v for m, v in sets["skimage"].items() if not m.startswith("blend")}
    perception_distortion_figure(metrics_table(sets), tmp_path / "pd.png", 150)
    assert not [line for line in drawn[0].axes[0].lines if len(line.get_xdata()) > 2]


def test_comparison_figures_leave_the_blends_out():
    import pandas as pd
    table = pd.DataFrame({"method": ["bicubic", "srresnet", "srgan", "blend_0.5", "hr"]})
    assert comparison_columns(table) == ["lr", "bicubic", "srresnet", "srgan", "hr", "ur_srgan"]
