"""Evaluation: every method on every image, one protocol, summaries and sample outputs."""

import numpy as np
import pandas as pd
import pytest
import torch

from srgan.data.resize import degrade
from srgan.evaluate import METRICS, Samples, baselines, evaluate_images, model_method, summarise
from srgan.imageio import read_image
from srgan.models.generator import Generator


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(1)
    out = {}
    for name in ("a", "b"):
        hr = np.kron(rng.integers(0, 256, (6, 5, 3)), np.ones((8, 8, 1))).astype(np.uint8)  # 48x40
        out[name] = (degrade(hr, 4), hr)
    return out


def test_every_method_on_every_image(images, tmp_path):
    torch.manual_seed(0)
    generator = Generator(4, blocks=1, channels=8, bicubic_skip=True).eval()
    methods = {**baselines(4), "model": model_method(generator, tile=32)}
    samples = Samples(tmp_path, count=1, ur_methods={"model": methods["model"]})
    table = evaluate_images("set", images, methods, 4, None, niqe=False, samples=samples)
    assert list(table.columns) == ["dataset", "image", "method", *METRICS]
    assert len(table) == 2 * 3
    assert table["lpips"].isna().all() and table["niqe"].isna().all()
    assert (table["psnr_y"] > 10).all()
    saved = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert saved == ["bicubic.png", "hr.png", "lr.png", "model.png", "nearest.png", "ur_model.png"]
    assert not (tmp_path / "b").exists()
    # UR: the model applied to the centre of HR (half the shorter side: 20 px of 48x40), not to all of it
    ur = read_image(tmp_path / "a" / "ur_model.png")
    assert ur.shape == (20 * 4, 20 * 4, 3)
    assert np.array_equal(ur, methods["model"](images["a"][1][14:34, 10:30]))
    assert np.array_equal(read_image(tmp_path / "a" / "hr.png"), images["a"][1])


def test_summary_means_per_dataset_and_method():
    y, x = np.mgrid[0:48, 0:64]
    smooth = (127 + 100 * np.sin(x / 7.0)[..., None] * np.cos(y / 9.0)[..., None] * np.ones(3)).astype(np.uint8)
    table = evaluate_images("set", {"s": (degrade(smooth, 4), smooth)}, baselines(4), 4, None, niqe=False)
    summary = summarise(table)
    assert list(summary) == ["nearest", "bicubic"]
    expected = table[table["method"] == "bicubic"]["psnr_y"].mean()
    assert summary["bicubic"]["psnr_y"] == pytest.approx(expected, abs=1e-4)
    assert "lpips" not in summary["bicubic"], "metrics files hold numbers only: no null for LPIPS"
    # Bicubic beats pixel replication on a smooth image.
    assert summary["bicubic"]["psnr_y"] > summary["nearest"]["psnr_y"]


def test_niqe_of_every_output_and_of_hr():
    """NIQE joins the table for every method, and the HR image's own NIQE is its row (the perceptual ceiling)."""
    from skimage import data

    hr = data.astronaut()[:384, :384]
    table = evaluate_images("set", {"astronaut": (degrade(hr, 4), hr)}, baselines(4), 4, None, niqe=True)
    niqe = dict(zip(table["method"], table["niqe"]))
    assert set(niqe) == {"nearest", "bicubic", "hr"}
    assert niqe["hr"] < niqe["bicubic"], "a sharp photograph is more natural than its bicubic upscale"
    hr_row = table[table["method"] == "hr"].iloc[0]
    assert pd.isna(hr_row["psnr_y"]) and pd.isna(hr_row["lpips"])
    assert set(summarise(table)["hr"]) == {"niqe"}


def test_niqe_is_not_given_for_images_too_small_for_two_blocks():
    hr = np.kron(np.random.default_rng(0).integers(0, 256, (16, 16, 3)), np.ones((8, 8, 1))).astype(np.uint8)
    table = evaluate_images("set", {"one_block": (degrade(hr, 4), hr)}, baselines(4), 4, None, niqe=True)
    assert table["niqe"].isna().all()


def test_means_say_how_many_images_they_cover_and_name_those_left_out():
    from skimage import data

    from srgan.evaluate import coverage, left_out

    big = data.astronaut()[:256, :256]
    small = data.astronaut()[200:360, 200:360]  # 160x160: one 96x96 block after the border crop, so no NIQE
    images = {"big": (degrade(big, 4), big), "small": (degrade(small, 4), small)}
    table = evaluate_images("set", images, {"bicubic": baselines(4)["bicubic"]}, 4, None, niqe=True)
    assert coverage(table) == {"bicubic": {"psnr_y": 2, "ssim_y": 2, "psnr_rgb": 2, "niqe": 1}, "hr": {"niqe": 1}}
    gaps = left_out(table)
    assert len(gaps) == 2 and all("covers 1 of 2 images; left out: small" in gap for gap in gaps)
    assert gaps[0].startswith("niqe of bicubic") and "96x96" in gaps[0]
    assert summarise(table)["bicubic"]["niqe"] == pytest.approx(table.loc[0, "niqe"], abs=1e-4)
    assert left_out(table[table["image"] == "big"]) == []
    faces = table[table["image"] == "small"]  # every image too small for NIQE (faces at x8): said, not "covered"
    assert left_out(faces) == ["niqe of bicubic: none of the 1 images has a value, so no mean (NIQE needs two "
                               "96x96 blocks after the border crop, not flat)",
                               "niqe of hr: none of the 1 images has a value, so no mean (NIQE needs two 96x96 "
                               "blocks after the border crop, not flat)"]
    assert left_out(faces, niqe=False) == []  # evaluate.niqe: false computes none, and says so elsewhere


@pytest.mark.parametrize("name", ["..", ".", "a/../../b"])
def test_sample_names_never_leave_the_samples_folder(tmp_path, name):
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="would leave"):
        Samples(tmp_path / "samples", count=1).save(name, image, image, {})
    assert not list(tmp_path.rglob("*.png"))
