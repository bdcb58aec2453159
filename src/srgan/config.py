"""Typed params: one class per params.yaml section, unknown keys rejected, errors naming the key."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from srgan.errors import SrganError

SCALES = (2, 4, 8)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


PositiveInt = Field(gt=0)
Betas = tuple[float, float]


class DataParams(Section):
    train: str = "skimage"
    eval: list[str] = ["skimage"]
    scale: int = 4
    hr_size: int = 128
    crops_per_image: int = Field(64, gt=0)
    augment: Literal["dihedral", "flips", "none"] = "dihedral"
    max_images: int = Field(0, ge=0)
    archives: dict[str, str] = {}
    fetch_weights: bool = True

    @field_validator("scale")
    @classmethod
    def _supported_scale(cls, scale: int) -> int:
        if scale not in SCALES:
            raise ValueError(f"scale {scale} is not supported; use one of {', '.join(map(str, SCALES))}")
        return scale

    @field_validator("hr_size")
    @classmethod
    def _hr_size_fits_scale(cls, hr_size: int, info) -> int:
        scale = info.data.get("scale")
        if scale and hr_size % scale:
            raise ValueError(f"hr_size {hr_size} is not divisible by scale {scale}; "
                             f"use a multiple of {scale}, e.g. {hr_size - hr_size % scale or scale}")
        # The discriminator halves the crop four times.
        if hr_size % 16:
            raise ValueError(f"hr_size {hr_size} must be a multiple of 16 (the discriminator halves it four times)")
        return hr_size

    @field_validator("eval")
    @classmethod
    def _eval_not_empty(cls, sources: list[str]) -> list[str]:
        if not sources:
            raise ValueError("list at least one evaluation source, e.g. [skimage]")
        return sources


Norm = Literal["batch", "spectral", "none"]


class GeneratorParams(Section):
    blocks: int = Field(16, ge=0)
    channels: int = Field(64, gt=0)
    norm: Norm = "batch"
    bicubic_skip: bool = False


class DiscriminatorParams(Section):
    channels: int = Field(64, gt=0)
    norm: Norm = "batch"
    dense: int = Field(1024, gt=0)


class ModelParams(Section):
    generator: GeneratorParams = GeneratorParams()
    discriminator: DiscriminatorParams = DiscriminatorParams()


Precision = Literal["fp32", "bf16", "fp16"]


class Progressive(Section):
    """Progressive growing: steps of each phase before the last (x2, then x4 for an x8 model), and fade-in."""
    phase_steps: list[int] = []
    fade_steps: int = Field(0, ge=0)

    @field_validator("phase_steps")
    @classmethod
    def _positive(cls, steps: list[int]) -> list[int]:
        if any(step <= 0 for step in steps):
            raise ValueError("every phase needs at least one step")
        return steps


class TrainParams(Section):
    steps: int = PositiveInt
    validate_every: int = Field(0, ge=0)
    validate_images: int = Field(2, gt=0)
    progressive: Progressive = Progressive()
    batch_size: int = Field(16, gt=0)
    precision: Precision = "fp32"
    log_every: int = Field(50, gt=0)
    checkpoint_every: int = Field(200, gt=0)

    @model_validator(mode="after")
    def _phases_fit(self) -> TrainParams:
        if sum(self.progressive.phase_steps) >= self.steps:
            raise ValueError(f"progressive.phase_steps add up to {sum(self.progressive.phase_steps)}, "
                             f"leaving no step of the {self.steps} for the last phase")
        return self


class PretrainParams(TrainParams):
    lr: float = Field(1e-4, gt=0)
    betas: Betas = (0.9, 0.999)


class ContentWeights(Section):
    mse: float = Field(0.0, ge=0)
    vgg22: float = Field(0.0, ge=0)
    vgg54: float = Field(1.0, ge=0)


class AdvRamp(Section):
    """Adversarial weight schedule: constant, or from `start` to gan.adv_weight over `steps` steps."""
    schedule: Literal["constant", "linear", "cosine"] = "constant"
    start: float = Field(0.0, ge=0)
    steps: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _ramp_needs_steps(self) -> AdvRamp:
        if self.schedule != "constant" and self.steps == 0:
            raise ValueError(f"a {self.schedule} ramp needs adv_ramp.steps > 0")
        return self


class Replay(Section):
    """Experience replay for D: a buffer of past fakes, `fraction` of each fake batch drawn from it."""
    size: int = Field(0, ge=0)
    fraction: float = Field(0.5, ge=0, le=1)


class LrDecay(Section):
    """Step decay of both learning rates: multiplied by `factor` at each step in `at` (paper: [100000], 0.1)."""
    at: list[int] = []
    factor: float = Field(0.1, gt=0, le=1)


class GanParams(TrainParams):
    init_generator: Literal["pretrained", "scratch"] = "pretrained"
    d_warmup_steps: int = Field(0, ge=0)
    content: ContentWeights = ContentWeights()
    adv_weight: float = Field(1e-3, ge=0)
    adv_ramp: AdvRamp = AdvRamp()
    replay: Replay = Replay()
    real_label: float = Field(1.0, gt=0.5, le=1.0)
    d_steps: int = Field(1, ge=1)
    lr_g: float = Field(1e-4, gt=0)
    lr_d: float = Field(1e-4, gt=0)
    betas_g: Betas = (0.9, 0.999)
    betas_d: Betas = (0.9, 0.999)
    lr_decay: LrDecay = LrDecay()

    @model_validator(mode="after")
    def _some_loss(self) -> GanParams:
        if self.adv_weight == 0 and not any(self.content.model_dump().values()):
            raise ValueError("adv_weight and every content weight are 0: the generator would learn nothing")
        return self


class UnsupervisedParams(Section):
    """Training without LR-HR pairs: unpaired HR for D, or measurement-domain (no HR at all)."""
    mode: Literal["unpaired", "measurement"] = "unpaired"
    steps: int = PositiveInt
    batch_size: int = Field(16, gt=0)
    adv_weight: float = Field(1e-3, ge=0)
    consistency_weight: float = Field(1.0, ge=0)
    lr_g: float = Field(1e-4, gt=0)
    lr_d: float = Field(1e-4, gt=0)
    precision: Precision = "fp32"
    log_every: int = Field(50, gt=0)
    checkpoint_every: int = Field(200, gt=0)
    validate_every: int = Field(0, ge=0)
    validate_images: int = Field(2, gt=0)


class EvaluateParams(Section):
    lpips: Literal["auto", "off"] = "auto"
    samples: int = Field(3, ge=0)
    tile: int = Field(128, ge=16)


class ReportParams(Section):
    images: list[str] = []
    dpi: int = Field(200, ge=150)
    zoom: float = Field(0.25, gt=0, le=1.0)


SECTIONS: dict[str, type[BaseModel] | type] = {
    "seed": int,
    "device": str,
    "data": DataParams,
    "model": ModelParams,
    "pretrain": PretrainParams,
    "gan": GanParams,
    "unsupervised": UnsupervisedParams,
    "evaluate": EvaluateParams,
    "report": ReportParams,
}


def read_yaml(path: Path) -> dict:
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise SrganError(f"{path}: params file not found; run from the project root") from None
    except yaml.YAMLError as err:
        raise SrganError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise SrganError(f"{path}: expected a mapping of sections ({', '.join(SECTIONS)})")
    return raw


def load_params(path: Path | str, *sections: str) -> dict:
    """Validate the named sections of a params file; return {section: typed value}."""
    path = Path(path)
    raw = read_yaml(path)
    for key in raw:
        if key not in SECTIONS:
            raise SrganError(f"{path}: unknown key '{key}'{_did_you_mean(key, SECTIONS)}")
    return {name: parse_section(name, raw.get(name), path) for name in sections}


def parse_section(name: str, value, path: Path | str = "params.yaml"):
    if name not in SECTIONS:
        raise KeyError(name)
    if value is None:
        raise SrganError(f"{path}: missing section '{name}'")
    kind = SECTIONS[name]
    if kind is int:
        return _parse_seed(name, value, path)
    if kind is str:
        return _parse_device(name, value, path)
    try:
        return kind.model_validate(value)
    except ValidationError as err:
        raise SrganError(_explain(err, name, kind, path)) from None


def _parse_seed(name: str, value, path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SrganError(f"{path}: {name}: expected a non-negative integer, got {value!r}")
    return value


def _parse_device(name: str, value, path) -> str:
    if not isinstance(value, str) or not (value in ("auto", "cpu") or value.startswith("cuda")):
        raise SrganError(f"{path}: {name}: expected auto, cpu or cuda[:N], got {value!r}")
    return value


def _explain(err: ValidationError, section: str, kind: type[BaseModel], path) -> str:
    first = err.errors()[0]
    loc = [str(part) for part in first["loc"]]
    key = ".".join([section, *loc])
    if first["type"] == "extra_forbidden":
        known = _known_keys(kind, loc[:-1])
        return f"{path}: unknown key '{key}'{_did_you_mean(loc[-1], known)} (known: {', '.join(known)})"
    if first["type"] == "missing":
        return f"{path}: missing key '{key}'"
    message = first["msg"].removeprefix("Value error, ")
    return f"{path}: {key}: {message} (got {first.get('input')!r})"


def _known_keys(kind: type[BaseModel], loc: list[str]) -> list[str]:
    for part in loc:
        field = kind.model_fields.get(part)
        if field is None or not isinstance(field.annotation, type) or not issubclass(field.annotation, BaseModel):
            return []
        kind = field.annotation
    return list(kind.model_fields)


def _did_you_mean(key: str, known) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""
