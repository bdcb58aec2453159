"""One source of defaults: config.py's defaults are the paper's recipe, params.yaml the offline laptop default, and
every value where they differ is listed in DIFFERENCES with its reason (params.yaml's comment beside it says so too)."""

from pathlib import Path

import pytest
from pydantic import BaseModel

from srgan.config import SECTIONS, load_params, read_yaml

PROJECT = Path(__file__).resolve().parents[1]
CPU_RUN = "a run of minutes on a laptop CPU"
BOOKKEEPING = "logged, checkpointed and validated often enough to draw the curves of a short run"
# params.yaml key: why it differs from config.py's default (the paper's value). Keep each reason true.
DIFFERENCES = {
    # the networks: small enough for the CPU
    "model.generator.blocks": f"8 instead of the paper's 16: {CPU_RUN}",
    "model.generator.channels": f"32 instead of the paper's 64: {CPU_RUN}",
    "model.generator.bicubic_skip": "learning the residual over bicubic beats bicubic within minutes (README)",
    "model.generator.upsample": "resize + conv leaves no checkerboard under the GAN on a short run",
    "model.discriminator.channels": f"32 instead of the paper's 64: {CPU_RUN}",
    "model.discriminator.dense": f"256 instead of the paper's 1024: {CPU_RUN}",
    # pretraining: converge in 2000 steps instead of 10^6
    "pretrain.crop_size": "64-px sub-crops: 2000 steps of them cost about half of 1500 on 96 px (README, measured)",
    "pretrain.lr": "1e-3 instead of 1e-4: a 2000-step run must converge fast",
    "pretrain.betas": "0.99 adapts faster in a short run (+0.2 dB here)",
    "pretrain.lr_decay.at": "one decay before the end of the 2000 steps",
    "pretrain.lr_decay.factor": "one decay before the end of the 2000 steps",
    "pretrain.log_every": BOOKKEEPING,
    "pretrain.validate_every": BOOKKEEPING,
    # the GAN without ImageNet weights: texture from D's features, colours kept by the low-pass term (README)
    "gan.content.vgg54": "halved: feature matching and the low-pass term carry the content offline",
    "gan.content.feature_matching": "texture without the VGG19 weights, which an offline run may lack",
    "gan.content.low_pass": "keeps the LR image's colours and shapes while the GAN adds detail",
    "gan.discriminator_input": "D judges only the detail the LR image cannot hold: no colour drift on a short run",
    "gan.adv_weight": "5e-3 instead of 1e-3: 200 steps must move G visibly (README, the GAN you can see)",
    "gan.lr_g": "2e-4 instead of 1e-4: 200 steps must move G visibly (README, is the discriminator discriminating?)",
    "gan.discriminator_luma": "G gains nothing from the colour fringes a short run paints to please a BatchNorm D",
    "gan.adv_ramp.schedule": "a ramp spares the pretrained G the full adversarial push at step 1",
    "gan.adv_ramp.steps": "a ramp spares the pretrained G the full adversarial push at step 1",
    "gan.d_warmup_steps": "D catches up with the pretrained G before G is pushed",
    "gan.real_label": "one-sided label smoothing keeps the small D from saturating",
    "gan.log_every": BOOKKEEPING,
    "gan.checkpoint_every": BOOKKEEPING,
    "gan.validate_every": BOOKKEEPING,
    # unsupervised: not the paper's; its defaults are the balanced weights, params.yaml the CPU-tested ones
    "unsupervised.adv_weight": "with 1e-3 and consistency 1, 100 CPU steps drift far below bicubic",
    "unsupervised.consistency_weight": "with 1e-3 and consistency 1, 100 CPU steps drift far below bicubic",
    "unsupervised.log_every": BOOKKEEPING,
    "unsupervised.checkpoint_every": BOOKKEEPING,
    "unsupervised.validate_every": BOOKKEEPING,
}


def leaves(value, prefix: str) -> dict[str, object]:
    """{dotted key: value} of every leaf of a section (a non-empty mapping is a branch)."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, dict) and value:
        return {key: leaf for name, item in value.items() for key, leaf in leaves(item, f"{prefix}.{name}").items()}
    return {prefix: value}


def defaults_of(name: str, given: BaseModel) -> BaseModel:
    """A section's defaults; fields without one (steps) take params.yaml's value."""
    kind = SECTIONS[name]
    required = {key: getattr(given, key) for key, field in kind.model_fields.items() if field.is_required()}
    return kind(**required)


def differences() -> dict[str, tuple[object, object]]:
    """{key: (params.yaml's value, config.py's default)} where they differ."""
    params = load_params(PROJECT / "params.yaml", *SECTIONS)
    found = {}
    for name, kind in SECTIONS.items():
        if kind is int:  # seed: no default
            continue
        ours, default = leaves(params[name], name), leaves(defaults_of(name, params[name]), name)
        found.update({key: (ours[key], default[key]) for key in ours if repr(ours[key]) != repr(default[key])})
    return found


def test_params_yaml_differs_from_the_defaults_only_where_a_reason_is_listed():
    unexplained = {key: f"params.yaml {ours!r}, default {default!r}" for key, (ours, default) in differences().items()
                   if key not in DIFFERENCES}
    assert unexplained == {}, "give each a reason in DIFFERENCES (and params.yaml), or make the two equal"


def test_every_listed_reason_is_still_a_difference():
    assert sorted(set(DIFFERENCES) - set(differences())) == []


@pytest.mark.parametrize("section", [name for name, kind in SECTIONS.items() if kind is not int])
def test_params_yaml_gives_every_key(section):
    """Every default is visible in params.yaml: a key left out would silently take the paper's value."""
    raw = read_yaml(PROJECT / "params.yaml")[section]
    params = load_params(PROJECT / "params.yaml", section)[section]
    assert set(leaves(raw, section)) >= {key for key in leaves(params, section) if not key.startswith("data.eval.")}
