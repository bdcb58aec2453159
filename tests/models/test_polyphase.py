"""Tests for srgan.models.polyphase: the same conv as nn.Conv2d, forward and backward, on any image size."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from srgan.models.generator import Generator
from srgan.models.polyphase import PolyphaseConv2d, _phase_map, polyphase_conv2d


@pytest.mark.parametrize("kernel", [1, 3, 5, 9])
@pytest.mark.parametrize("size", [(12, 12), (13, 10), (7, 9), (1, 1)])
def test_the_polyphase_conv_is_the_plain_conv_and_so_are_its_gradients(kernel, size):
    torch.manual_seed(0)
    x = torch.randn(2, 5, *size, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 5, kernel, kernel, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True)
    expected = F.conv2d(x, weight, bias, padding=kernel // 2)
    got = polyphase_conv2d(x, weight, bias)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    upstream = torch.randn_like(expected)
    for a, b in zip(torch.autograd.grad(expected, (x, weight, bias), upstream),
                    torch.autograd.grad(got, (x, weight, bias), upstream)):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-11)


def test_from_its_input_s_phases_it_is_the_plain_conv_of_their_pixel_shuffle_and_so_are_its_gradients():
    torch.manual_seed(0)
    layer = PolyphaseConv2d(5, 3, 9).double()
    phases = torch.randn(2, 20, 6, 7, dtype=torch.float64, requires_grad=True)
    expected = F.conv2d(F.pixel_shuffle(phases, 2), layer.weight, layer.bias, padding=4)
    got = layer.forward_phases(phases)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    upstream = torch.randn_like(expected)
    inputs = (phases, layer.weight, layer.bias)
    for a, b in zip(torch.autograd.grad(expected, inputs, upstream), torch.autograd.grad(got, inputs, upstream)):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-11)


def test_a_channels_last_input_gives_the_same_output_and_no_bias_is_no_bias():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 16, 16).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(3, 8, 9, 9)
    torch.testing.assert_close(polyphase_conv2d(x, weight, None), F.conv2d(x, weight, padding=4), rtol=1e-5,
                               atol=1e-4)


def test_its_parameters_and_state_dict_are_nn_conv2d_s():
    torch.manual_seed(0)
    plain = nn.Conv2d(4, 3, 9, padding=4)
    poly = PolyphaseConv2d(4, 3, 9)
    assert poly.state_dict().keys() == plain.state_dict().keys()
    poly.load_state_dict(plain.state_dict())
    x = torch.randn(1, 4, 11, 6)
    torch.testing.assert_close(poly(x), plain(x), rtol=1e-5, atol=1e-5)


def test_a_spectrally_normalised_polyphase_conv_normalises_the_weight_it_convolves_with():
    torch.manual_seed(0)
    layer = spectral_norm(PolyphaseConv2d(4, 3, 9)).eval()
    x = torch.randn(1, 4, 10, 10)
    torch.testing.assert_close(layer(x), F.conv2d(x, layer.weight, layer.bias, padding=4), rtol=1e-5, atol=1e-5)


def test_an_even_kernel_is_refused():
    with pytest.raises(ValueError, match="odd kernel"):
        PolyphaseConv2d(4, 3, 4)


def test_the_generator_outputs_rgb_through_polyphase_convs():
    generator = Generator(scale=8, blocks=1, channels=8, progressive=True)
    assert all(isinstance(layer, PolyphaseConv2d) for layer in [generator.tail, *generator.side])


@pytest.mark.parametrize("norm", ["batch", "spectral"])
@pytest.mark.parametrize("steps, alpha", [(3, 1.0), (2, 1.0), (3, 0.4)])
def test_the_generator_skipping_the_last_shuffle_is_the_generator_computed_layer_by_layer(norm, steps, alpha):
    """The last upsampling step hands its phases straight to the RGB conv (the shuffle and unshuffle between them
    cancel); computed layer by layer, with every PReLU slope distinct, the output and gradients are the same."""
    torch.manual_seed(0)
    generator = Generator(scale=8, blocks=1, channels=4, norm=norm, progressive=True)
    generator = generator.double().eval()
    for prelu in (module for module in generator.modules() if isinstance(module, nn.PReLU)):
        nn.init.uniform_(prelu.weight, -0.5, 0.5)
    lr = torch.rand(2, 3, 5, 7, dtype=torch.float64)

    def layer_by_layer():
        features = generator.head(lr)
        x = features + generator.body(features)
        for stage in generator.upsample[:steps - 1]:
            x = stage(x)
        rgb = (generator.tail if steps == 3 else generator.side[steps - 1]).double()
        sr = nn.Conv2d.forward(rgb, generator.upsample[steps - 1](x))
        if alpha < 1:
            side = nn.Conv2d.forward(generator.side[steps - 2], x)
            sr = alpha * sr + (1 - alpha) * F.interpolate(side, scale_factor=2, mode="nearest")
        return sr

    expected, got = layer_by_layer(), generator(lr, steps, alpha)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    upstream = torch.randn_like(expected)
    weights = list(generator.parameters())
    for a, b in zip(torch.autograd.grad(expected, weights, upstream, allow_unused=True),
                    torch.autograd.grad(got, weights, upstream, allow_unused=True)):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(b, a, rtol=0, atol=1e-11)


def test_a_conv_first_run_under_inference_mode_still_trains():
    """Its tap indices are cached per kernel size: made under inference_mode (validation, evaluation), they must
    not be inference tensors that autograd refuses."""
    _phase_map.cache_clear()
    weight = torch.randn(3, 4, 7, 7, requires_grad=True)
    with torch.inference_mode():
        polyphase_conv2d(torch.randn(1, 4, 8, 8), weight, None)
    polyphase_conv2d(torch.randn(1, 4, 8, 8), weight, None).sum().backward()
    assert weight.grad is not None
