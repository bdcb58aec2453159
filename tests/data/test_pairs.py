"""Real LR-HR pairs: matching by name, fitting HR to scale x LR, aligned crops, and the messages of every skip."""

from __future__ import annotations

import numpy as np
import pytest

from srgan.data import pairs, sources
from srgan.data.crops import load_eval_images, write_eval_images, write_training_crops
from srgan.errors import SrganError
from srgan.imageio import read_image, write_png

SCALE = 4


def _pair(raw, name: str, lr_size: tuple[int, int], extra: tuple[int, int] = (0, 0), seed: int = 0) -> np.ndarray:
    """An LR image and its HR: each LR pixel as a SCALE x SCALE block, plus `extra` rows and columns of noise."""
    rng = np.random.default_rng(seed)
    lr = rng.integers(0, 256, (*lr_size, 3), dtype=np.uint8)
    hr = np.kron(lr, np.ones((SCALE, SCALE, 1), dtype=np.uint8))
    hr = np.pad(hr, ((0, extra[0]), (0, extra[1]), (0, 0)), constant_values=7)
    write_png(raw / "lr" / f"{name}.png", lr)
    write_png(raw / "hr" / f"{name}.png", hr)
    return lr


def test_files_are_matched_by_name_and_the_unmatched_are_named(tmp_path):
    _pair(tmp_path, "plate1", (8, 8))
    write_png(tmp_path / "lr" / "only_lr.png", np.zeros((8, 8, 3), np.uint8))
    write_png(tmp_path / "hr" / "only_hr.png", np.zeros((32, 32, 3), np.uint8))
    hr, lr, skipped = pairs.match(tmp_path)
    assert [p.name for p in hr] == ["plate1.png"] and [p.name for p in lr] == ["plate1.png"]
    assert lr[0].parent.name == "lr" and hr[0].parent.name == "hr"
    assert skipped == {str(tmp_path / "lr" / "only_lr.png"): "no HR image named 'only_lr'",
                       str(tmp_path / "hr" / "only_hr.png"): "no LR image named 'only_hr'"}


def test_two_files_of_one_name_on_a_side_make_no_pair_and_each_is_named(tmp_path):
    """lr/p1.jpg (the real partner) and lr/p1.png (another photo): which one belongs to hr/p1.png is unknown, so
    neither is trained on, and every file of that name is named, where one used to overwrite the other unseen."""
    _pair(tmp_path, "p1", (8, 8))
    _pair(tmp_path, "p2", (8, 8))
    (tmp_path / "lr" / "p1.jpg").write_bytes((tmp_path / "lr" / "p1.png").read_bytes())
    hr, lr, skipped = pairs.match(tmp_path)
    assert [p.name for p in hr] == ["p2.png"] and [p.name for p in lr] == ["p2.png"]
    assert sorted(skipped) == sorted(str(tmp_path / side / name)
                                     for side, name in (("lr", "p1.jpg"), ("lr", "p1.png"), ("hr", "p1.png")))
    assert all("several images in lr are named 'p1'" in why for why in skipped.values())


