"""Tests for srgan.inference: whole-image and tiled application of a generator."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from srgan.inference import _ramp, _spans, blended_rows, fold_batch_norms, overlap_for, upscale_image, upscale_tensor
from srgan.models.generator import Generator


@pytest.fixture
def generator():
    torch.manual_seed(0)
    # bicubic_skip keeps outputs near the image, so clamping to [0, 1] does not hide differences.
    return Generator(scale=2, blocks=1, channels=8, norm="batch", bicubic_skip=True).eval()


def _lr(height, width, seed=0):
    return torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(seed))


def _with_running_statistics(generator):
    """The generator with BatchNorm statistics and affine parameters far from their initial identity map."""
    torch.manual_seed(1)
    for module in generator.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            torch.nn.init.uniform_(module.weight, 0.5, 2)
            torch.nn.init.uniform_(module.bias, -1, 1)
    return generator.eval()


def test_folding_batch_norms_keeps_the_output_and_the_original():
    generator = _with_running_statistics(Generator(scale=4, blocks=2, channels=8, norm="batch"))
    before = {name: value.clone() for name, value in generator.state_dict().items()}
    folded = fold_batch_norms(generator)
    assert not any(isinstance(module, torch.nn.BatchNorm2d) for module in folded.modules())
    assert sum(isinstance(module, torch.nn.BatchNorm2d) for module in generator.modules()) == 5
    lr = _lr(12, 10)
    with torch.no_grad():
        torch.testing.assert_close(folded(lr), generator(lr), atol=1e-5, rtol=1e-5)
    assert all(torch.equal(value, before[name]) for name, value in generator.state_dict().items())


def test_a_generator_in_train_mode_is_not_folded():
    generator = Generator(scale=2, blocks=1, channels=8, norm="batch").train()
    assert fold_batch_norms(generator) is generator


def test_the_default_overlap_is_a_quarter_of_a_small_tile():
    assert overlap_for(256) == 16 and overlap_for(64) == 16 and overlap_for(32) == 8 and overlap_for(8) == 2


def test_single_tile_equals_the_generator(generator):
    lr = _lr(20, 16)
    out = upscale_tensor(generator, lr, tile=32, overlap=8)
    with torch.no_grad():
        expected = generator(lr).clamp(0, 1)
    assert out.shape == (1, 3, 40, 32)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    assert 0 < out.mean() < 1 and out.min() >= 0 and out.max() <= 1


def test_tiled_is_close_to_whole_image(generator):
    lr = _lr(70, 50, seed=1)
    whole = upscale_tensor(generator, lr, tile=128, overlap=8)
    tiled = upscale_tensor(generator, lr, tile=32, overlap=8)
    assert tiled.shape == whole.shape == (1, 3, 140, 100)
    difference = (tiled - whole).abs()
    # Seams differ only through the zero padding each tile sees at its edges, blended away across the
    # overlap. With this random-init net (residual up to ~0.2) the worst pixel is ~0.053, the mean ~0.0025.
    assert difference.max().item() < 0.1
    assert difference.mean().item() < 0.005
    assert difference.max().item() > 1e-3  # it really went through the tiled path
    # Tiles of 29 px start at rows 0, 20, 41 and columns 0, 21. Pixels covered by one tile only and more than the
    # receptive field (~10 LR px) from that tile's inner edges come out exactly as from the whole image.
    assert _spans(70, 32, 8) == ([0, 20, 41], 29) and _spans(50, 32, 8) == ([0, 21], 29)
    assert difference[..., :36, :36].max().item() < 1e-6
    assert difference[..., 106:, 66:].max().item() < 1e-6
    assert tiled.min() >= 0 and tiled.max() <= 1


def test_tile_covering_the_image_is_exact(generator):
    # Both sides take the same path (folded, channels-last weights and input): a contiguous convolution differs from
    # a channels-last one by ~1e-6 on some CPUs (AVX2), so only the same memory format can be compared exactly.
    lr = _lr(70, 50, seed=2)
    channels_last = fold_batch_norms(generator).to(memory_format=torch.channels_last)
    with torch.no_grad():
        expected = channels_last(lr.contiguous(memory_format=torch.channels_last)).clamp(0, 1)
    assert torch.equal(upscale_tensor(generator, lr, tile=70, overlap=8), expected)
    assert not torch.equal(upscale_tensor(generator, lr, tile=64, overlap=8), expected)  # tiling does show


def test_the_fewest_tiles_cover_every_pixel_evenly_spread():
    for length, tile, overlap in [(70, 32, 8), (50, 32, 8), (33, 32, 31), (100, 10, 3), (512, 128, 16),
                                  (512, 256, 16), (1000, 256, 16), (300, 128, 0), (129, 128, 16)]:
        starts, size = _spans(length, tile, overlap)
        fewest = -(-(length - overlap) // (tile - overlap))
        assert len(starts) == fewest and size <= tile, (length, tile, overlap)
        assert starts[0] == 0 and starts[-1] + size == length
        strides = [b - a for a, b in zip(starts, starts[1:])]
        assert max(strides) - min(strides) <= 1, "spread evenly"
        assert size - max(strides) >= overlap - 1, "neighbours share the overlap, to a pixel's rounding"
    assert _spans(512, 128, 16) == ([0, 99, 198, 297, 396], 116)  # 580 px computed; a fixed stride of 112: 640
    assert _spans(20, 32, 8) == ([0], 20) and _spans(32, 32, 8) == ([0], 32)
    ramp = _ramp(16, 4)
    assert ramp.min() > 0 and ramp.max() == 1 and torch.equal(ramp, ramp.flip(0))


@pytest.mark.parametrize("overlap", [32, 40])
def test_overlap_not_smaller_than_tile_raises(generator, overlap):
    with pytest.raises(ValueError, match="overlap"):
        upscale_tensor(generator, _lr(8, 8), tile=32, overlap=overlap)


def test_upscale_image_returns_uint8_at_the_scale_with_tiles(generator):
    rng = np.random.default_rng(0)
    lr = rng.integers(0, 256, size=(21, 17, 3), dtype=np.uint8)
    out = upscale_image(generator, lr, tile=16, overlap=4)
    assert out.dtype == np.uint8 and out.shape == (42, 34, 3)
    tensor = torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255
    expected = (upscale_tensor(generator, tensor, 16, 4)[0] * 255).round().byte().permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(out, expected)
    # The residual network starts near bicubic: the output resembles a 2x enlargement of the input.
    assert np.abs(out[::2, ::2].astype(int) - lr.astype(int)).mean() < 60


def _one_canvas(generator, lr, tile, overlap):
    """The blend computed the plain way, on one float canvas of the whole SR image."""
    scale = generator.scale
    (tops, h), (lefts, w) = _spans(lr.shape[2], tile, overlap), _spans(lr.shape[3], tile, overlap)
    weight = _ramp(h * scale, overlap * scale)[:, None] * _ramp(w * scale, overlap * scale)[None, :]
    out = torch.zeros(3, lr.shape[2] * scale, lr.shape[3] * scale)
    total = torch.zeros(1, lr.shape[2] * scale, lr.shape[3] * scale)
    with torch.no_grad():
        for top in tops:
            for left in lefts:
                sr = fold_batch_norms(generator)(lr[:, :, top:top + h, left:left + w])[0]
                out[:, top * scale:(top + h) * scale, left * scale:(left + w) * scale] += sr * weight
                total[:, top * scale:(top + h) * scale, left * scale:(left + w) * scale] += weight
    return out.div_(total).clamp_(0, 1)


@pytest.mark.parametrize("batch", [1, 2, 7])
def test_bands_of_rows_come_top_to_bottom_and_blend_as_one_canvas(generator, batch):
    """Rows are handed out as soon as no later tile reaches them, also when a batch of tiles spans tile rows."""
    lr = _lr(45, 30)
    bands = list(blended_rows(generator, lr, tile=16, overlap=4, batch=batch))
    assert len(bands) > 1
    assert [top for top, _ in bands] == list(np.cumsum([0] + [rows.shape[1] for _, rows in bands[:-1]]))
    joined = torch.cat([rows for _, rows in bands], dim=1)
    torch.testing.assert_close(joined, _one_canvas(generator, lr, 16, 4), atol=2e-6, rtol=0)


def test_a_large_image_holds_its_8_bit_output_and_a_band_not_a_float_copy():
    """Peak memory of upscaling an 800x600 photo x4 in 64-px tiles with a network of almost no activations: the
    output's 3 bytes a pixel plus a band of tiles, not the 12 bytes a pixel of a float canvas (and its copies)."""
    script = """
import resource, numpy as np
from srgan.inference import upscale_image
from srgan.models.generator import Generator
generator = Generator(scale=4, blocks=0, channels=4, upsample="nearest").eval()
image = np.zeros((600, 800, 3), np.uint8)
upscale_image(generator, image[:100, :100], tile=64, overlap=16)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = upscale_image(generator, image, tile=64, overlap=16)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 / (out.shape[0] * out.shape[1]))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert float(result.stdout) < 16, f"{float(result.stdout):.1f} bytes a pixel of SR output"
