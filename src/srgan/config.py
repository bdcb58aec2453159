"""Typed params: one class per params.yaml section, unknown keys rejected, errors naming the key.

Every section is validated whenever any stage starts, so a typo in `gan` stops `pretrain` before it
spends an hour. params.yaml is read as DVC reads it (YAML 1.2: `off` and `yes` are words, `1e-4` a number), so a
stage runs with the values dvc.lock records. Integers and booleans are strict (`steps: "10"` or `steps: true` is an
error); floats take integers and numbers written as strings (`lr: "1e-4"`).

The defaults here are the paper's recipe (Ledig et al. 2017, SRGAN) wherever the paper sets a value, and this
project's own choice elsewhere. params.yaml is the offline laptop default: where it differs from a default here,
its comment says why, and tests/test_defaults.py lists each such key with its reason (it fails on any other).
Training length (`steps`) has no default: params.yaml must give it.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Literal, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from srgan.errors import SrganError

SCALES = (2, 4, 8)
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")  # the device names execution.device and --device take
MAX_BATCH = 4096
ENDPOINT = re.compile(r"[A-Za-z0-9.\-]+:(\d{1,5})")  # host:port
SET_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # it names files (at most 255 bytes a name): 64 leaves room


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _number(value):
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError("expected a number") from None
    return value


Float = Annotated[float, BeforeValidator(_number)]
Int = StrictInt
Bool = StrictBool
Beta = Annotated[Float, Field(ge=0, lt=1)]
Betas = tuple[Beta, Beta]
Steps = Annotated[Int, Field(gt=0, le=10**9)]
Every = Annotated[Int, Field(gt=0)]
BatchSize = Annotated[Int, Field(gt=0, le=MAX_BATCH)]
MAX_WORKERS = 256


def _workers(value):
    if value == "auto" or (type(value) is int and 0 <= value <= MAX_WORKERS):
        return value
    raise ValueError(f"expected auto or a number of worker processes from 0 to {MAX_WORKERS}")


class ExecutionParams(Section):
    """How fast, never what: no stage depends on these, so changing them reruns nothing."""
    device: str = "auto"
    nproc_per_node: Int = Field(1, ge=1, le=64)
    nnodes: Int = Field(1, ge=1)
    rdzv_endpoint: str = ""
    compile: Bool = False
    degradation_workers: Annotated[int | Literal["auto"], PlainValidator(_workers)] = "auto"

    @field_validator("device")
    @classmethod
    def _known_device(cls, device: str) -> str:
        if not DEVICE_PATTERN.fullmatch(device):
            raise ValueError("expected auto, cpu, cuda or cuda:N")
        return device

    @model_validator(mode="after")
    def _multinode_needs_endpoint(self) -> ExecutionParams:
        endpoint = ENDPOINT.fullmatch(self.rdzv_endpoint)
        if self.nnodes > 1 and not (endpoint and 1 <= int(endpoint[1]) <= 65535):
            raise ValueError(f"nnodes {self.nnodes} needs rdzv_endpoint as host:port (port 1-65535) of the first "
                             f"machine, got {self.rdzv_endpoint!r}")
        return self

    @model_validator(mode="after")
    def _one_gpu_per_process(self) -> ExecutionParams:
        if self.nproc_per_node > 1 and ":" in self.device:
            raise ValueError(f"device {self.device} would put all {self.nproc_per_node} processes (nproc_per_node) "
                             "on one GPU; use auto or cuda, which give process N of a machine its GPU N")
        return self

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes


class ValidationSet(Section):
    """Held-out images for validation during training: the first `images` of a source's eval split."""
    source: str = "skimage"
    images: Int = Field(2, gt=0, le=100)


Probability = Annotated[Float, Field(ge=0, le=1)]


def _range(low: float, high: float, kind=Float):
    """A [min, max] pair inside [low, high]."""
    def check(pair: tuple[float, float]) -> tuple[float, float]:
        if not low <= pair[0] <= pair[1] <= high:
            raise ValueError(f"expected [min, max] with {low} <= min <= max <= {high}")
        return pair
    return Annotated[tuple[kind, kind], AfterValidator(check)]


def _holds_an_odd(pair: tuple[int, int]) -> tuple[int, int]:
    if pair[0] == pair[1] and pair[0] % 2 == 0:
        raise ValueError(f"kernel sides are odd (a kernel has a centre): [{pair[0]}, {pair[1]}] holds none")
    return pair


