"""Content losses (pixel MSE or L1, VGG19 features at relu2_2 / relu5_4) and the adversarial losses.

Adversarial losses come in two kinds: the paper's (standard BCE: D says how real an image is) and
the relativistic average one of ESRGAN (Wang et al. 2018: D says how much more real the real images
are than the fakes on average), which gives G gradients from the real images too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Index of the ReLU after conv2_2 and conv5_4 in torchvision's vgg19().features.
VGG_LAYERS = {"vgg22": 8, "vgg54": 35}
PIXEL_TERMS = {"mse": F.mse_loss, "l1": F.l1_loss}
# Ledig et al. rescale VGG features by 1/12.75 so the loss is on the scale of the pixel MSE.
VGG_FEATURE_SCALE = 1 / 12.75
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGFeatures(nn.Module):
    """Frozen VGG19 trunk returning the features at the requested layers for images in [0, 1]."""

    def __init__(self, state_dict: dict, layers: list[str]):
        super().__init__()
        from torchvision.models import vgg19  # here: a stage whose VGG19 is unavailable (the offline default)
        # never needs torchvision, whose import costs every GAN and unsupervised run a few tenths of a second

        network = vgg19(weights=None)
        network.load_state_dict(state_dict)
        last = max(VGG_LAYERS[name] for name in layers)
        self.trunk = network.features[: last + 1].eval().requires_grad_(False)
        self.layers = {VGG_LAYERS[name]: name for name in layers}
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def train(self, mode: bool = True) -> VGGFeatures:
        return super().train(False)  # always in eval mode

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (image - self.mean) / self.std
        features = {}
        for index, layer in enumerate(self.trunk):
            x = layer(x)
            if index in self.layers:
                features[self.layers[index]] = x * VGG_FEATURE_SCALE
        return features


class ContentLoss(nn.Module):
    """Weighted sum of pixel (MSE, L1) and VGG feature MSE terms; zero-weight terms are not computed.

    Call it inside autocast: the VGG trunk then runs in the autocast precision, and every difference
    is taken in float32.
    """

    def __init__(self, weights: dict[str, float], vgg: VGGFeatures | None = None):
        super().__init__()
        self.weights = {name: w for name, w in weights.items() if w > 0 and (name in PIXEL_TERMS or name in VGG_LAYERS)}
        if any(name in VGG_LAYERS for name in self.weights) and vgg is None:
            raise ValueError("VGG content terms need a VGGFeatures network")
        self.vgg = vgg

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        parts = {name: PIXEL_TERMS[name](sr.float(), hr.float()) for name in PIXEL_TERMS if name in self.weights}
        if self.vgg is not None and any(name in VGG_LAYERS for name in self.weights):
            fake = self.vgg(sr)
            with torch.no_grad():
                real = self.vgg(hr)
            for name in fake:
                if name in self.weights:  # the network may return layers this loss does not weight
                    parts[name] = F.mse_loss(fake[name].float(), real[name].float())
        total = sum((self.weights[name] * value for name, value in parts.items()), torch.zeros((), device=sr.device))
        return total, parts


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(x)), the non-saturating form the paper uses."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0) -> torch.Tensor:
    """BCE with real targets at real_label (< 1 for one-sided label smoothing) and fakes at 0."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def r1_penalty(real_logits: torch.Tensor, real_inputs: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): the squared norm of D's gradient at the real images, mean over the batch.
    `real_inputs` must require grad and `real_logits` come from them; the graph is kept so D learns from it."""
    (gradient,) = torch.autograd.grad(real_logits.sum(), real_inputs, create_graph=True)
    return gradient.float().pow(2).flatten(1).sum(1).mean()


def relativistic_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_mean: torch.Tensor,
                                    fake_mean: torch.Tensor, real_label: float = 1.0) -> torch.Tensor:
    """ESRGAN's D loss: real images should look more real than the average fake, fakes less real than the
    average real. `real_mean`, `fake_mean` are the batch means of the logits (global in data-parallel runs)."""
    return discriminator_loss(real_logits - fake_mean, fake_logits - real_mean, real_label)


def relativistic_generator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_mean: torch.Tensor,
                                fake_mean: torch.Tensor) -> torch.Tensor:
    """ESRGAN's G loss: the symmetric target, so G also learns from how D sees the real images."""
    return discriminator_loss(fake_logits - real_mean, real_logits - fake_mean)


