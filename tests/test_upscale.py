"""The upscale command on real files: folders, progress, clear errors, safe model loading."""

import os
import pickle

import numpy as np
import torch

from srgan.imageio import read_image, write_png
from srgan.models.generator import Generator
from srgan.models.io import save_generator
from srgan.upscale import main


def model_file(tmp_path, scale=2):
    torch.manual_seed(0)
    path = tmp_path / "g.pt"
    save_generator(path, Generator(scale, blocks=1, channels=8, bicubic_skip=True).eval())
    return path


def test_upscales_files_and_folders(tmp_path):
    rng = np.random.default_rng(0)
    write_png(tmp_path / "in" / "a.png", rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    write_png(tmp_path / "in" / "sub" / "b.png", rng.integers(0, 256, (10, 12, 3), dtype=np.uint8))
    assert main([str(model_file(tmp_path)), str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--tile", "16",
                 "--overlap", "4"]) == 0
    assert read_image(tmp_path / "out" / "a_x2.png").shape == (40, 60, 3)
    assert read_image(tmp_path / "out" / "b_x2.png").shape == (20, 24, 3)


def test_unreadable_input_is_named_and_others_still_run(tmp_path, capsys):
    write_png(tmp_path / "good.png", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "bad.png").write_text("not an image")
    code = main([str(model_file(tmp_path)), str(tmp_path / "good.png"), str(tmp_path / "bad.png"),
                 "-o", str(tmp_path / "out")])
    assert code == 1
    assert "bad.png" in capsys.readouterr().err
    assert (tmp_path / "out" / "good_x2.png").exists()


def test_not_a_model_and_missing_input(tmp_path, capsys):
    (tmp_path / "fake.pt").write_bytes(b"\x00" * 100)
    write_png(tmp_path / "x.png", np.zeros((8, 8, 3), np.uint8))
    assert main([str(tmp_path / "fake.pt"), str(tmp_path / "x.png")]) == 1
    assert "fake.pt" in capsys.readouterr().err
    assert main([str(model_file(tmp_path)), str(tmp_path / "missing.png")]) == 1
    assert "missing.png: no such file" in capsys.readouterr().err


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_model_file_runs_no_code(tmp_path, capsys):
    marker = tmp_path / "pwned"
    torch.save({"format": "srgan-dvc/generator/v1", "arch": Payload(marker)}, tmp_path / "evil.pt",
               pickle_protocol=pickle.HIGHEST_PROTOCOL)
    write_png(tmp_path / "x.png", np.zeros((8, 8, 3), np.uint8))
    assert main([str(tmp_path / "evil.pt"), str(tmp_path / "x.png")]) == 1
    assert not marker.exists()
    assert "evil.pt" in capsys.readouterr().err