class Probabilities(Section):
    """Weights of exclusive choices; they are normalised, so only their ratios matter."""

    @model_validator(mode="after")
    def _some_weight(self) -> Probabilities:
        if not any(self.model_dump().values()):
            raise ValueError("every weight is 0; give at least one a positive weight")
        return self


class KernelProbs(Probabilities):
    """How often each blur kernel is drawn (Real-ESRGAN: plateau kernels too)."""
    iso: Probability = 0.45
    aniso: Probability = 0.25
    generalized_iso: Probability = 0.12
    generalized_aniso: Probability = 0.03
    plateau_iso: Probability = 0.12
    plateau_aniso: Probability = 0.03


class ResizeProbs(Probabilities):
    up: Probability = 0.2
    down: Probability = 0.7
    keep: Probability = 0.1


class DegradationOrder(Section):
    """One order of Real-ESRGAN's degradation: blur, random resize, noise, JPEG.

    Defaults are the first order's published values (BasicSR train_realesrnet_x4plus.yml)."""
    blur_prob: Probability = 1.0
    kernel_size: Annotated[_range(3, 41, Int), AfterValidator(_holds_an_odd)] = (7, 21)   # odd sides drawn from it
    kernel_probs: KernelProbs = KernelProbs()
    sinc_prob: Probability = 0.1
    blur_sigma: _range(0.01, 20) = (0.2, 3.0)
    betag_range: _range(0.1, 10) = (0.5, 4.0)
    betap_range: _range(0.1, 10) = (1.0, 2.0)
    resize_probs: ResizeProbs = ResizeProbs()
    resize_range: _range(0.05, 4) = (0.15, 1.5)
    gaussian_noise_prob: Probability = 0.5
    noise_range: _range(0, 255) = (1.0, 30.0)
    poisson_scale_range: _range(0, 20) = (0.05, 3.0)
    gray_noise_prob: Probability = 0.4
    jpeg_range: _range(1, 100, Int) = (30, 95)


SECOND_ORDER = DegradationOrder(
    blur_prob=0.8, blur_sigma=(0.2, 1.5), resize_probs=ResizeProbs(up=0.3, down=0.4, keep=0.3),
    resize_range=(0.3, 1.2), noise_range=(1.0, 25.0), poisson_scale_range=(0.05, 2.5))


def _yaml_kind(value) -> str:
    return "null" if value is None else "true/false" if isinstance(value, bool) else "a number"


def _second_order_defaults(given):
    """A partly given second order takes the second order's published values for the keys it leaves out."""
    return _merged(SECOND_ORDER.model_dump(), given) if isinstance(given, dict) else given


def _merged(defaults: dict, given: dict) -> dict:
    return {**defaults, **{key: _merged(defaults[key], value)
                           if isinstance(value, dict) and isinstance(defaults.get(key), dict) else value
                           for key, value in given.items()}}


class RealisticDegradation(Section):
    """Real-ESRGAN's two-order degradation (Wang et al. 2021) with its published ranges.

    Training draws it afresh for every sample of every step, from the HR crop with `margin` HR pixels of its
    image around it (this project's choice: blur kernels and resizes then never see the crop's edge; 0: none)."""
    first: DegradationOrder = DegradationOrder()
    second: Annotated[DegradationOrder, BeforeValidator(_second_order_defaults)] = SECOND_ORDER
    final_sinc_prob: Probability = 0.8
    margin: Int = Field(32, ge=0, le=512)


Degradation = Literal["bicubic", "realistic"]


class EvalSet(Section):
    """An evaluation set with its own degradation; LR is made once, from `seed`. A plain string is its source.
    `draws` realistic LR images of every HR image make a mean that one lucky draw moves less."""
    source: str
    degradation: Degradation = "bicubic"
    seed: Int = Field(0, ge=0, lt=2**32)
    draws: Int = Field(1, ge=1, le=100)

    @model_validator(mode="after")
    def _draws_need_a_random_degradation(self) -> EvalSet:
        if self.draws > 1 and self.degradation != "realistic":
            raise ValueError(f"draws: {self.draws} draws of {self.degradation} LR are {self.draws} identical "
                             "copies; draws needs degradation: realistic")
        return self


def _source_alone(value):
    return {"source": value} if isinstance(value, str) else value


