"""Tests for srgan.losses: pixel and VGG content losses, the adversarial losses, the VGG fallback and LDL's
artifact term."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torchvision.models import vgg19

from srgan.losses import (
    VGG_FEATURE_SCALE,
    ContentLoss,
    VGGFeatures,
    artifact_loss,
    artifact_map,
    content_weights_for,
    discriminator_loss,
    generator_adversarial_loss,
    local_variance,
    r1_penalty,
)


def test_the_training_stages_import_torchvision_only_to_build_vgg19():
    """Importing torchvision costs every GAN and unsupervised run time, though the offline default never has VGG19:
    only building the trunk imports it (the tests below build it)."""
    code = ("import sys, srgan.stages.train_gan, srgan.stages.train_unsupervised\n"
            "assert 'torchvision' not in sys.modules, 'importing the stages imported torchvision'\n")
    source = Path(__file__).resolve().parents[1] / "src"
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(source)},
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def vgg_state():
    torch.manual_seed(0)
    return vgg19(weights=None).state_dict()  # random weights: the structure is what is under test


@pytest.fixture(scope="module")
def vgg(vgg_state):
    return VGGFeatures(vgg_state, ["vgg22", "vgg54"])


def _images(seed=0, size=16):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, size, size, generator=generator), torch.rand(1, 3, size, size, generator=generator)


def test_an_mse_only_content_loss_is_the_weighted_mse():
    sr, hr = _images()
    loss = ContentLoss({"mse": 0.7, "vgg54": 0.0})
    total, parts = loss(sr, hr)
    assert set(parts) == {"mse"}
    torch.testing.assert_close(total, 0.7 * F.mse_loss(sr, hr))
    torch.testing.assert_close(parts["mse"], F.mse_loss(sr, hr))
    assert total.item() > 0


def test_content_loss_is_zero_for_identical_images(vgg):
    sr, _ = _images()
    total, parts = ContentLoss({"mse": 1.0, "vgg22": 0.5}, vgg)(sr, sr.clone())
    assert total.item() == 0.0
    assert set(parts) == {"mse", "vgg22"}


def test_content_loss_vgg_term_is_weighted_feature_mse(vgg):
    sr, hr = _images(1)
    total, parts = ContentLoss({"mse": 0.0, "vgg54": 0.006}, vgg)(sr, hr)
    assert set(parts) == {"vgg54"}
    expected = F.mse_loss(vgg(sr)["vgg54"], vgg(hr)["vgg54"])
    torch.testing.assert_close(parts["vgg54"], expected)
    torch.testing.assert_close(total, 0.006 * expected)


def test_content_loss_gradient_reaches_sr_only(vgg):
    sr, hr = _images(2)
    sr.requires_grad_(True)
    total, _ = ContentLoss({"mse": 1.0, "vgg22": 1.0}, vgg)(sr, hr)
    total.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert all(p.grad is None for p in vgg.parameters())


def test_content_loss_vgg_term_without_network_raises():
    with pytest.raises(ValueError, match="VGG"):
        ContentLoss({"vgg54": 1.0})


def test_vgg_features_layers_and_channels(vgg):
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        features = vgg(image)
    assert set(features) == {"vgg22", "vgg54"}
    assert features["vgg22"].shape == (1, 128, 16, 16)  # relu2_2: after one pooling
    assert features["vgg54"].shape == (1, 512, 2, 2)  # relu5_4: after four poolings
    # relu2_2 is index 8 of torchvision's vgg19().features, on ImageNet-normalised input, scaled by 1/12.75.
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = vgg.trunk[:9]((image - mean) / std) * VGG_FEATURE_SCALE
    torch.testing.assert_close(features["vgg22"], expected)
    assert (features["vgg22"] >= 0).all()  # taken after a ReLU


def test_vgg_features_loads_the_given_weights(vgg, vgg_state):
    torch.testing.assert_close(vgg.trunk[0].weight, vgg_state["features.0.weight"], rtol=0, atol=0)
    torch.testing.assert_close(vgg.trunk[34].weight, vgg_state["features.34.weight"], rtol=0, atol=0)
    assert len(vgg.trunk) == 36  # nothing past relu5_4


def test_vgg_features_frozen_and_always_eval(vgg):
    assert not any(p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training
    assert not any(m.training for m in vgg.modules())
    vgg.train(True)
    assert not vgg.trunk.training


def test_content_weights_when_vgg_available():
    requested = {"mse": 0.0, "vgg54": 0.006}
    used, note = content_weights_for(requested, True)
    assert used == requested and used is not requested
    assert note is None


def test_content_weights_fall_back_to_mse():
    used, note = content_weights_for({"mse": 0.5, "vgg22": 0.25, "vgg54": 0.006}, False, reason="no network")
    assert used == {"mse": 0.756, "vgg22": 0.0, "vgg54": 0.0}
    assert "FALLBACK" in note and "no network" in note and "vgg54" in note


def test_content_weights_without_vgg_terms_need_no_fallback():
    used, note = content_weights_for({"mse": 1.0, "vgg54": 0.0}, False, reason="offline")
    assert used == {"mse": 1.0, "vgg54": 0.0}
    assert note is None


def _bce(logit: float, target: float) -> float:
    p = 1 / (1 + math.exp(-logit))
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


def test_discriminator_loss_with_label_smoothing_by_hand():
    real = torch.tensor([2.0, -0.5, 0.3], dtype=torch.float64)
    fake = torch.tensor([-1.0, 0.7], dtype=torch.float64)
    expected = (sum(_bce(x, 0.9) for x in real.tolist()) / 3
                + sum(_bce(x, 0.0) for x in fake.tolist()) / 2)
    assert discriminator_loss(real, fake, real_label=0.9).item() == pytest.approx(expected, abs=1e-12)
    plain = sum(_bce(x, 1.0) for x in real.tolist()) / 3 + sum(_bce(x, 0.0) for x in fake.tolist()) / 2
    assert discriminator_loss(real, fake).item() == pytest.approx(plain, abs=1e-12)
    assert plain != pytest.approx(expected, abs=1e-6)


def test_generator_adversarial_loss_is_softplus_of_minus_logit():
    logits = torch.tensor([3.0, -2.0, 0.0, 0.25], dtype=torch.float64)
    expected = F.softplus(-logits).mean()
    torch.testing.assert_close(generator_adversarial_loss(logits), expected)
    # -log(sigmoid(x)) by hand
    by_hand = sum(-math.log(1 / (1 + math.exp(-x))) for x in logits.tolist()) / 4
    assert generator_adversarial_loss(logits).item() == pytest.approx(by_hand, abs=1e-12)


def test_r1_penalty_is_the_squared_gradient_norm_of_d_at_the_reals():
    # A linear D, D(x) = <w, x>, has the gradient w at every image: the penalty is |w|^2 whatever the batch.
    weight = torch.randn(3, 4, 4, requires_grad=True)
    reals = torch.rand(5, 3, 4, 4, requires_grad=True)
    logits = (reals * weight).flatten(1).sum(1)
    penalty = r1_penalty(logits, reals)
    assert penalty.item() == pytest.approx(weight.detach().pow(2).sum().item(), rel=1e-6)
    # The graph is kept, so D learns from the penalty: d|w|^2/dw = 2w.
    (gradient,) = torch.autograd.grad(penalty, weight)
    assert torch.allclose(gradient, 2 * weight.detach())


def test_local_variance_is_the_unbiased_variance_of_each_reflected_window():
    image = torch.rand(2, 3, 9, 11, dtype=torch.float64)
    windows = F.unfold(F.pad(image, (3, 3, 3, 3), mode="reflect"), 7).view(2, 3, 49, 9, 11)
    torch.testing.assert_close(local_variance(image, 7), windows.var(dim=2))


def _noisy_half(noise: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """HR of smooth ramps, and an SR that is HR plus constant-free noise on its left half only."""
    gt = torch.linspace(0, 1, 32).repeat(2, 3, 32, 1)
    noisy = gt.clone()
    noisy[..., :16] += noise * torch.randn(2, 3, 32, 16, generator=torch.Generator().manual_seed(0))
    return noisy, gt


def test_the_artifact_map_marks_noisy_error_and_leaves_a_smooth_offset_alone():
    sr, gt = _noisy_half()
    shifted = gt + 0.1  # wrong everywhere by the same amount: no artifact, only a colour error
    weight = artifact_map(sr, gt, reference=gt)  # a perfect reference leaves no pixel out
    assert weight.shape == (2, 1, 32, 32) and not weight.requires_grad
    assert weight[..., :12].min() > 10 * weight[..., 20:].max()
    assert artifact_map(shifted, gt, reference=gt).abs().max() < 1e-6


def test_the_artifact_map_leaves_out_pixels_where_sr_is_nearer_hr_than_the_reference():
    sr, gt = _noisy_half()
    error = (gt - sr).abs().sum(1, keepdim=True)
    everywhere = local_variance(error, 7) * error.var(dim=(1, 2, 3), keepdim=True) ** 0.2
    torch.testing.assert_close(artifact_map(sr, gt, reference=gt), everywhere)  # a perfect reference: none left out
    torch.testing.assert_close(artifact_map(sr, gt, reference=sr), everywhere)  # as good as the reference: kept
    worse = gt + 2 * (sr - gt)  # the reference errs twice as much, at every pixel
    nearer = error < (gt - worse).abs().sum(1, keepdim=True)
    assert nearer[..., :16].all()
    assert torch.all(artifact_map(sr, gt, reference=worse)[nearer] == 0)


def test_the_artifact_loss_is_weighted_l1_whose_gradient_reaches_only_marked_pixels():
    sr, gt = _noisy_half()
    reference = gt + 0.15 * torch.randn_like(gt)
    sr.requires_grad_(True)
    loss = artifact_loss(sr, gt, reference)
    weight = artifact_map(sr.detach(), gt, reference)
    assert loss.item() == pytest.approx(F.l1_loss(weight * sr.detach(), weight * gt).item(), rel=1e-6)
    (gradient,) = torch.autograd.grad(loss, sr)
    unmarked = (weight == 0).expand_as(gradient)
    assert unmarked.any() and torch.all(gradient[unmarked] == 0)
    assert gradient[~unmarked].abs().gt(0).any()
