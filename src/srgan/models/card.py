"""Model cards: what a model file is and how it was made, beside it as JSON and Markdown.

The fields follow OpenModelDB's model metadata: architecture, scale, size, training data and its licence,
degradation, steps, losses, metrics, and the file's sha256.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from srgan.atomic import write_json, write_text
from srgan.hashing import sha256_of

if TYPE_CHECKING:  # importing it imports torch: seconds in the report stage, which reads cards only
    from srgan.models.generator import Generator

# The licence of each training source's images, as far as it is known; check before shipping a model.
DATA_LICENCES = {
    "skimage": "scikit-image's sample photographs: public domain or CC0, as skimage.data lists per image",
    "div2k": "DIV2K: for academic research only (ETH Zurich terms)",
    "bsds300": "BSDS300: for non-commercial research and education (UC Berkeley terms)",
    "celeba": "CelebA: non-commercial research only (CUHK agreement)",
}
UNKNOWN_LICENCE = "unknown: the user's own images; the licence is theirs to state"


def card_paths(model: Path) -> tuple[Path, Path]:
    """(JSON card, Markdown card) beside a model file: models/srgan.pt -> models/srgan.card.json, .card.md."""
    return model.with_suffix(".card.json"), model.with_suffix(".card.md")


def data_licence(source: str) -> str:
    return DATA_LICENCES.get(source, UNKNOWN_LICENCE)


def model_card(model: Path, generator: Generator, meta: dict, training: dict, metrics: dict) -> dict:
    """The card of a saved model file. `training`: {data, degradation}; `metrics`: {set: {metric: value}}."""
    return {
        "name": meta.get("label") or meta.get("name") or model.stem,
        "file": model.name,
        "sha256": sha256_of(model),
        "architecture": {"name": "SRResNet generator (Ledig et al. 2017)", **generator.arch},
        "scale": generator.scale,
        "parameters": sum(p.numel() for p in generator.parameters()),
        "training": {**training, "data_licence": data_licence(training.get("data", "")),
                     "steps": meta.get("steps"), "content_terms": meta.get("trained_with")},
        "metrics": metrics,
        "input": "RGB in [0, 1], float32 N x 3 x H x W; output N x 3 x H*scale x W*scale",
    }


def with_evaluation(card: dict, evaluations: dict[str, dict]) -> dict:
    """The card with the model's metrics on each evaluation set added after those recorded at training time.
    `evaluations`: {set title: {metric: value}}."""
    return {**card, "metrics": {**card["metrics"], **evaluations}}


def write_card(model: Path, card: dict, folder: Path | None = None) -> None:
    """The card as JSON and Markdown, beside the model file or in `folder`."""
    json_path, markdown_path = card_paths(folder / model.name if folder else model)
    write_json(json_path, card)
    write_text(markdown_path, markdown(card))


def markdown(card: dict) -> str:
    arch = card["architecture"]
    training = card["training"]
    lines = [f"# {card['name']} (x{card['scale']})", "",
             f"- **File**: `{card['file']}`, sha256 `{card['sha256']}`",
             f"- **Architecture**: {arch['name']}: {arch['blocks']} residual blocks, {arch['channels']} channels, "
             f"{arch['norm']} norm, {arch['upsample']} upsampling"
             + (", bicubic skip" if arch.get("bicubic_skip") else ""),
             f"- **Parameters**: {card['parameters']:,}",
             f"- **Training data**: {training.get('data')}; degradation {training.get('degradation')}",
             f"- **Training data licence**: {training['data_licence']}",
             f"- **Steps**: {training.get('steps')}; **losses**: {training.get('content_terms')}",
             f"- **Input**: {card['input']}", "", "## Metrics", ""]
    if not card["metrics"]:
        lines.append("None recorded at training time; see reports/evaluate/<set>/metrics.json.")
    for name, values in card["metrics"].items():
        lines.append(f"- **{name}**: " + ", ".join(f"{key} {value:.4g}" for key, value in values.items()))
    return "\n".join(lines) + "\n"