class DataParams(Section):
    train: str = "skimage"
    validation: ValidationSet = ValidationSet()
    eval: dict[str, Annotated[EvalSet, BeforeValidator(_source_alone)]] = {"skimage": EvalSet(source="skimage")}
    degradation: Degradation = "bicubic"
    realistic: RealisticDegradation = RealisticDegradation()
    scale: Int = 4
    hr_size: Int = Field(96, gt=0, le=4096)
    crops_per_image: Int = Field(96, gt=0, le=100_000)
    augment: Literal["dihedral", "flips", "none"] = "dihedral"
    max_images: Int = Field(0, ge=0)
    max_pixels: Int = Field(178_956_970, ge=0)
    archives: dict[str, str] = {}
    fetch_weights: Bool = True

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

    @field_validator("eval", mode="before")
    @classmethod
    def _names_are_words(cls, sets):
        for name in sets if isinstance(sets, dict) else ():
            if not isinstance(name, str):
                raise ValueError(f"set name {name!r} is {_yaml_kind(name)} to YAML (and to DVC), not a name; "
                                 f"quote it ('{name}':) or choose another")
        return sets

    @field_validator("eval")
    @classmethod
    def _named_sets(cls, sets: dict[str, EvalSet]) -> dict[str, EvalSet]:
        if not sets:
            raise ValueError("name at least one evaluation set, e.g. {skimage: skimage}")
        for name in sets:
            if not SET_NAME.fullmatch(name):
                raise ValueError(f"set name {name!r} may hold only letters, digits, '_' and '-', at most 64 "
                                 "of them (it names the set's stages and folders)")
        return sets


Norm = Literal["batch", "spectral", "none"]


class GeneratorParams(Section):
    blocks: Int = Field(16, ge=0, le=256)
    channels: Int = Field(64, gt=0, le=1024)
    norm: Norm = "batch"
    bicubic_skip: Bool = False
    upsample: Literal["pixel_shuffle", "nearest"] = "pixel_shuffle"


class DiscriminatorParams(Section):
    channels: Int = Field(64, gt=0, le=1024)
    norm: Norm = "batch"
    dense: Int = Field(1024, gt=0, le=65536)


class ModelParams(Section):
    generator: GeneratorParams = GeneratorParams()
    discriminator: DiscriminatorParams = DiscriminatorParams()


Precision = Literal["auto", "fp32", "bf16", "fp16"]  # auto: bf16 where the device computes it natively, else fp32


class Progressive(Section):
    """Progressive growing: steps of each phase before the last (x2, then x4 for an x8 model), and fade-in."""
    phase_steps: list[Steps] = []
    fade_steps: Int = Field(0, ge=0)


class LrDecay(Section):
    """Step decay of the learning rate(s): multiplied by `factor` at each step in `at` (paper: [100000], 0.1)."""
    at: list[Steps] = []
    factor: Float = Field(0.1, gt=0, le=1)


class LoopParams(Section):
    """What every training loop shares."""
    steps: Steps
    batch_size: BatchSize = 16
    precision: Precision = "auto"
    ema: Float = Field(0.0, ge=0, lt=1)
    log_every: Every = 50
    checkpoint_every: Every = 200
    validate_every: Int = Field(0, ge=0)


class TrainParams(LoopParams):
    """A supervised loop, which can grow its generator progressively and decay its learning rates."""
    progressive: Progressive = Progressive()
    lr_decay: LrDecay = LrDecay()

    @model_validator(mode="after")
    def _phases_fit(self) -> TrainParams:
        phases = self.progressive.phase_steps
        if sum(phases) >= self.steps:
            raise ValueError(f"progressive.phase_steps add up to {sum(phases)}, "
                             f"leaving no step of the {self.steps} for the last phase")
        shortest = min([*phases[1:], self.steps - sum(phases)])
        if phases and self.progressive.fade_steps > shortest:
            raise ValueError(f"progressive.fade_steps {self.progressive.fade_steps} is longer than a phase it fades "
                             f"into ({shortest} steps): that phase's new stage would never be fully in; fade over at "
                             "most as many steps as the shortest phase after the first")
        return self

    @model_validator(mode="after")
    def _decay_once_a_step(self) -> TrainParams:
        if len(set(self.lr_decay.at)) != len(self.lr_decay.at):
            raise ValueError(f"lr_decay.at {self.lr_decay.at}: list each step once (a step listed twice decays twice)")
        return self

    def past_the_end(self) -> list[str]:
        """What of the schedules a run of `steps` never reaches: a warning, not an error, so that a shorter run
        (`-S gan.steps=50`) keeps the default's schedules."""
        late = [step for step in self.lr_decay.at if step >= self.steps]
        return [f"lr_decay.at {self.lr_decay.at}: step {min(late)} and later are past this run's {self.steps} steps, "
                "so no decay happens there"] if late else []


