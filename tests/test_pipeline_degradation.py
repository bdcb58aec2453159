"""`dvc repro` training on realistically degraded LR, evaluating a clean and a degraded set side by side, with
an SRResNet-to-SRGAN blend (evaluate.interpolation)."""

import json

import numpy as np

from srgan.data.crops import load_eval_images
from srgan.data.resize import degrade


def test_realistic_training_and_a_degraded_evaluation_set(make_project):
    def edit(params):
        params["data"].update(degradation="realistic", eval={
            "skimage": "skimage", "skimage_real": {"source": "skimage", "degradation": "realistic", "seed": 1}})
        params["evaluate"]["interpolation"] = [0.5]

    project = make_project(edit)
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
    assert (root / "reports/figures/perception_distortion.png").exists()

    project.edit_params(lambda p: p["data"]["realistic"]["second"].update(jpeg_range=[10, 20]))
    changed = set(json.loads(project.dvc("status", "--json").stdout))
    assert {"prepare", "prepare_eval@skimage_real"} <= changed
    assert not changed & {"download", "download_eval@skimage", "backbones"}
