"""`dvc repro` training on a local folder of odd images and evaluating on two sets at once."""

import json

import numpy as np
import pandas as pd
from PIL import Image


def test_a_folder_source_trains_and_two_evaluation_sets_are_evaluated(copy_tiny_run, tmp_path_factory):
    photos = tmp_path_factory.mktemp("my_photos")
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (48 + 8 * i, 64, 3), dtype=np.uint8)).save(photos / f"p{i}.jpg")
    Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(photos / "tiny_gray.png")
    (photos / "broken.png").write_bytes(b"\x89PNG broken")
    before = {path: path.read_bytes() for path in photos.iterdir()}
    project = copy_tiny_run(lambda p: p["data"].update(train=f"folder:{photos}",
                                                       eval={"skimage": "skimage", "mine": f"folder:{photos}"}))
    result = project.dvc("repro")
    output = result.stdout + result.stderr
    root = project.root
    manifest = json.loads((root / "data/prepared/train/manifest.json").read_text())
    assert manifest["train"]["images"] == 4
    skipped = manifest["train"]["skipped"]
    assert any("broken.png" in path and "cannot read" in why for path, why in skipped.items())
    assert any("tiny_gray.png" in path and "smaller than" in why for path, why in skipped.items())
    assert "skipped" in output
    for name in ("skimage", "mine"):
        metrics = json.loads((root / f"reports/evaluate/{name}/metrics.json").read_text())
        assert {"bicubic", "srgan"} <= set(metrics)
        assert set(pd.read_csv(root / f"reports/evaluate/{name}/per_image.csv")["dataset"]) == {name}
        assert (root / f"reports/figures/comparison_{name}.png").exists()
    assert {path: path.read_bytes() for path in photos.iterdir()} == before, "the user's folder is never written"