class PretrainParams(TrainParams):
    crop_size: Int = Field(0, ge=0)  # HR side of a random aligned sub-crop of each prepared crop (0: all of it)
    lr: Float = Field(1e-4, gt=0, le=1)
    betas: Betas = (0.9, 0.999)


class ContentWeights(Section):
    mse: Float = Field(0.0, ge=0)
    l1: Float = Field(0.0, ge=0)
    vgg22: Float = Field(0.0, ge=0)
    vgg54: Float = Field(1.0, ge=0)
    feature_matching: Float = Field(0.0, ge=0)
    low_pass: Float = Field(0.0, ge=0)
    artifacts: Float = Field(0.0, ge=0)


class AdvRamp(Section):
    """Adversarial weight schedule: constant, or from `start` to gan.adv_weight over `steps` steps."""
    schedule: Literal["constant", "linear", "cosine"] = "constant"
    start: Float = Field(0.0, ge=0)
    steps: Int = Field(0, ge=0)

    @model_validator(mode="after")
    def _ramp_needs_steps(self) -> AdvRamp:
        if self.schedule != "constant" and self.steps == 0:
            raise ValueError(f"a {self.schedule} ramp needs adv_ramp.steps > 0")
        return self


class Replay(Section):
    """Experience replay for D: a buffer of past fakes, `fraction` of each fake batch drawn from it."""
    size: Int = Field(0, ge=0, le=100_000)
    fraction: Float = Field(0.5, ge=0, le=1)


class GanParams(TrainParams):
    init_generator: Literal["pretrained", "scratch"] = "pretrained"
    d_warmup_steps: Int = Field(0, ge=0, le=10**9)
    content: ContentWeights = ContentWeights()
    adversarial: Literal["standard", "relativistic"] = "standard"
    discriminator_input: Literal["image", "high_pass"] = "image"
    high_pass_gain: Float = Field(1.0, gt=0, le=1000)
    discriminator_luma: Bool = False
    adv_weight: Float = Field(1e-3, ge=0)
    adv_ramp: AdvRamp = AdvRamp()
    replay: Replay = Replay()
    real_label: Float = Field(1.0, gt=0.5, le=1.0)
    d_steps: Int = Field(1, ge=1, le=100)
    r1_weight: Float = Field(0.0, ge=0)
    lr_g: Float = Field(1e-4, gt=0, le=1)
    lr_d: Float = Field(1e-4, gt=0, le=1)
    betas_g: Betas = (0.9, 0.999)
    betas_d: Betas = (0.9, 0.999)

    def past_the_end(self) -> list[str]:
        late = super().past_the_end()
        if self.adv_ramp.schedule != "constant" and self.adv_ramp.steps >= self.steps:
            late.append(f"adv_ramp.steps {self.adv_ramp.steps}: the adversarial weight ramps past this run's "
                        f"{self.steps} steps, so it never reaches adv_weight {self.adv_weight}")
        return late

    @model_validator(mode="after")
    def _some_loss(self) -> GanParams:
        if self.adv_weight == 0 and not any(self.content.model_dump().values()):
            raise ValueError("adv_weight and every content weight are 0: the generator would learn nothing")
        return self


class UnsupervisedParams(LoopParams):
    """Training without LR-HR pairs: unpaired HR for D, or measurement-domain (no HR at all)."""
    mode: Literal["unpaired", "measurement"] = "unpaired"
    adv_weight: Float = Field(1e-3, ge=0)
    consistency_weight: Float = Field(1.0, ge=0)
    lr_g: Float = Field(1e-4, gt=0, le=1)
    lr_d: Float = Field(1e-4, gt=0, le=1)

    @model_validator(mode="after")
    def _some_loss(self) -> UnsupervisedParams:
        if self.adv_weight == 0 and self.consistency_weight == 0:
            raise ValueError("adv_weight and consistency_weight are 0: the generator would learn nothing")
        return self


