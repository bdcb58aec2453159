"""Normalisation choices shared by G and D: BatchNorm, SpectralNorm (on the conv weights) or none."""

from __future__ import annotations

import torch
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


def exact_spectral_vectors(state: dict[str, torch.Tensor]) -> None:
    """Set, in a state dict, each spectrally normalised weight's u and v to its top singular vectors (an SVD).
    The weight is divided by u.W v; training keeps u and v close by power iteration, but an average of two models'
    (a blend, a moving average) is no singular vector of the averaged W, and would scale it wrongly."""
    for key in [key for key in state if key.endswith(".parametrizations.weight.original")]:
        vectors = key.removesuffix("original") + "0."
        if vectors + "_u" in state:
            u, _, vh = torch.linalg.svd(state[key].flatten(1).double(), full_matrices=False)  # spectral_norm's dim 0
            state[vectors + "_u"] = u[:, 0].to(state[vectors + "_u"].dtype)
            state[vectors + "_v"] = vh[0].to(state[vectors + "_v"].dtype)
