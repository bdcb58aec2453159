"""Tests for srgan.models: generator, discriminator, normalisation choices and safe model files."""

from __future__ import annotations

import os
import pickle
import shlex

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from srgan.data.resize import upscale
from srgan.errors import SrganError
from srgan.models.discriminator import Discriminator
from srgan.models.generator import Generator
from srgan.models.io import FORMAT, load_generator, save_generator


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _tiny(scale=4, norm="batch", bicubic_skip=False):
    return Generator(scale=scale, blocks=1, channels=8, norm=norm, bicubic_skip=bicubic_skip)


# ----------------------------------------------------------------------------- generator


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_the_generator_upscales_by_its_scale(scale):
    generator = _tiny(scale).eval()
    with torch.no_grad():
        out = generator(torch.rand(2, 3, 6, 5))
    assert out.shape == (2, 3, 6 * scale, 5 * scale)
    assert generator.arch == {"scale": scale, "blocks": 1, "channels": 8, "norm": "batch", "bicubic_skip": False,
                              "progressive": False, "upsample": "pixel_shuffle"}


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_the_nearest_upsampling_generator_has_no_checkerboard_layer(scale, tmp_path):
    """The resize-conv generator: same shapes, saved and loaded with its architecture, and no upsampling
    layer that can make a checkerboard (every output pixel of a 2x block sees the same input)."""
    from srgan.models.io import load_generator, save_generator

    generator = Generator(scale=scale, blocks=1, channels=8, upsample="nearest").eval()
    assert generator(torch.rand(1, 3, 6, 5)).shape == (1, 3, 6 * scale, 5 * scale)
    assert not any(isinstance(m, torch.nn.PixelShuffle) for m in generator.modules())
    save_generator(tmp_path / "g.pt", generator)
    loaded, _ = load_generator(tmp_path / "g.pt")
    assert loaded.arch["upsample"] == "nearest"
    x = torch.rand(1, 3, 6, 5)
    assert torch.equal(loaded(x), generator(x))
    with pytest.raises(ValueError, match="upsample"):
        Generator(scale=scale, blocks=1, channels=8, upsample="deconv")


@pytest.mark.parametrize("scale", [1, 3, 16])
def test_the_generator_refuses_an_unsupported_scale(scale):
    with pytest.raises(ValueError, match=str(scale)):
        _tiny(scale)


