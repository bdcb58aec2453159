"""Real photos through `dvc repro`: a folder of the user's own odd images trained on with realistically degraded LR,
evaluated on a clean, a degraded and a real-pairs set side by side, with an SRResNet-to-SRGAN blend
(evaluate.interpolation), and model cards; training on real LR-HR pairs."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tests.conftest import HELD_OUT

from srgan.data.crops import load_eval_images
from srgan.data.resize import degrade
from srgan.imageio import write_png


def _pairs(folder) -> str:
    """A pairs: source of two LR-HR pairs (HR = each LR pixel as a 4x4 block, 2 px too many) and one stray LR."""
    rng = np.random.default_rng(0)
    for name in ("p1", "p2"):
        lr = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
        write_png(folder / "lr" / f"{name}.png", lr)
        hr = np.kron(lr, np.ones((4, 4, 1), np.uint8))
        write_png(folder / "hr" / f"{name}.png", np.pad(hr, ((0, 2), (0, 2), (0, 0))))
    write_png(folder / "lr" / "stray.png", rng.integers(0, 256, (20, 24, 3), dtype=np.uint8))
    return f"pairs:{folder / 'lr'},{folder / 'hr'}"


def _own_photos(folder: Path) -> Path:
    """Four odd-sized JPEGs, a grey image too small for a crop and a broken PNG."""
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (48 + 8 * i, 64, 3), dtype=np.uint8)).save(folder / f"p{i}.jpg")
    Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(folder / "tiny_gray.png")
    (folder / "broken.png").write_bytes(b"\x89PNG broken")
    return folder


def test_own_photos_train_realistically_and_every_kind_of_set_is_evaluated_side_by_side(copy_tiny_run,
                                                                                        tmp_path_factory):
    plates = _pairs(tmp_path_factory.mktemp("plates"))
    photos = _own_photos(tmp_path_factory.mktemp("my_photos"))
    before = {path: path.read_bytes() for path in photos.iterdir()}

    def edit(params):
        params["data"].update(train=f"folder:{photos}", degradation="realistic",
                              validation={"source": plates, "images": 2}, eval={
            "skimage": f"folder:{HELD_OUT}", "skimage_real": {"source": f"folder:{HELD_OUT}",
                                                           "degradation": "realistic", "seed": 1, "draws": 2},
            "plates": plates})
        params["evaluate"]["interpolation"] = [0.5]

    project = copy_tiny_run(edit)
    result = project.dvc("repro")
    root = project.root
    manifest = json.loads((root / "data/prepared/train/manifest.json").read_text())
    assert manifest["train"]["images"] == 4
    skipped = manifest["train"]["skipped"]
    assert any("broken.png" in path and "cannot read" in why for path, why in skipped.items())
    assert any("tiny_gray.png" in path and "smaller than" in why for path, why in skipped.items())
    assert "skipped" in result.stdout + result.stderr
    assert {path: path.read_bytes() for path in photos.iterdir()} == before, "the user's folder is never written"
    hr = np.load(root / "data/prepared/train/train_hr.npy")
    lr = np.load(root / "data/prepared/train/train_lr.npy")
    bicubic = np.stack([degrade(crop, 4) for crop in hr])
    assert lr.shape == bicubic.shape and np.abs(lr.astype(int) - bicubic).mean() > 1.0
    regions = np.load(root / "data/prepared/train/train_hr_margin.npy")  # what training degrades afresh
    assert regions.shape == (len(hr), 32 + 2 * 32, 32 + 2 * 32, 3) and np.array_equal(regions[:, 32:-32, 32:-32], hr)
    clean = load_eval_images(root / "data/prepared/eval/skimage/images.npz")
    real = load_eval_images(root / "data/prepared/eval/skimage_real/images.npz")
    assert list(real) == list(clean) + [f"{name}_draw1" for name in clean], "two LR draws of every photo"
    for name, (real_lr, real_hr) in real.items():
        photo = name.removesuffix("_draw1")
        assert np.array_equal(real_hr, clean[photo][1]) and not np.array_equal(real_lr, clean[photo][0])
        assert name == photo or not np.array_equal(real_lr, real[photo][0])
    for name, degradation in (("skimage", "bicubic"), ("skimage_real", "realistic"), ("plates", "bicubic")):
        provenance = json.loads((root / f"reports/evaluate/{name}/provenance.json").read_text())
        assert provenance["degradation"] == degradation
        assert provenance["draws"] == (2 if name == "skimage_real" else 1)
        metrics = json.loads((root / f"reports/evaluate/{name}/metrics.json").read_text())
        assert {"bicubic", "srresnet", "srgan", "blend_0.5"} <= set(metrics)
        per_image = pd.read_csv(root / f"reports/evaluate/{name}/per_image.csv")
        assert set(per_image["dataset"]) == {name}
        assert per_image["image"].nunique() == provenance["images"] == (6 if name == "skimage_real" else
                                                                        per_image["image"].nunique())
        assert (root / f"reports/figures/comparison_{name}.png").exists()
    degraded = json.loads((root / "reports/evaluate/skimage_real/metrics.json").read_text())["bicubic"]
    clean_metrics = json.loads((root / "reports/evaluate/skimage/metrics.json").read_text())["bicubic"]
    assert degraded["psnr_y"] < clean_metrics["psnr_y"] - 0.5, "bicubic upscaling of degraded LR is further from HR"

    assert "Blend α=0.5" in (root / "reports/report.md").read_text()
    plates = load_eval_images(root / "data/prepared/eval/plates/images.npz")
    assert sorted(plates) == ["p1", "p2"] and plates["p1"][1].shape == (80, 96, 3)
    assert np.array_equal(plates["p1"][1][::4, ::4], plates["p1"][0]), "the pair's own LR, HR cropped to fit"
    assert manifest["validation"]["images"] == 2
    assert [Path(path).name for path in manifest["validation"]["skipped"]] == ["stray.png"]
    for model in ("srresnet", "srgan", "unsupervised"):
        card = json.loads((root / f"models/{model}.card.json").read_text())
        assert card["training"]["degradation"] == "realistic" and card["training"]["data"] == f"folder:{photos}"
        assert card["sha256"] == hashlib.sha256((root / f"models/{model}.pt").read_bytes()).hexdigest()
        assert "sha256" in (root / f"models/{model}.card.md").read_text()
    assert (root / "reports/figures/perception_distortion.png").exists()

    project.edit_params(lambda p: p["data"]["realistic"]["second"].update(jpeg_range=[10, 20]))
    changed = set(json.loads(project.dvc("status", "--json").stdout))
    assert {"prepare", "prepare_eval@skimage_real", "pretrain", "train_gan"} <= changed
    assert not changed & {"download", "download_eval@skimage", "backbones"}


def test_a_model_trains_on_real_pairs_through_dvc_repro(copy_tiny_run, tmp_path_factory):
    """`data.train: pairs:LR,HR`: prepare crops the pairs aligned (HR fitted to 4 x LR), counts the stray LR as a
    skip, and pretraining trains on them."""
    pairs = _pairs(tmp_path_factory.mktemp("plates"))
    project = copy_tiny_run(lambda params: params["data"].update(train=pairs))
    result = project.dvc("repro", "pretrain")
    assert {"prepare", "pretrain"} <= project.ran(result)
    root = project.root
    hr = np.load(root / "data/prepared/train/train_hr.npy")
    lr = np.load(root / "data/prepared/train/train_lr.npy")
    assert len(hr) > 0 and hr.shape[1:3] == (32, 32) and lr.shape[1:3] == (8, 8)
    assert np.array_equal(hr[:, ::4, ::4], lr), "each HR crop covers its LR crop (HR is each LR pixel as a block)"
    manifest = json.loads((root / "data/prepared/train/manifest.json").read_text())
    assert "stray" in json.dumps(manifest)
    card = json.loads((root / "models/srresnet.card.json").read_text())
    assert card["training"]["data"] == pairs and card["training"]["degradation"] == "the pairs' own LR"
