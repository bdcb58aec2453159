"""`upscale --blend --alpha`: the sharp-to-faithful dial on real files."""

import numpy as np
import torch

from srgan.imageio import read_image, write_png
from srgan.models.generator import Generator
from srgan.models.io import save_generator
from srgan.upscale import main


def _model(path, seed, channels=8):
    torch.manual_seed(seed)
    save_generator(path, Generator(2, blocks=1, channels=channels, bicubic_skip=True).eval())
    return str(path)


def _upscale(tmp_path, name, *args) -> np.ndarray:
    assert main([*args, str(tmp_path / "in.png"), "-o", str(tmp_path / name), "--precision", "fp32"]) == 0
    return read_image(tmp_path / name / "in_x2.png")


def test_alpha_1_is_the_model_alpha_0_the_blend_and_between_differs(tmp_path):
    write_png(tmp_path / "in.png", np.random.default_rng(0).integers(0, 256, (11, 13, 3), dtype=np.uint8))
    sharp, faithful = _model(tmp_path / "sharp.pt", 0), _model(tmp_path / "faithful.pt", 1)
    alone = {"sharp": _upscale(tmp_path, "s", sharp), "faithful": _upscale(tmp_path, "f", faithful)}
    assert np.array_equal(_upscale(tmp_path, "a1", sharp, "--blend", faithful, "--alpha", "1"), alone["sharp"])
    assert np.array_equal(_upscale(tmp_path, "a0", sharp, "--blend", faithful, "--alpha", "0"), alone["faithful"])
    half = _upscale(tmp_path, "a5", sharp, "--blend", faithful, "--alpha", "0.5")
    assert half.shape == (22, 26, 3)
    assert not np.array_equal(half, alone["sharp"]) and not np.array_equal(half, alone["faithful"])


def test_blend_errors_are_one_clear_message(tmp_path, capsys):
    write_png(tmp_path / "in.png", np.zeros((8, 8, 3), np.uint8))
    small, wide = _model(tmp_path / "small.pt", 0), _model(tmp_path / "wide.pt", 0, channels=16)
    assert main([wide, "--blend", small, "--alpha", "0.5", str(tmp_path / "in.png"), "-o", str(tmp_path / "o")]) == 1
    assert "wide.pt have different architectures (channels 8 vs 16)" in capsys.readouterr().err
    assert main([small, "--alpha", "0.5", str(tmp_path / "in.png"), "-o", str(tmp_path / "o")]) == 1
    assert "--alpha needs --blend" in capsys.readouterr().err
    assert main([small, "--blend", small, "--alpha", "2", str(tmp_path / "in.png"), "-o", str(tmp_path / "o")]) == 1
    assert "must lie in [0, 1]" in capsys.readouterr().err
    assert not (tmp_path / "o").exists(), "nothing is written when the blend is refused"
