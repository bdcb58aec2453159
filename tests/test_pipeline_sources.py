"""`dvc repro` training on a local folder and evaluating on two sources at once."""

import json

import numpy as np
import pandas as pd
from PIL import Image


def test_folder_source_and_two_evaluation_sets(make_project, tmp_path_factory):
    photos = tmp_path_factory.mktemp("my_photos")
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (48 + 8 * i, 64, 3), dtype=np.uint8)).save(photos / f"p{i}.jpg")
    Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(photos / "tiny_gray.png")
    (photos / "broken.png").write_bytes(b"\x89PNG broken")
    project = make_project(lambda p: p["data"].update(train=f"folder:{photos}", eval=["skimage", f"folder:{photos}"],
                                                      max_images=0))
    result = project.dvc("repro")
    output = result.stdout + result.stderr
    root = project.root
    manifest = json.loads((root / "data/prepared/manifest.json").read_text())
    assert manifest["train"]["images"] == 4
    skipped = manifest["train"]["skipped"]
    assert any("broken.png" in path and "unreadable" in why for path, why in skipped.items())
    assert any("tiny_gray.png" in path and "smaller than" in why for path, why in skipped.items())
    assert "skipped" in output
    metrics = json.loads((root / "reports/metrics.json").read_text())
    assert {"skimage", "folder_my_photos0"} <= set(metrics)
    per_image = pd.read_csv(root / "reports/evaluate/per_image.csv")
    assert set(per_image["dataset"]) == {"skimage", "folder_my_photos0"}
    assert (root / "reports/figures/comparison_folder_my_photos0.png").exists()
