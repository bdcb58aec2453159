"""`dvc repro` training on realistically degraded LR, evaluating a clean, a degraded and a real-pairs set side by
side, with an SRResNet-to-SRGAN blend (evaluate.interpolation), and writing model cards."""

import hashlib
import json
from pathlib import Path

import numpy as np

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


def test_realistic_training_and_a_degraded_evaluation_set_are_evaluated_side_by_side(copy_tiny_run, tmp_path_factory):
    plates = _pairs(tmp_path_factory.mktemp("plates"))

    def edit(params):
        params["data"].update(degradation="realistic", validation={"source": plates, "images": 2}, eval={
            "skimage": "skimage", "skimage_real": {"source": "skimage", "degradation": "realistic", "seed": 1},
            "plates": plates})
        params["evaluate"]["interpolation"] = [0.5]

    project = copy_tiny_run(edit)
    project.dvc("repro")
    root = project.root
    hr = np.load(root / "data/prepared/train/train_hr.npy")
    lr = np.load(root / "data/prepared/train/train_lr.npy")
    bicubic = np.stack([degrade(crop, 4) for crop in hr])
    assert lr.shape == bicubic.shape and np.abs(lr.astype(int) - bicubic).mean() > 1.0
    clean = load_eval_images(root / "data/prepared/eval/skimage/images.npz")
    real = load_eval_images(root / "data/prepared/eval/skimage_real/images.npz")
    assert clean.keys() == real.keys()
    for name, (real_lr, real_hr) in real.items():
        assert np.array_equal(real_hr, clean[name][1]) and not np.array_equal(real_lr, clean[name][0])
    for name, degradation in (("skimage", "bicubic"), ("skimage_real", "realistic")):
        provenance = json.loads((root / f"reports/evaluate/{name}/provenance.json").read_text())
        assert provenance["degradation"] == degradation
        metrics = json.loads((root / f"reports/evaluate/{name}/metrics.json").read_text())
        assert {"bicubic", "srresnet", "srgan", "blend_0.5"} <= set(metrics)
    degraded = json.loads((root / "reports/evaluate/skimage_real/metrics.json").read_text())["bicubic"]
    clean_metrics = json.loads((root / "reports/evaluate/skimage/metrics.json").read_text())["bicubic"]
    assert degraded["psnr_y"] < clean_metrics["psnr_y"] - 0.5, "bicubic upscaling of degraded LR is further from HR"

    assert "Blend α=0.5" in (root / "reports/report.md").read_text()
    plates = load_eval_images(root / "data/prepared/eval/plates/images.npz")
    assert sorted(plates) == ["p1", "p2"] and plates["p1"][1].shape == (80, 96, 3)
    assert np.array_equal(plates["p1"][1][::4, ::4], plates["p1"][0]), "the pair's own LR, HR cropped to fit"
    manifest = json.loads((root / "data/prepared/train/manifest.json").read_text())
    assert manifest["validation"]["images"] == 2
    assert [Path(path).name for path in manifest["validation"]["skipped"]] == ["stray.png"]
    for model in ("srresnet", "srgan", "unsupervised"):
        card = json.loads((root / f"models/{model}.card.json").read_text())
        assert card["training"]["degradation"] == "realistic" and card["training"]["data"] == "skimage"
        assert card["sha256"] == hashlib.sha256((root / f"models/{model}.pt").read_bytes()).hexdigest()
        assert "sha256" in (root / f"models/{model}.card.md").read_text()
    assert (root / "reports/figures/perception_distortion.png").exists()

    project.edit_params(lambda p: p["data"]["realistic"]["second"].update(jpeg_range=[10, 20]))
    changed = set(json.loads(project.dvc("status", "--json").stdout))
    assert {"prepare", "prepare_eval@skimage_real"} <= changed
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