class EvaluateParams(Section):
    lpips: Literal["auto", "off"] = "auto"
    niqe: Bool = True
    samples: Int = Field(3, ge=0, le=1000)
    tile: Int = Field(256, ge=16, le=4096)
    precision: Precision = "auto"
    interpolation: list[Annotated[Float, Field(gt=0, lt=1)]] = []

    @field_validator("interpolation")
    @classmethod
    def _distinct(cls, alphas: list[float]) -> list[float]:
        if len(set(alphas)) != len(alphas):
            raise ValueError("list each alpha once")
        return alphas


class ReportParams(Section):
    images: list[str] = []
    dpi: Int = Field(150, ge=72, le=1200)  # 72: a screen's; slides want 150 or more
    zoom: Float = Field(0.3, gt=0, le=1.0)


SECTIONS: dict[str, type] = {
    "seed": int,
    "execution": ExecutionParams,
    "data": DataParams,
    "model": ModelParams,
    "pretrain": PretrainParams,
    "gan": GanParams,
    "unsupervised": UnsupervisedParams,
    "evaluate": EvaluateParams,
    "report": ReportParams,
}
SEED_LIMIT = 2**32
YAML11_BOOLEANS = {"yes", "no", "on", "off", "y", "n"}


def parse_yaml(text: str, name: str) -> object:
    """YAML as DVC reads params.yaml and dvc.lock: ruamel's safe loader, YAML 1.2, a key given twice an error.
    PyYAML (YAML 1.1) would read `lpips: off` as false and `1e-4` as a string where DVC records 'off' and 0.0001.
    A file that is no YAML is an SrganError naming `name`, the problem and its line."""
    try:
        return YAML(typ="safe").load(text)
    except YAMLError as err:
        raise SrganError(f"{name}: not valid YAML: {_yaml_problem(err, text)}") from None


def read_yaml(path: Path) -> dict:
    try:
        raw = parse_yaml(Path(path).read_text(), str(path))
    except FileNotFoundError:
        raise SrganError(f"{path}: params file not found; run from the project root") from None
    if not isinstance(raw, dict):
        raise SrganError(f"{path}: expected a mapping of sections ({', '.join(SECTIONS)})")
    return raw


def _yaml_problem(err: YAMLError, text: str) -> str:
    """ruamel's error in a line: what, where, and where it began (an unclosed quote is found at the file's end)."""
    if not isinstance(err, MarkedYAMLError) or err.problem_mark is None:
        return str(err).strip()
    began = f"; {err.context} {_at(err.context_mark)}" if err.context and err.context_mark else ""
    lines = text.splitlines()
    line = lines[err.problem_mark.line] if err.problem_mark.line < len(lines) else ""
    tab = "; that line holds a tab: indent with spaces" if "\t" in line else ""
    return f"{err.problem} {_at(err.problem_mark)}{began}{tab}"


def _at(mark) -> str:
    return f"(line {mark.line + 1}, column {mark.column + 1})"


def load_params(path: Path | str, *sections: str) -> dict:
    """Validate every section of a params file; return {section: typed value} for the named ones."""
    path = Path(path)
    raw = read_yaml(path)
    for key in raw:
        if key not in SECTIONS:
            raise SrganError(f"{path}: unknown key '{key}'{_did_you_mean(str(key), SECTIONS)}")
    parsed = {name: parse_section(name, raw.get(name), path) for name in SECTIONS}
    problem = combination_problem(parsed)
    if problem:
        raise SrganError(f"{path}: {problem}")
    return {name: parsed[name] for name in sections}


