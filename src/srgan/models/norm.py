"""Normalisation choices shared by G and D: BatchNorm, SpectralNorm (on the conv weights) or none."""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from srgan.models.polyphase import PolyphaseConv2d


def conv(in_ch: int, out_ch: int, kernel: int, norm: str, stride: int = 1, bias: bool | None = None,
         polyphase: bool = False) -> nn.Module:
    """A same-padded conv; spectrally normalised when norm == 'spectral'. polyphase: a PolyphaseConv2d (stride 1),
    for the few-output-channel convs to RGB."""
    bias = norm != "batch" if bias is None else bias
    layer = (PolyphaseConv2d(in_ch, out_ch, kernel, bias=bias) if polyphase else
             nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=bias))
    return spectral_norm(layer) if norm == "spectral" else layer


def feature_norm(channels: int, norm: str) -> nn.Module:
    """BatchNorm after a conv when norm == 'batch', identity otherwise."""
    return nn.BatchNorm2d(channels) if norm == "batch" else nn.Identity()


def linear(in_features: int, out_features: int, norm: str) -> nn.Module:
    layer = nn.Linear(in_features, out_features)
    return spectral_norm(layer) if norm == "spectral" else layer
