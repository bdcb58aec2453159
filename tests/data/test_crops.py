"""Tests for srgan.data.crops: seeded training crop pairs on disk, evaluation images, augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.conftest import bomb_png

from srgan.data.crops import augment, load_eval_images, write_eval_images, write_training_crops
from srgan.data.resize import degrade
from srgan.errors import SrganError
from srgan.imageio import read_image, write_png

HR, SCALE, PER_IMAGE = 16, 4, 3


def _noise_png(path: Path, height: int, width: int, seed: int) -> np.ndarray:
    image = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    Image.fromarray(image).save(path)
    return image


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    paths, arrays = [], []
    for index, (height, width) in enumerate([(40, 36), (24, 50), (16, 16)]):
        path = folder / f"img{index}.png"
        arrays.append(_noise_png(path, height, width, seed=index))
        paths.append(path)
    return paths, arrays


def _dihedral(crop: np.ndarray) -> list[np.ndarray]:
    out = []
    for k in range(4):
        rotated = np.rot90(crop, k)
        out += [rotated, rotated[:, ::-1]]
    return out


def _region_found(crop: np.ndarray, image: np.ndarray, transforms: bool) -> bool:
    size = crop.shape[0]
    candidates = _dihedral(crop) if transforms else [crop]
    height, width = image.shape[:2]
    for top in range(height - size + 1):
        for left in range(width - size + 1):
            region = image[top:top + size, left:left + size]
            if any(np.array_equal(region, c) for c in candidates):
                return True
    return False


def _run(paths, out_dir, seed=0, flips=False, **kwargs):
    params = {"hr_size": HR, "scale": SCALE, "crops_per_image": PER_IMAGE, "seed": seed,
              "augment": "dihedral" if flips else "none"}
    params.update(kwargs)
    report = write_training_crops(paths, out_dir, **params)
    return report, np.load(out_dir / "train_hr.npy"), np.load(out_dir / "train_lr.npy")


def test_training_crops_shapes_and_degradation(tmp_path, images):
    paths, arrays = images
    report, hr, lr = _run(paths, tmp_path / "out")
    n = len(paths) * PER_IMAGE
    assert hr.shape == (n, HR, HR, 3) and hr.dtype == np.uint8
    assert lr.shape == (n, HR // SCALE, HR // SCALE, 3) and lr.dtype == np.uint8
    assert report.images == len(paths) and report.crops == n and report.skipped == {}
    for index in range(n):
        np.testing.assert_array_equal(lr[index], degrade(hr[index], SCALE))
    # Crops come from their image, in order, unflipped when flips is off.
    for index in range(n):
        assert _region_found(hr[index], arrays[index // PER_IMAGE], transforms=False)
    # No temp files left beside the outputs.
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["train_hr.npy", "train_ids.npy", "train_lr.npy"]


def test_training_crops_are_seeded(tmp_path, images):
    paths, _ = images
    _, hr_a, lr_a = _run(paths, tmp_path / "a", seed=7)
    _, hr_b, lr_b = _run(paths, tmp_path / "b", seed=7)
    _, hr_c, _ = _run(paths, tmp_path / "c", seed=8)
    np.testing.assert_array_equal(hr_a, hr_b)
    np.testing.assert_array_equal(lr_a, lr_b)
    assert not np.array_equal(hr_a, hr_c)


def test_training_crops_with_flips_are_dihedral_transforms_of_a_region(tmp_path, images):
    paths, arrays = images
    _, hr, lr = _run(paths, tmp_path / "out", flips=True, crops_per_image=4)
    for index in range(len(hr)):
        assert _region_found(hr[index], arrays[index // 4], transforms=True)
        np.testing.assert_array_equal(lr[index], degrade(hr[index], SCALE))
    # Over 12 crops at least one is actually transformed (all identity has chance 1/8^12).
    assert not all(_region_found(hr[i], arrays[i // 4], transforms=False) for i in range(len(hr)))


def test_small_and_unreadable_images_are_skipped_and_reported(tmp_path, images):
    paths, _ = images
    small = tmp_path / "small.png"
    _noise_png(small, 10, 40, seed=9)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    report, hr, lr = _run([paths[0], small, text, paths[1]], tmp_path / "out")
    assert report.images == 2 and report.crops == 2 * PER_IMAGE
    assert hr.shape[0] == lr.shape[0] == 2 * PER_IMAGE
    assert set(report.skipped) == {str(small), str(text)}
    assert "smaller" in report.skipped[str(small)] and "16" in report.skipped[str(small)]
    assert "unreadable" in report.skipped[str(text)]


def test_image_failing_to_decode_after_its_header_is_skipped(tmp_path, images):
    paths, _ = images
    good = tmp_path / "big.png"
    _noise_png(good, 64, 64, seed=5)
    broken = tmp_path / "broken.png"
    broken.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # header intact, data cut
    report, hr, lr = _run([paths[0], broken, paths[1]], tmp_path / "out")
    why = report.skipped[str(broken)]
    assert "cannot read this image" in why and "broken.png" not in why, "the file is named once, as the key"
    assert report.crops == 2 * PER_IMAGE
    assert hr.shape == (2 * PER_IMAGE, HR, HR, 3)
    assert lr.shape == (2 * PER_IMAGE, HR // SCALE, HR // SCALE, 3)
    for index in range(len(hr)):
        np.testing.assert_array_equal(lr[index], degrade(hr[index], SCALE))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["train_hr.npy", "train_ids.npy", "train_lr.npy"]


def test_no_usable_image_raises(tmp_path):
    small = tmp_path / "small.png"
    _noise_png(small, 8, 8, seed=0)
    text = tmp_path / "notes.png"
    text.write_text("nope")
    with pytest.raises(SrganError, match="none of the 2 training images") as err:
        _run([small, text], tmp_path / "out")
    assert f"skipped {small}: smaller than the 16px crop (8x8); lower data.hr_size" in str(err.value)
    assert f"; {text}: " in str(err.value)
    assert not (tmp_path / "out" / "train_hr.npy").exists()


def test_images_that_all_fail_to_decode_say_why_and_keep_the_last_run_s_crops(tmp_path, images):
    """Headers that read but pixels that do not: the error names the files and why, and the crops of the run
    before stay as they were (not arrays of 0 rows)."""
    paths, _ = images
    _, hr_before, _ = _run(paths, tmp_path / "out")
    broken = []
    for index, path in enumerate(paths[:2]):
        broken.append(tmp_path / f"broken{index}.png")
        broken[-1].write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(SrganError, match=r"no training crop could be made from 2 images; skipped .*broken0\.png: "
                                         r".*; .*broken1\.png: "):
        _run(broken, tmp_path / "out")
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "train_hr.npy"), hr_before)


def test_no_training_images_is_an_error(tmp_path):
    with pytest.raises(SrganError, match="no training images"):
        _run([], tmp_path / "out")


def test_eval_images_cropped_to_scale_and_round_trip(tmp_path):
    a = tmp_path / "alpha.png"
    b = tmp_path / "beta.png"
    tiny = tmp_path / "tiny.png"
    _noise_png(a, 30, 27, seed=1)
    _noise_png(b, 20, 24, seed=2)
    _noise_png(tiny, 10, 40, seed=3)  # crops to 8 rows: smaller than 4 * scale
    under_ssim = tmp_path / "under_ssim.png"
    _noise_png(under_ssim, 18, 40, seed=4)  # 16 rows, 8 after the border: under SSIM's 11-pixel window
    out = tmp_path / "eval" / "set.npz"
    report = write_eval_images([a, b, tiny, under_ssim], out, scale=SCALE)
    assert report.images == 2
    assert list(report.skipped) == [str(tiny), str(under_ssim)]
    assert all("too small for x4: " in why and "at least 19px" in why for why in report.skipped.values())
    loaded = load_eval_images(out)
    assert sorted(loaded) == ["alpha", "beta"]
    lr, hr = loaded["alpha"]
    assert hr.shape == (28, 24, 3) and lr.shape == (7, 6, 3)
    np.testing.assert_array_equal(hr, read_image(a)[:28, :24])
    np.testing.assert_array_equal(lr, degrade(hr, SCALE))
    lr, hr = loaded["beta"]
    assert hr.shape == (20, 24, 3) and lr.shape == (5, 6, 3)
    np.testing.assert_array_equal(hr, read_image(b))
    assert sorted(p.name for p in out.parent.iterdir()) == ["set.npz"]


def test_eval_images_all_unusable_raises(tmp_path):
    text = tmp_path / "x.png"
    text.write_text("no")
    with pytest.raises(SrganError, match=r"no usable evaluation image among 1 for data.eval.plates; skipped .*x.png: "):
        write_eval_images([text], tmp_path / "set.npz", scale=SCALE, label="data.eval.plates")
    assert not (tmp_path / "set.npz").exists()


def test_augment_returns_one_of_the_eight_dihedral_transforms():
    crop = np.random.default_rng(0).integers(0, 256, size=(5, 5, 3), dtype=np.uint8)
    transforms = _dihedral(crop)
    assert len({t.tobytes() for t in transforms}) == 8  # the crop has no symmetry
    seen = set()
    for seed in range(64):
        out = augment(crop, np.random.default_rng(seed))
        assert out.shape == crop.shape and out.flags["C_CONTIGUOUS"]
        matches = [i for i, t in enumerate(transforms) if np.array_equal(out, t)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(range(8))


def test_face_transform_makes_128_pixel_faces_for_x8(tmp_path):
    from srgan.data.crops import face_crop
    from srgan.data.resize import degrade as make_lr

    rng = np.random.default_rng(3)
    faces = []
    for index in range(2):
        face = rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)
        faces.append(face)
        write_png(tmp_path / f"{index:06d}.jpg.png", face)
    paths = sorted(tmp_path.glob("*.png"))
    report = write_training_crops(paths, tmp_path / "out", hr_size=128, scale=8, crops_per_image=1, seed=0,
                                  augment="none", transform=face_crop)
    hr = np.load(tmp_path / "out" / "train_hr.npy")
    lr = np.load(tmp_path / "out" / "train_lr.npy")
    assert report.crops == 2 and hr.shape == (2, 128, 128, 3) and lr.shape == (2, 16, 16, 3)
    assert np.array_equal(hr[0], face_crop(faces[0])) and np.array_equal(lr[1], make_lr(hr[1], 8))
    write_eval_images(paths, tmp_path / "faces.npz", scale=8, transform=face_crop)
    (low, high), _ = load_eval_images(tmp_path / "faces.npz").values()
    assert high.shape == (128, 128, 3) and low.shape == (16, 16, 3)


def test_decompression_bombs_are_counted_skips(tmp_path, images):
    paths, _ = images
    bomb = bomb_png(tmp_path / "bomb.png")
    report = write_training_crops([*paths, bomb], tmp_path / "out", hr_size=16, scale=4, crops_per_image=2, seed=0)
    assert "900000000 pixels, more than the limit" in report.skipped[str(bomb)]
    evaluation = write_eval_images([*paths[:2], bomb], tmp_path / "eval.npz", scale=4)  # img2 is under 19px
    assert str(bomb) in evaluation.skipped and evaluation.images == 2


def test_the_pixel_limit_is_a_parameter(tmp_path, images):
    paths, _ = images
    report = write_eval_images(paths[:2], tmp_path / "limited.npz", scale=4, max_pixels=1300)
    assert [Path(p).name for p in report.skipped] == ["img0.png"]  # 40x36 = 1440 pixels; 24x50 = 1200 pass
    assert write_eval_images(paths[:2], tmp_path / "unlimited.npz", scale=4, max_pixels=0).images == 2


def test_same_stems_get_distinct_names_in_the_evaluation_archive(tmp_path):
    for suffix, value in ((".png", 10), (".bmp", 200)):
        Image.fromarray(np.full((20, 20, 3), value, np.uint8)).save(tmp_path / f"photo{suffix}")
    write_eval_images([tmp_path / "photo.png", tmp_path / "photo.bmp"], tmp_path / "eval.npz", scale=4)
    loaded = load_eval_images(tmp_path / "eval.npz")
    assert sorted(loaded) == ["photo_bmp", "photo_png"]
    assert loaded["photo_png"][1].max() == 10 and loaded["photo_bmp"][1].max() == 200


def test_a_random_degradation_keeps_the_crops_and_is_seeded(images, tmp_path):
    from srgan.config import RealisticDegradation
    from srgan.data.degradations import make_lr
    paths, _ = images
    realistic = make_lr("realistic", RealisticDegradation())
    runs = {}
    for name, maker in (("bicubic", None), ("real_a", realistic), ("real_b", realistic)):
        out = tmp_path / name
        kwargs = {"make_lr": maker} if maker else {}
        write_training_crops(paths, out, hr_size=HR, scale=SCALE, crops_per_image=PER_IMAGE, seed=5, **kwargs)
        runs[name] = (np.load(out / "train_hr.npy"), np.load(out / "train_lr.npy"))
    assert np.array_equal(runs["bicubic"][0], runs["real_a"][0]), "the degradation never moves a crop"
    assert np.array_equal(runs["real_a"][1], runs["real_b"][1]), "same seed, same LR"
    assert not np.array_equal(runs["bicubic"][1], runs["real_a"][1])
    assert runs["real_a"][1].shape == runs["bicubic"][1].shape


def test_evaluation_images_can_be_degraded_realistically_from_a_seed(images, tmp_path):
    from srgan.config import RealisticDegradation
    from srgan.data.degradations import make_lr
    paths, _ = images
    realistic = make_lr("realistic", RealisticDegradation())
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        write_eval_images(paths, tmp_path / f"{name}.npz", scale=SCALE, make_lr=realistic, seed=seed)
    write_eval_images(paths, tmp_path / "clean.npz", scale=SCALE)
    a, b, c, clean = (load_eval_images(tmp_path / f"{name}.npz") for name in ("a", "b", "c", "clean"))
    for name, (lr, hr) in a.items():
        assert np.array_equal(hr, clean[name][1]) and lr.shape == clean[name][0].shape
        assert np.array_equal(lr, b[name][0])
        assert not np.array_equal(lr, clean[name][0]) and not np.array_equal(lr, c[name][0])


def _noisy_lr(hr: np.ndarray, scale: int, rng: np.random.Generator) -> np.ndarray:
    return np.clip(hr[::scale, ::scale].astype(int) + rng.integers(-20, 21, hr[::scale, ::scale].shape), 0,
                   255).astype(np.uint8)


def test_further_draws_of_each_image_follow_its_first_draws_with_its_hr(images, tmp_path):
    paths, _ = images
    write_eval_images(paths, tmp_path / "once.npz", scale=SCALE, make_lr=_noisy_lr, seed=4)
    write_eval_images(paths, tmp_path / "thrice.npz", scale=SCALE, make_lr=_noisy_lr, seed=4, draws=3)
    once, thrice = load_eval_images(tmp_path / "once.npz"), load_eval_images(tmp_path / "thrice.npz")
    names = list(once)  # img2 (16 px) is too small to evaluate: two images
    assert list(thrice) == names + [f"{name}_draw{k}" for k in (1, 2) for name in names]
    for name in names:
        assert np.array_equal(thrice[name][0], once[name][0]), "the first draw is the set's single draw"
        draws = [thrice[name][0], thrice[f"{name}_draw1"][0], thrice[f"{name}_draw2"][0]]
        assert not np.array_equal(draws[0], draws[1]) and not np.array_equal(draws[1], draws[2])
        assert all(thrice[f"{name}_draw{k}"][1] is thrice[name][1] for k in (1, 2)), "one HR array per image"


def test_a_file_named_like_a_further_draw_keeps_its_own_name_apart(tmp_path):
    for value, name in enumerate(["a.png", "a_draw1.png"]):
        Image.fromarray(np.full((20, 20, 3), 50 * value, np.uint8)).save(tmp_path / name)
    write_eval_images([tmp_path / "a.png", tmp_path / "a_draw1.png"], tmp_path / "eval.npz", scale=4,
                      make_lr=_noisy_lr, draws=2)
    loaded = load_eval_images(tmp_path / "eval.npz")
    assert len(loaded) == 4
    assert {name: int(loaded[name][1].max()) for name in loaded} == {"a": 0, "a_draw1": 0, "a_draw1_": 50,
                                                                      "a_draw1__draw1": 50}


def test_names_from_file_stems_never_leave_their_folder(tmp_path):
    """'..png' and '...png' have the stems '.' and '..': as sample folder names they would point outside."""
    names = ["..png", "...png", ".hidden.png", "_.png"]
    for value, name in enumerate(names):
        Image.fromarray(np.full((20, 20, 3), 10 * value, np.uint8)).save(tmp_path / name, format="PNG")
    write_eval_images([tmp_path / name for name in names], tmp_path / "eval.npz", scale=4)
    loaded = load_eval_images(tmp_path / "eval.npz")
    assert {name: int(loaded[name][1].max()) for name in loaded} == {"_": 0, "__": 10, "_hidden": 20, "___": 30}


def test_a_margin_keeps_the_crops_and_stores_each_with_its_surroundings(images, tmp_path):
    from srgan.config import RealisticDegradation
    from srgan.data.degradations import make_lr
    paths, arrays = images
    _, plain, _ = _run(paths, tmp_path / "plain", seed=5, flips=True)
    realistic = make_lr("realistic", RealisticDegradation())
    _, hr, lr = _run(paths, tmp_path / "margin", seed=5, flips=True, margin=8, make_lr=realistic)
    regions = np.load(tmp_path / "margin/train_hr_margin.npy")
    assert np.array_equal(hr, plain), "the margin never moves a crop"
    assert regions.shape == (len(hr), HR + 16, HR + 16, 3) and lr.shape == (len(hr), HR // SCALE, HR // SCALE, 3)
    assert np.array_equal(regions[:, 8:-8, 8:-8], hr), "each region's centre is its crop"
    # img2 is 16x16, the crop itself: its margin is the image reflected, the same region up to a flip or rotation.
    padded = np.pad(arrays[2], ((8, 8), (8, 8), (0, 0)), mode="reflect")
    assert any(np.array_equal(region, padded) for region in _dihedral(regions[-1]))
    _run(paths, tmp_path / "margin", seed=5)  # a run without a margin leaves no stale regions behind
    assert not (tmp_path / "margin/train_hr_margin.npy").exists()


def test_a_margin_off_the_scale_or_with_real_pairs_is_refused(images, tmp_path):
    paths, _ = images
    with pytest.raises(ValueError, match="multiple of the scale 4"):
        _run(paths, tmp_path / "out", margin=6)
    with pytest.raises(ValueError, match="no real pairs"):
        _run(paths, tmp_path / "out", margin=8, lr_paths=paths)


def test_evaluation_images_keep_their_stored_values_whatever_their_colour_profile(tmp_path):
    """The literature's metric protocol reads the stored values (MATLAB, OpenCV and BasicSR ignore colour
    profiles), so a set's scores compare with papers'; training and upscale convert to sRGB."""
    from tests.test_imageio import DISPLAY_P3

    stored = np.random.default_rng(0).integers(0, 256, (40, 44, 3), dtype=np.uint8)
    Image.fromarray(stored).save(tmp_path / "wide.png", icc_profile=DISPLAY_P3)
    assert not np.array_equal(read_image(tmp_path / "wide.png"), stored)  # converted where users see it
    write_eval_images([tmp_path / "wide.png"], tmp_path / "eval.npz", scale=4)
    np.testing.assert_array_equal(load_eval_images(tmp_path / "eval.npz")["wide"][1], stored)