def combination_problem(p: dict) -> str | None:
    """What is wrong with values that are each fine but impossible together, or None."""
    data, execution = p["data"], p["execution"]
    phases = data.scale.bit_length() - 1  # x2 -> 1 phase, x4 -> 2, x8 -> 3
    for name in ("pretrain", "gan"):
        given = len(p[name].progressive.phase_steps)
        if given and given != phases - 1:
            return (f"{name}.progressive.phase_steps: x{data.scale} grows in {phases} phases, so give "
                    f"{phases - 1} phase length(s) before the last, got {given}")
    if p["gan"].progressive.phase_steps and p["gan"].init_generator == "pretrained" \
            and not p["pretrain"].progressive.phase_steps:
        return ("gan.progressive.phase_steps: the pretrained generator cannot grow; pretrain it progressively "
                "too (pretrain.progressive) or use gan.init_generator: scratch")
    if data.degradation != "bicubic" and data.train.startswith("pairs:"):
        return (f"data.degradation: {data.degradation} degrades HR into LR, but data.train (pairs:) brings its own "
                "LR images; use data.degradation: bicubic with real pairs")
    if data.degradation == "realistic" and data.realistic.margin % data.scale:
        return (f"data.realistic.margin: {data.realistic.margin} HR pixels is not a whole number of LR pixels at "
                f"x{data.scale}; use a multiple of {data.scale}")
    for name, evaluation_set in data.eval.items():
        if evaluation_set.degradation != "bicubic" and evaluation_set.source.startswith("pairs:"):
            return (f"data.eval.{name}.degradation: a pairs: set brings its own LR images; "
                    "leave its degradation out")
    crop_size = p["pretrain"].crop_size
    if crop_size and (crop_size > data.hr_size or crop_size % data.scale):
        return (f"pretrain.crop_size: {crop_size} must be a multiple of data.scale ({data.scale}) no larger than the "
                f"prepared crops' data.hr_size ({data.hr_size}), or 0 for the whole crop")
    lr_side = data.hr_size // data.scale
    if p["unsupervised"].mode == "measurement" and lr_side % 16:
        return (f"unsupervised.mode: measurement compares LR crops of {lr_side}px, which must be a multiple of "
                f"16; raise data.hr_size to a multiple of {16 * data.scale}")
    if p["report"].images and not p["evaluate"].samples:
        return ("report.images: names samples to show, but evaluate.samples is 0, so no set keeps any; raise "
                "evaluate.samples or leave report.images empty")
    for name in ("pretrain", "gan", "unsupervised"):
        if p[name].batch_size % execution.world_size:
            return (f"{name}.batch_size: {p[name].batch_size} images cannot be split evenly over "
                    f"{execution.world_size} processes (execution.nproc_per_node x nnodes); use a multiple")
    return None


def parse_section(name: str, value, path: Path | str = "params.yaml"):
    if name not in SECTIONS:
        raise KeyError(name)
    if value is None:
        raise SrganError(f"{path}: missing section '{name}'")
    kind = SECTIONS[name]
    if kind is int:
        return _parse_seed(name, value, path)
    try:
        return kind.model_validate(value)
    except ValidationError as err:
        raise SrganError(_explain(err, name, kind, path)) from None


def _parse_seed(name: str, value, path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < SEED_LIMIT:
        raise SrganError(f"{path}: {name}: expected an integer from 0 to 2**32 - 1, got {value!r}")
    return value


def _explain(err: ValidationError, section: str, kind: type[BaseModel], path) -> str:
    errors = err.errors()
    # A misspelt key first: pydantic lists the key it misses (source) before the one it does not know (sourc).
    first = next((error for error in errors if error["type"] == "extra_forbidden"), errors[0])
    loc = [str(part) for part in first["loc"]]
    key = ".".join([section, *loc])
    if first["type"] == "extra_forbidden":
        known = _known_keys(kind, loc[:-1])
        listed = f" (known: {', '.join(known)})" if known else ""
        return f"{path}: unknown key '{key}'{_did_you_mean(loc[-1], known)}{listed}"
    if first["type"] == "missing":
        return f"{path}: missing key '{key}'"
    message = first["msg"].removeprefix("Value error, ")
    given = first.get("input")
    if first["type"] == "bool_type" and str(given).lower() in YAML11_BOOLEANS:
        message += "; write true or false (params.yaml is read as YAML 1.2, as DVC reads it: yes and off are words)"
    # A check of a whole mapping names its keys in its message: the mapping itself would only bury it.
    return f"{path}: {key}: {message}" if isinstance(given, dict) else f"{path}: {key}: {message} (got {given!r})"


def _known_keys(kind: type[BaseModel], loc: list[str]) -> list[str]:
    """The keys the mapping at `loc` of a section may hold (through mappings of names such as data.eval), or []."""
    parts = iter(loc)
    for part in parts:
        field = kind.model_fields.get(part)
        annotation = field.annotation if field else None
        if get_origin(annotation) is dict:  # {name: section}: the next part is a name
            annotation = get_args(annotation)[1]
            if next(parts, None) is None:
                return []
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        kind = annotation
    return list(kind.model_fields)


def _did_you_mean(key: str, known) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""