def test_no_match_at_all_is_an_error(tmp_path):
    write_png(tmp_path / "lr" / "a.png", np.zeros((8, 8, 3), np.uint8))
    write_png(tmp_path / "hr" / "b.png", np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(SrganError, match="no LR image has an HR image of the same name"):
        pairs.match(tmp_path)


def test_fit_crops_a_few_extra_pixels_and_refuses_the_wrong_scale():
    lr, hr = np.zeros((10, 12, 3), np.uint8), np.zeros((43, 50, 3), np.uint8)
    fitted_lr, fitted_hr = pairs.fit(lr, hr, SCALE, "x.png")
    assert fitted_lr.shape == (10, 12, 3) and fitted_hr.shape == (40, 48, 3)
    with pytest.raises(SrganError, match=r"x\.png: HR 60x20 is not 4 x LR 12x10"):
        pairs.fit(lr, np.zeros((20, 60, 3), np.uint8), SCALE, "x.png")
    with pytest.raises(SrganError, match="is not 4 x LR"):  # HR smaller than 4 x LR
        pairs.fit(lr, np.zeros((39, 48, 3), np.uint8), SCALE, "x.png")


def test_training_crops_of_pairs_are_aligned_and_mis_sized_pairs_skipped(tmp_path):
    _pair(tmp_path, "a", (12, 10), extra=(3, 2), seed=1)
    _pair(tmp_path, "b", (9, 11), seed=2)
    write_png(tmp_path / "lr" / "bad.png", np.zeros((8, 8, 3), np.uint8))
    write_png(tmp_path / "hr" / "bad.png", np.zeros((16, 16, 3), np.uint8))  # x2, not x4
    hr, lr, _ = pairs.match(tmp_path)
    report = write_training_crops(hr, tmp_path / "out", hr_size=16, scale=SCALE, crops_per_image=5, seed=0,
                                  lr_paths=lr)
    assert report.images == 2 and report.crops == 10
    assert list(report.skipped) == [str(tmp_path / "hr" / "bad.png")]
    assert "is not 4 x LR" in report.skipped[str(tmp_path / "hr" / "bad.png")]
    hr_crops, lr_crops = np.load(tmp_path / "out/train_hr.npy"), np.load(tmp_path / "out/train_lr.npy")
    assert hr_crops.shape == (10, 16, 16, 3) and lr_crops.shape == (10, 4, 4, 3)
    assert np.array_equal(hr_crops[:, ::SCALE, ::SCALE], lr_crops), "each HR crop is its LR crop, block by block"
    assert not (hr_crops == 7).all(axis=-1).any(), "the extra HR border is cropped off"


def test_evaluation_images_of_pairs_keep_the_given_lr(tmp_path):
    lr_a = _pair(tmp_path, "a", (8, 9), extra=(2, 1))
    hr, lr, _ = pairs.match(tmp_path)
    write_eval_images(hr, tmp_path / "set.npz", scale=SCALE, lr_paths=lr)
    (lr_image, hr_image), = load_eval_images(tmp_path / "set.npz").values()
    assert np.array_equal(lr_image, lr_a) and hr_image.shape == (32, 36, 3)


def test_evaluation_images_of_pairs_in_sub_folders_are_named_by_their_folders(tmp_path):
    """cam1/x.png, cam2/x.png and x.png: named as a folder source's files are, so a row of the per-image table
    says which camera it came from (they were x_png, x_png_ and x_png__)."""
    for name in ("cam1/x", "cam2/x", "x"):
        (tmp_path / "lr" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "hr" / name).parent.mkdir(parents=True, exist_ok=True)
        _pair(tmp_path, name, (8, 8))
    hr, lr, _ = pairs.match(tmp_path)
    write_eval_images(hr, tmp_path / "set.npz", scale=SCALE, lr_paths=lr)
    assert sorted(load_eval_images(tmp_path / "set.npz")) == ["cam1__x", "cam2__x", "x"]


def test_the_pairs_source_copies_both_folders_and_names_bad_params(tmp_path):
    user = tmp_path / "user"
    _pair(user, "a", (8, 8))
    _pair(user, "b", (8, 8), seed=1)
    source = f"pairs:{user / 'lr'},{user / 'hr'}"
    sources.check_source(source, "data.train", "train")
    assert sources.materialise(source, "train", tmp_path / "raw", tmp_path / "dl", {}) == 2
    assert read_image(tmp_path / "raw" / "lr" / "a.png").shape == (8, 8, 3)
    assert sources.materialise(source, "eval", tmp_path / "raw1", tmp_path / "dl", {}, max_images=1) == 1
    assert [p.name for p in (tmp_path / "raw1" / "lr").iterdir()] == ["a.png"]
    write_png(user / "lr" / "stray.png", np.zeros((8, 8, 3), np.uint8))
    assert sources.materialise(source, "eval", tmp_path / "raw3", tmp_path / "dl", {}, max_images=1) == 1
    assert sorted(p.name for p in (tmp_path / "raw3" / "lr").iterdir()) == ["a.png", "stray.png"]
    write_png(user / "hr" / "0_no_partner.png", np.zeros((32, 32, 3), np.uint8))  # first of HR in sorted order
    assert sources.materialise(source, "eval", tmp_path / "raw4", tmp_path / "dl", {}, max_images=2) == 2, \
        "max_images counts pairs, not HR files: a stray HR file first takes no pair's place"
    assert sources.materialise(source, "train", tmp_path / "raw5", tmp_path / "dl", {}) == 2, "pairs, not HR files"
    with pytest.raises(SrganError, match="data.train: give two folders"):
        sources.check_source(f"pairs:{user / 'lr'}", "data.train", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SrganError, match="empty: no images in this folder"):
        sources.materialise(f"pairs:{user / 'lr'},{tmp_path / 'empty'}", "train", tmp_path / "raw2",
                            tmp_path / "dl", {})