def _convs(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


@pytest.mark.parametrize("make", [lambda norm: _tiny(2, norm), lambda norm: Discriminator(32, 8, norm, dense=16)])
def test_each_norm_choice_builds_its_own_layers(make):
    spectral = make("spectral")
    layers = _convs(spectral)
    assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
    assert not _has_batchnorm(spectral)

    batch = make("batch")
    assert _has_batchnorm(batch)
    assert not any(parametrize.is_parametrized(m) for m in _convs(batch))

    plain = make("none")
    assert not _has_batchnorm(plain)
    assert not any(parametrize.is_parametrized(m) for m in _convs(plain))


def test_spectral_norm_bounds_the_weight():
    generator = _tiny(2, "spectral").train()
    lr = torch.rand(1, 3, 8, 8)
    for _ in range(30):  # power iterations run in training-mode forwards
        generator(lr)
    conv = generator.body[0].body[0]
    weight = conv.weight.detach().reshape(conv.weight.shape[0], -1)
    assert torch.linalg.matrix_norm(weight, ord=2).item() == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("scale", [2, 4, 8])
@pytest.mark.parametrize("norm", ["batch", "none"])
def test_bicubic_skip_with_zero_tail_is_bicubic_upscale(scale, norm):
    generator = _tiny(scale, norm, bicubic_skip=True).eval()
    with torch.no_grad():
        generator.tail.weight.zero_()
        generator.tail.bias.zero_()
        lr = torch.rand(2, 3, 5, 7)
        out = generator(lr)
    assert torch.equal(out, upscale(lr, scale))
    # Without the skip the same zeroed tail gives zeros: the skip is what adds the bicubic image.
    generator.bicubic_skip = False
    with torch.no_grad():
        assert torch.equal(generator(lr), torch.zeros_like(out))


# ----------------------------------------------------------------------------- discriminator


@pytest.mark.parametrize("hr_size", [32, 64])
@pytest.mark.parametrize("norm", ["batch", "spectral", "none"])
def test_the_discriminator_gives_one_score_per_image(hr_size, norm):
    discriminator = Discriminator(hr_size=hr_size, channels=8, norm=norm, dense=16).eval()
    with torch.no_grad():
        out = discriminator(torch.rand(3, 3, hr_size, hr_size))
    assert out.shape == (3,)
    dense = discriminator.head[1]
    # 8 convs, 4 of them strided: channels * 8 maps of (hr_size / 16)^2 pixels.
    assert dense.in_features == 8 * 8 * (hr_size // 16) ** 2
    assert dense.out_features == 16


@pytest.mark.parametrize("hr_size", [24, 40, 96 + 8])
def test_discriminator_rejects_sizes_not_multiple_of_16(hr_size):
    with pytest.raises(ValueError, match=str(hr_size)):
        Discriminator(hr_size=hr_size, channels=8)


def test_discriminator_wrong_input_size_fails_loudly():
    discriminator = Discriminator(hr_size=32, channels=8, dense=16).eval()
    with pytest.raises(RuntimeError):
        discriminator(torch.rand(1, 3, 64, 64))


# ----------------------------------------------------------------------------- io


@pytest.mark.parametrize("norm", ["batch", "spectral", "none"])
def test_a_saved_generator_loads_back_identical(tmp_path, norm):
    generator = _tiny(2, norm, bicubic_skip=True)
    generator.train()
    with torch.no_grad():  # move BatchNorm running stats and spectral-norm vectors off their init
        generator(torch.rand(2, 3, 8, 8))
    generator.eval()
    path = tmp_path / "models" / "g.pt"
    save_generator(path, generator, meta={"step": 12, "note": "x"})
    assert sorted(p.name for p in path.parent.iterdir()) == ["g.pt"]
    loaded, meta = load_generator(path)
    assert meta == {"step": 12, "note": "x"}
    assert loaded.arch == generator.arch
    assert not loaded.training
    lr = torch.rand(1, 3, 7, 6)
    with torch.no_grad():
        assert torch.equal(loaded(lr), generator(lr))


def test_loading_a_missing_model_file_says_it_was_not_found(tmp_path):
    with pytest.raises(SrganError, match="g.pt.*not found"):
        load_generator(tmp_path / "g.pt")


def _marker_payload(marker):
    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {shlex.quote(str(marker))}",)
    return Evil()


@pytest.mark.parametrize("kind", ["random", "plain_dict", "torch_evil", "pickle_evil", "evil_in_dict"])
def test_load_rejects_files_that_are_not_models_without_running_code(tmp_path, kind):
    marker = tmp_path / "pwned"
    path = tmp_path / f"{kind}.pt"
    if kind == "random":
        path.write_bytes(os.urandom(4096))
    elif kind == "plain_dict":
        torch.save({"state_dict": {}, "arch": {"scale": 2}}, path)
    elif kind == "torch_evil":
        torch.save(_marker_payload(marker), path)
    elif kind == "pickle_evil":
        with open(path, "wb") as handle:
            pickle.dump(_marker_payload(marker), handle, protocol=2)
    else:
        torch.save({"format": FORMAT, "arch": {"scale": 2}, "state_dict": _marker_payload(marker)}, path)
    with pytest.raises(SrganError, match=kind):
        load_generator(path)
    assert not marker.exists()


def test_a_whole_pickled_network_or_an_onnx_file_is_named_for_what_it_is(tmp_path):
    """torch's own message, cut at 200 characters, ended on its advice to load with weights_only=False."""
    pickled = tmp_path / "net.pth"
    torch.save(_tiny(2, "none"), pickled)
    with pytest.raises(SrganError) as err:
        load_generator(pickled)
    assert "a pickled Python object" in str(err.value) and "since unpickling can run any code" in str(err.value)
    assert "weights_only" not in str(err.value) and "\x1b" not in str(err.value)
    for name, data in (("page.pt", b"<!DOCTYPE html>\n<html>"), ("lfs.pt", b"version https://git-lfs.github.com/")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(SrganError, match=r"a text file \(an HTML error page"):
            load_generator(tmp_path / name)
    whole = tmp_path / "whole.pt"
    save_generator(whole, _tiny(2, "none"))
    (tmp_path / "half.pt").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(SrganError, match="a damaged or partly copied model file"):
        load_generator(tmp_path / "half.pt")
    onnx_file = tmp_path / "srgan.onnx"
    onnx_file.write_bytes(b"\x08\x08\x12\x07pytorch")
    with pytest.raises(SrganError, match="an ONNX file, as srgan-export writes; give the .pt model it was exported"):
        load_generator(onnx_file)


def test_the_marker_payload_does_run_when_unpickled_unsafely(tmp_path):
    # Guards the test above: the payload really executes under a plain pickle load.
    marker = tmp_path / "pwned"
    data = pickle.dumps(_marker_payload(marker))
    pickle.loads(data)  # noqa: S301 - deliberate, on our own payload
    assert marker.exists()


def test_load_rejects_unknown_arch_keys_and_mismatched_weights(tmp_path):
    generator = _tiny(2, "none")
    path = tmp_path / "g.pt"
    for key, value in (("channels", "32"), ("bicubic_skip", "yes"), ("scale", True)):
        torch.save({"format": FORMAT, "arch": {**generator.arch, key: value}, "state_dict": generator.state_dict()},
                   path)
        with pytest.raises(SrganError, match=f"architecture key {key} is {value!r}, not a"):
            load_generator(path)
    torch.save({"format": FORMAT, "arch": {**generator.arch, "depth": 3}, "state_dict": generator.state_dict()}, path)
    with pytest.raises(SrganError, match="depth"):
        load_generator(path)
    torch.save({"format": FORMAT, "arch": {**generator.arch, "channels": 16}, "state_dict": generator.state_dict()},
               path)
    with pytest.raises(SrganError, match="do not match"):
        load_generator(path)


def test_start_at_bicubic_makes_an_untrained_generator_exactly_bicubic():
    from srgan.models.generator import start_at_bicubic

    torch.manual_seed(0)
    for norm in ("batch", "none"):
        generator = start_at_bicubic(Generator(4, blocks=1, channels=8, norm=norm, bicubic_skip=True,
                                               progressive=True)).eval()
        lr = torch.rand(1, 3, 6, 6)
        with torch.no_grad():
            assert torch.allclose(generator(lr), upscale(lr, 4), atol=1e-6)
            assert torch.allclose(generator(lr, upsample_steps=1), upscale(lr, 2), atol=1e-6)
    with pytest.raises(ValueError, match="bicubic_skip"):
        start_at_bicubic(Generator(4, blocks=1, channels=8))
    with pytest.raises(ValueError, match="spectrally"):
        start_at_bicubic(Generator(4, blocks=1, channels=8, norm="spectral", bicubic_skip=True))


def test_saving_the_same_generator_twice_gives_identical_bytes(tmp_path):
    """No temp-file name ends up inside the archive: DVC sees an unchanged model as unchanged."""
    import hashlib

    from srgan.models.io import save_generator

    generator = _tiny(4, "batch")
    for name in ("a.pt", "b.pt", "sub/c.pt"):
        save_generator(tmp_path / name, generator, meta={"label": "SRResNet"})
    digests = {hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() for name in ("a.pt", "b.pt", "sub/c.pt")}
    assert len(digests) == 1


@pytest.mark.parametrize("payload,missing", [
    ({"format": "srgan-dvc/generator/v1", "arch": {"scale": 4}}, "weights"),
    ({"format": "srgan-dvc/generator/v1", "state_dict": {}}, "architecture"),
])
def test_a_model_file_missing_its_parts_is_one_clear_error(tmp_path, payload, missing):
    from srgan.errors import SrganError
    from srgan.models.io import load_generator

    torch.save(payload, tmp_path / "broken.pt")
    with pytest.raises(SrganError, match=f"without its {missing}"):
        load_generator(tmp_path / "broken.pt")


@pytest.mark.parametrize("claim", [{"blocks": 30, "channels": 1024}, {"blocks": 10**9}, {"blocks": -1},
                                   {"channels": 10**12}])
def test_a_model_file_cannot_make_load_build_more_than_its_weights(tmp_path, monkeypatch, claim):
    """A small file that claims a huge architecture is refused before any real generator of that size is built."""
    import srgan.models.io as model_io

    generator = _tiny(4, "batch")
    path = tmp_path / "claims.pt"
    torch.save({"format": FORMAT, "arch": {**generator.arch, **claim}, "state_dict": generator.state_dict()}, path)
    built = []

    def spy(**arch):
        made = Generator(**arch)
        built.append((arch, next(made.parameters()).device.type))
        return made

    monkeypatch.setattr(model_io, "Generator", spy)
    with pytest.raises(SrganError, match="do not match"):
        load_generator(path)
    assert all(device == "meta" for arch, device in built if arch != generator.arch), built