def feature_matching_loss(fake_features: list[torch.Tensor], real_features: list[torch.Tensor]) -> torch.Tensor:
    """Mean L1 distance between D's intermediate features of SR and of its HR, over D's stages.

    Feature matching after Salimans et al. (2016), paired as SR allows: G is pulled towards images
    whose discriminator features match those of the ground truth, a perceptual loss that needs no
    ImageNet weights.
    """
    terms = [F.l1_loss(fake.float(), real.detach().float()) for fake, real in zip(fake_features, real_features)]
    return torch.stack(terms).mean()


def local_variance(image: torch.Tensor, window: int) -> torch.Tensor:
    """The unbiased variance of every pixel's window x window neighbourhood, per channel (edges reflected)."""
    pad = window // 2
    padded = F.pad(image, (pad, pad, pad, pad), mode="reflect")
    mean = F.avg_pool2d(padded, window, stride=1)
    mean_of_squares = F.avg_pool2d(padded.square(), window, stride=1)
    count = window * window
    return (mean_of_squares - mean.square()).clamp_min(0) * (count / (count - 1))


def artifact_map(sr: torch.Tensor, gt: torch.Tensor, reference: torch.Tensor, window: int = 7) -> torch.Tensor:
    """Where SR holds artifacts rather than detail, after LDL (Liang et al. 2022, "Details or Artifacts").

    A GAN's artifacts are where its error |HR - SR| (summed over channels) changes sharply from pixel to pixel:
    the map is the local variance of that error over a window, times the error's variance over the whole image
    to the power 1/5 (images that are wrong all over weigh more). Pixels where SR is nearer HR than `reference`
    is (the output of a running average of G, which invents less) are left out: that is detail G got right.
    (N, 1, H, W), no gradient.
    """
    with torch.no_grad():
        error = (gt - sr).abs().sum(1, keepdim=True)
        reference_error = (gt - reference).abs().sum(1, keepdim=True)
        weight = local_variance(error, window) * error.var(dim=(1, 2, 3), keepdim=True).pow(0.2)
        return torch.where(error < reference_error, torch.zeros_like(weight), weight)


def artifact_loss(sr: torch.Tensor, gt: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """LDL's term: L1 between SR and HR weighted by the artifact map, so G is pulled back only where it
    paints artifacts and keeps the texture it gets right."""
    sr, gt = sr.float(), gt.float()
    weight = artifact_map(sr, gt, reference.float())
    return F.l1_loss(weight * sr, weight * gt)


def content_weights_for(requested: dict[str, float], vgg_available: bool, reason: str = "") -> tuple[dict, str | None]:
    """The content weights to use, and a note when VGG terms had to fall back to pixel MSE.

    Without pretrained VGG19 weights, every VGG term becomes a pixel-MSE term of the same weight:
    SRGAN-MSE, one of the paper's own variants, rather than a perceptual loss on random features.
    """
    vgg_terms = {name: w for name, w in requested.items() if name in VGG_LAYERS and w > 0}
    if vgg_available or not vgg_terms:
        return dict(requested), None
    used = {name: (0.0 if name in VGG_LAYERS else w) for name, w in requested.items()}
    used["mse"] = used.get("mse", 0.0) + sum(vgg_terms.values())
    note = (f"FALLBACK: content loss {', '.join(vgg_terms)} requested but VGG19 weights are unavailable "
            f"({reason}); trained with pixel MSE instead (SRGAN-MSE)")
    return used, note
