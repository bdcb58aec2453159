"""The report stage's choice of samples to draw, checked for every set before any figure is written."""

import pytest

from srgan.errors import SrganError
from srgan.stages.report import chosen_samples


def _sets(tmp_path, **kept):
    folders = {}
    for name, images in kept.items():
        folders[name] = tmp_path / name
        for image in images:
            (folders[name] / image).mkdir(parents=True)
        folders[name].mkdir(exist_ok=True)
    return folders


def test_each_set_shows_the_named_samples_it_kept_or_all_it_kept(tmp_path):
    folders = _sets(tmp_path, skimage=["astronaut", "camera", "coffee"], plates=["plate1"], empty=[])
    assert chosen_samples(folders, ["coffee", "plate1"]) == {"skimage": ["coffee"], "plates": ["plate1"], "empty": []}
    assert chosen_samples(folders, []) == {"skimage": ["astronaut", "camera", "coffee"], "plates": ["plate1"],
                                           "empty": []}


def test_a_sample_no_set_kept_stops_before_any_figure(tmp_path):
    folders = _sets(tmp_path, skimage=["astronaut"], cof=["coffee"])
    with pytest.raises(SrganError, match=r"report.images: no evaluation set kept samples named \['cat'\]"):
        chosen_samples(folders, ["astronaut", "cat"])
    with pytest.raises(FileNotFoundError):
        chosen_samples({**folders, "unpulled": tmp_path / "missing"}, [])
