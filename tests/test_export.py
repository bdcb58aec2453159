"""`srgan-export`: ONNX with open height and width that onnxruntime runs as PyTorch does."""

import warnings

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from PIL import Image

from srgan.data.resize import upscale
from srgan.export import BicubicUpscale, main
from srgan.models.blend import blend
from srgan.models.generator import Generator
from srgan.models.io import save_generator


def _model(path, seed=0, **arch):
    torch.manual_seed(seed)
    generator = Generator(**{"scale": 4, "blocks": 1, "channels": 8, **arch}).eval()
    save_generator(path, generator)
    return generator


def _run_onnx(path, lr: torch.Tensor) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"lr": lr.numpy()})[0]


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_the_exported_bicubic_skip_is_matlabs_bicubic(scale):
    x = torch.rand(2, 3, 7, 11, dtype=torch.float64)
    assert torch.allclose(BicubicUpscale(scale).double()(x), upscale(x, scale), atol=1e-12)


@pytest.mark.parametrize("arch", [{"bicubic_skip": True, "upsample": "nearest"}, {"bicubic_skip": False},
                                  {"scale": 2, "norm": "spectral", "bicubic_skip": True}],
                         ids=["default-like", "paper", "x2-spectral"])
def test_onnxruntime_matches_pytorch_on_odd_sized_images(tmp_path, capsys, arch):
    generator = _model(tmp_path / "g.pt", **arch)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        assert main([str(tmp_path / "g.pt"), "-o", str(tmp_path / "g.onnx")]) == 0
    assert not shown and ("H and W at least 3" in capsys.readouterr().out) == generator.bicubic_skip
    graph = onnx.load(tmp_path / "g.onnx").graph
    declared = {value.name: [d.dim_value or d.dim_param for d in value.type.tensor_type.shape.dim]
                for value in (*graph.input, *graph.output)}
    assert declared == {"lr": ["batch", 3, "height", "width"], "sr": ["batch", 3, "out_height", "out_width"]}
    shapes = ((1, 3, 13, 17), (2, 3, 21, 9)) + (((1, 3, 3, 3),) if generator.bicubic_skip else ((1, 3, 1, 2),))
    for shape in shapes:  # one file, any size and batch, down to the smallest it takes
        lr = torch.rand(*shape, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            expected = generator(lr).numpy()
        got = _run_onnx(tmp_path / "g.onnx", lr)
        assert got.shape == expected.shape == (shape[0], 3, shape[2] * generator.scale, shape[3] * generator.scale)
        assert np.abs(got - expected).max() < 1e-4


def test_a_blend_exports_as_the_blended_network(tmp_path):
    sharp, faithful = _model(tmp_path / "sharp.pt", 0), _model(tmp_path / "faithful.pt", 1)
    assert main([str(tmp_path / "sharp.pt"), "--blend", str(tmp_path / "faithful.pt"), "--alpha", "0.3",
                 "-o", str(tmp_path / "b.onnx")]) == 0
    lr = torch.rand(1, 3, 11, 15)
    with torch.no_grad():
        expected = blend(faithful, sharp, 0.3)(lr).numpy()
    assert np.abs(_run_onnx(tmp_path / "b.onnx", lr) - expected).max() < 1e-4


def test_errors_are_one_message(tmp_path, capsys):
    assert main([str(tmp_path / "missing.pt"), "-o", str(tmp_path / "m.onnx")]) == 1
    assert "missing.pt: model file not found" in capsys.readouterr().err
    Image.new("RGB", (8, 8)).save(tmp_path / "photo.png")
    assert main([str(tmp_path / "photo.png"), "-o", str(tmp_path / "m.onnx")]) == 1
    assert capsys.readouterr().err == (f"error: {tmp_path / 'photo.png'}: an image, not a model file; give a model "
                                       "written by this project, such as models/srgan.pt\n")
    _model(tmp_path / "g.pt")
    assert main([str(tmp_path / "g.pt"), "--alpha", "0.5", "-o", str(tmp_path / "m.onnx")]) == 1
    assert "--alpha needs --blend" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main([str(tmp_path / "g.pt"), "-o", str(tmp_path / "file" / "m.onnx")]) == 1
    assert "cannot write" in capsys.readouterr().err
    assert main([str(tmp_path / "g.pt"), "-o", str(tmp_path / "file" / "m.onnx")]) == 1
    assert f"cannot write {tmp_path / 'file' / 'm.onnx'}: part of that path is a file, not a folder" in \
        capsys.readouterr().err
    assert main([str(tmp_path / "g.pt"), "-o", ""]) == 1
    assert "give the ONNX file's name, e.g. -o srgan.onnx" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_the_models_read_are_never_replaced_by_the_export(tmp_path, capsys):
    _model(tmp_path / "sharp.pt", 0)
    _model(tmp_path / "faithful.pt", 1)
    kept = {name: (tmp_path / name).read_bytes() for name in ("sharp.pt", "faithful.pt")}
    (tmp_path / "link.pt").symlink_to(tmp_path / "sharp.pt")
    for out in ("sharp.pt", "faithful.pt", "link.pt"):
        assert main([str(tmp_path / "sharp.pt"), "--blend", str(tmp_path / "faithful.pt"), "-o",
                     str(tmp_path / out)]) == 1
        assert "(or a link to it); pass -o another path" in capsys.readouterr().err
    assert {name: (tmp_path / name).read_bytes() for name in kept} == kept
