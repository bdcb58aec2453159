"""Slide-ready figures and a Markdown report from the evaluation outputs and the DVCLive curves.

Every figure says what it shows: models are labelled with what they were trained as (SRGAN-MSE when
VGG19 was unavailable), every number names its metric and whether it is the whole image's or the
crop's, and no caption claims a metric that was not computed.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from srgan.atomic import atomic_path
from srgan.errors import SrganError
from srgan.imageio import PNG_COMPRESSION, read_image
from srgan.interpolation import alpha_of, is_blend
from srgan.interpolation import display as blend_display
from srgan.metrics import SSIM_WINDOW, psnr_y, ssim_y
from srgan.samples import ur_box

METHOD_NAMES = {"lr": "LR", "nearest": "Nearest", "bicubic": "Bicubic", "srresnet": "SRResNet", "srgan": "SRGAN",
                "unsupervised": "Unsupervised", "hr": "HR"}
BASELINES = ("nearest", "bicubic")
REFERENCE = "hr"  # rows of the ground truth (its NIQE only)
STYLE = {"font.family": "DejaVu Sans", "font.size": 11, "axes.titlesize": 12, "figure.titlesize": 14}
INSET_COLOUR = "#e8175d"
METRIC_NAMES = {"psnr_y": "PSNR-Y (dB)", "ssim_y": "SSIM-Y", "psnr_rgb": "PSNR-RGB (dB)", "niqe": "NIQE",
                "lpips": "LPIPS"}
DIGITS = {"psnr_y": 2, "ssim_y": 4, "psnr_rgb": 2, "niqe": 2, "lpips": 4}
MARKERS = "osD^vP*Xh<>p"  # one shape per series, so that runs whose points coincide stay visible


def display_name(method: str, labels: dict[str, str] | None = None) -> str:
    """A method's name on a slide: what a model was trained as, when the provenance says."""
    labels = labels or {}
    if method.startswith("ur_"):
        return f"UR ({display_name(method[3:], labels)} on HR's centre)"
    if is_blend(method):
        return blend_display(method)
    return labels.get(method) or METHOD_NAMES.get(method, method)


def model_labels(provenance: dict) -> dict[str, str]:
    """{method: label} of the models an evaluation provenance describes; a GAN whose discriminator collapsed
    says so in its label, on every table and figure."""
    return {method: info["label"] + (" [D collapsed]" if (info.get("discriminator") or {}).get("collapsed") else "")
            for method, info in provenance.get("models", {}).items() if info.get("label")}


def centre_box(height: int, width: int, zoom: float) -> tuple[int, int, int]:
    """(top, left, side) of a centred square covering `zoom` of the shorter side, and never fewer pixels than the
    region's SSIM needs (evaluation images have at least that many)."""
    side = min(max(SSIM_WINDOW, int(min(height, width) * zoom)), height, width)
    return (height - side) // 2, (width - side) // 2, side


def crop(image: np.ndarray, box: tuple[int, int, int], factor: float,
         origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """The region `box` (in HR pixels) of an image whose resolution is `factor` times HR's and whose top-left
    corner lies at `origin` in HR (a UR covers only the centre of HR)."""
    top, left, side = box
    top, left, side = (int(round(v * factor)) for v in (top - origin[0], left - origin[1], side))
    return image[max(top, 0):max(top + side, 0), max(left, 0):max(left + side, 0)]


def comparison_columns(table: pd.DataFrame) -> list[str]:
    """LR, every evaluated method in evaluation order, HR, and the UR of SRGAN (else of the last model)."""
    methods = [m for m in dict.fromkeys(table["method"]) if m != REFERENCE and not is_blend(m)]
    models = [m for m in methods if m not in BASELINES]
    ur = ["ur_srgan"] if "srgan" in models else [f"ur_{models[-1]}"] if models else []
    return ["lr", *methods, "hr", *ur]


def resolution_factor(key: str, scale: int) -> float:
    """How many times HR's resolution a sample image has: LR 1/scale, UR scale, the rest 1."""
    return 1 / scale if key == "lr" else scale if key.startswith("ur_") else 1


def sample_origin(key: str, hr_shape: tuple[int, ...]) -> tuple[int, int]:
    """Where a sample image's top-left corner lies in HR: a UR covers the centre of HR, the rest all of it."""
    return ur_box(*hr_shape[:2])[:2] if key.startswith("ur_") else (0, 0)


def model_grid_columns(model: str) -> list[str]:
    """The LR | SR | HR | UR grid of one model."""
    return ["lr", model, "hr", f"ur_{model}"]


def comparison_figure(samples_dir: Path, names: list[str], table: pd.DataFrame, scale: int, zoom: float,
                      out: Path, dpi: int, columns: list[str] | None = None,
                      labels: dict[str, str] | None = None) -> None:
    """Columns LR | methods | HR | UR; per image, a row of whole images with the zoomed region marked,
    labelled with their whole-image metrics, and below it a row of that region zoomed in, labelled with
    the region's own PSNR-Y and SSIM-Y."""
    columns = columns or comparison_columns(table)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(2.7 * len(columns), 5.4 * len(names)))
        axes = fig.subplots(2 * len(names), len(columns), squeeze=False)
        for row, name in enumerate(names):
            hr = read_image(samples_dir / name / "hr.png")
            box = centre_box(*hr.shape[:2], zoom)
            whole_row, zoom_row = axes[2 * row], axes[2 * row + 1]
            for col, key in enumerate(columns):
                for ax in (whole_row[col], zoom_row[col]):
                    ax.set_xticks([]), ax.set_yticks([])
                path = samples_dir / name / f"{key}.png"
                if not path.exists():
                    whole_row[col].set_axis_off(), zoom_row[col].set_axis_off()
                    continue
                image, factor = read_image(path), resolution_factor(key, scale)
                origin = sample_origin(key, hr.shape)
                _marked(whole_row[col], image, box, factor, origin)
                zoom_row[col].imshow(crop(image, box, factor, origin), interpolation="nearest")
                for spine in zoom_row[col].spines.values():
                    spine.set_edgecolor(INSET_COLOUR)
                whole_row[col].set_title(display_name(key, labels) if row == 0 else "", fontsize=11)
                whole_row[col].set_xlabel(_whole_label(table, name, key), fontsize=8.5)
                if factor == 1 and key != "hr":
                    zoom_row[col].set_xlabel(_crop_label(crop(image, box, 1), crop(hr, box, 1)), fontsize=8.5)
            whole_row[0].set_ylabel(name, fontsize=12)
            zoom_row[0].set_ylabel("marked region", fontsize=10)
        fig.suptitle(f"x{scale} super-resolution. Above: whole images, labelled with whole-image metrics "
                     f"(Y channel, border {scale} px). Below: the marked {zoom:.0%} of the side, with that "
                     "region's own PSNR-Y / SSIM-Y", fontsize=12)
        fig.tight_layout(rect=(0, 0, 1, 0.98))  # room for the title above the column names
        save_figure(fig, out, dpi)


def _marked(ax, image: np.ndarray, box: tuple[int, int, int], factor: float,
            origin: tuple[int, int] = (0, 0)) -> None:
    """The whole image with the zoomed region outlined."""
    ax.imshow(image, interpolation="nearest")
    top, left, side = (v * factor for v in (box[0] - origin[0], box[1] - origin[1], box[2]))
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), side, side, fill=False, edgecolor=INSET_COLOUR, linewidth=1.5))


def _whole_label(table: pd.DataFrame, image: str, method: str) -> str:
    """The whole image's metrics, each named: PSNR-Y / SSIM-Y, then NIQE and LPIPS where computed."""
    rows = table[(table["image"] == image) & (table["method"] == method)]
    if rows.empty:
        return ""
    row = rows.iloc[0]
    lines = []
    if pd.notna(row.get("psnr_y")):
        lines.append(f"PSNR-Y {row['psnr_y']:.2f} dB, SSIM-Y {row['ssim_y']:.3f}")
    extra = [f"{METRIC_NAMES[key]} {row[key]:.{DIGITS[key] - 1}f}" for key in ("niqe", "lpips")
             if key in row and pd.notna(row[key])]
    if extra:
        lines.append(", ".join(extra))
    return "\n".join(lines)


def _crop_label(region: np.ndarray, reference: np.ndarray) -> str:
    if np.array_equal(region, reference):
        return ""
    if min(region.shape[:2]) < SSIM_WINDOW:
        return f"region under {SSIM_WINDOW}px: no region metrics"
    return f"region: PSNR-Y {psnr_y(region, reference, 0):.2f} dB, SSIM-Y {ssim_y(region, reference, 0):.3f}"


def perceptual_axis(table: pd.DataFrame) -> tuple[str, str] | None:
    """The perception metric to plot: LPIPS when it was computed, else NIQE, else none (both off)."""
    for metric in ("lpips", "niqe"):
        if metric in table and table[metric].notna().any():
            return metric, METRIC_NAMES[metric]
    return None


def perception_distortion_figure(table: pd.DataFrame, out: Path, dpi: int, series: str = "dataset",
                                 title: str = "Perception-distortion") -> str | None:
    """PSNR-Y (distortion) against LPIPS, else NIQE (perception), after Blau and Michaeli (2018): one point per
    method and `series` (dataset, or run in srgan-compare, where a point names its set when the runs span several).
    The y axis is flipped so that better is up and
    right. Points that every series shares (a baseline no run changed) are drawn once, in black; a method that
    differs between runs is joined across them, so a sweep draws its tradeoff curve. Returns the perception
    metric, or None (and draws nothing) when neither was computed."""
    axis = perceptual_axis(table)
    if axis is None:
        return None
    metric, name = axis
    points = table[table["psnr_y"].notna() & table[metric].notna()]
    several = points[series].nunique() > 1
    with_set = series != "dataset" and points["dataset"].nunique() > 1  # runs compared on several sets
    shared = shared_points(points, series, metric) & several
    varying = points[~shared]
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7.5, 5.2))
        ax = fig.subplots()
        if shared.any():
            common = points[shared].drop_duplicates(["dataset", "method"])
            ax.scatter(common["psnr_y"], common[metric], s=60, color="black", label=f"every {series}", zorder=3)
            _label_points(ax, common, metric, with_set)
        for index, (group_name, group) in enumerate(varying.groupby(series, sort=False)):
            ax.scatter(group["psnr_y"], group[metric], s=70, marker=MARKERS[index % len(MARKERS)], alpha=0.8,
                       label=str(group_name), zorder=3)
        for _, method in varying.groupby(["dataset", "method"], sort=False):
            if series == "run" and len(method) > 1:
                ordered = method.sort_values("psnr_y")
                ax.plot(ordered["psnr_y"], ordered[metric], color="grey", lw=1, zorder=2)
        _interpolation_curves(ax, points, series, metric)
        _label_points(ax, varying.sort_values("psnr_y").drop_duplicates(["dataset", "method"], keep="last"), metric,
                      with_set)
        reference = table[(table["method"] == display_name(REFERENCE)) & table[metric].notna()]
        lines = reference.drop_duplicates(metric)
        for _, row in lines.iterrows():
            ax.axhline(row[metric], color="grey", lw=1, ls="--", zorder=1)
            ax.annotate("HR" if len(lines) == 1 else f"HR ({row['dataset']})", (1, row[metric]),
                        xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=8, color="grey")
        ax.set_xlabel("PSNR-Y (dB): distortion, higher is better")
        ax.set_ylabel(f"{name}: perception, lower is better (axis flipped: better is up)")
        ax.invert_yaxis()
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(title=series, fontsize=9, ncol=1 + varying[series].nunique() // 12)
        fig.tight_layout()
        save_figure(fig, out, dpi)
    return metric


def _interpolation_curves(ax, points: pd.DataFrame, series: str, metric: str) -> None:
    """SRResNet, its blends with SRGAN and SRGAN, joined in order of alpha: the dial's tradeoff curve."""
    if "alpha" not in points:
        return
    dial = points[points["alpha"].notna()]
    for _, curve in dial.groupby(list(dict.fromkeys([series, "dataset"])), sort=False):
        if len(curve) > 2:  # the ends alone are no curve
            ordered = curve.sort_values("alpha")
            ax.plot(ordered["psnr_y"], ordered[metric], color="tab:purple", lw=1.2, ls=":", marker=".", zorder=2)


def shared_points(points: pd.DataFrame, series: str, metric: str) -> pd.Series:
    """True for the rows whose (dataset, method, PSNR-Y, metric) every series has: the baselines a sweep left alone."""
    position = ["dataset", "method", "psnr_y", metric]
    return points.groupby(position, sort=False)[series].transform("nunique") == points[series].nunique()


def _label_points(ax, rows: pd.DataFrame, metric: str, with_set: bool = False) -> None:
    for _, row in rows.iterrows():
        text = f"{row['method']} ({row['dataset']})" if with_set else row["method"]
        ax.annotate(text, (row["psnr_y"], row[metric]), textcoords="offset points", xytext=(6, 4), fontsize=9)


def read_curves(live_dir: Path) -> dict[str, pd.DataFrame]:
    """{metric name: DataFrame(step, value)} from a DVCLive folder's TSV files."""
    curves = {}
    for tsv in sorted((live_dir / "plots" / "metrics").rglob("*.tsv")):
        frame = pd.read_csv(tsv, sep="\t")
        name = str(tsv.relative_to(live_dir / "plots" / "metrics").with_suffix(""))
        curves[name] = frame.rename(columns={frame.columns[-1]: "value"})[["step", "value"]]
    return curves


# The panels of the slide figure: (title, y label, [(run, curve, legend)]). Everything else is in `dvc plots`.
CURVE_PANELS = [
    ("Validation PSNR-Y", "PSNR-Y (dB)", [("pretrain", "val/psnr_y", "SRResNet (pretraining)"),
                                         ("train_gan", "val/psnr_y", "SRGAN"),
                                         ("train_unsupervised", "val/psnr_y", "Unsupervised")]),
    ("Generator losses (GAN)", "loss (log scale)", [("train_gan", "g/content", "content (all terms, weighted)"),
                                                    ("train_gan", "g/adversarial", "adversarial (unweighted)")]),
    ("Discriminator loss (GAN)", "BCE loss", [("train_gan", "d/loss", "D loss")]),
    ("Discriminator outputs (GAN)", "mean D(x)", [("train_gan", "d/real", "D(real HR)"),
                                                  ("train_gan", "d/fake", "D(SR)")]),
    ("Adversarial weight", "weight", [("train_gan", "adv_weight", "adversarial weight")]),
]


def curves_figure(runs: dict[str, dict[str, pd.DataFrame]], out: Path, dpi: int) -> None:
    """The few curves that tell a training's story, labelled, one panel each."""
    panels = [(title, ylabel, [(runs[run][curve], legend) for run, curve, legend in lines
                               if curve in runs.get(run, {})]) for title, ylabel, lines in CURVE_PANELS]
    panels = [panel for panel in panels if panel[2]]
    if not panels:
        raise SrganError(f"no training curves found in the logs of {', '.join(runs)}; train first")
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(4.6 * len(panels), 3.8))
        axes = fig.subplots(1, len(panels), squeeze=False)
        for ax, (title, ylabel, lines) in zip(axes[0], panels):
            for frame, legend in lines:
                ax.plot(frame["step"], frame["value"], lw=1.6, label=legend)
            ax.set_title(title)
            ax.set_xlabel("step")
            ax.set_ylabel(ylabel)
            if "log scale" in ylabel:  # content and adversarial losses differ by orders of magnitude
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
            if len(lines) > 1:
                ax.legend(fontsize=9)
        fig.tight_layout()
        save_figure(fig, out, dpi)


def metrics_table(sets: dict[str, dict], labels: dict[str, dict[str, str]] | None = None) -> pd.DataFrame:
    """One row per (dataset, method) from {set: its metrics.json}, methods by display name."""
    labels = labels or {}
    rows = [{"dataset": dataset, "method": display_name(method, labels.get(dataset)), **values,
             "alpha": alpha_of(method)}
            for dataset, methods in sets.items() for method, values in methods.items()]
    table = pd.DataFrame(rows)
    for metric in METRIC_NAMES:
        if metric not in table:
            table[metric] = np.nan
    return table


def _shown(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    shown = table[["dataset", "method", *metrics]].copy()
    for column in metrics:
        shown[column] = shown[column].map(lambda v, d=DIGITS[column]: "n/a" if pd.isna(v) else f"{v:.{d}f}")
    return shown.rename(columns={"dataset": "Dataset", "method": "Method", **METRIC_NAMES})


def shown_metrics(table: pd.DataFrame) -> list[str]:
    """The metric columns worth a table: PSNR-Y, SSIM-Y, PSNR-RGB, and NIQE and LPIPS where computed."""
    return [m for m in METRIC_NAMES if m in ("psnr_y", "ssim_y", "psnr_rgb") or table[m].notna().any()]


def caption(metrics: list[str], scale: int) -> str:
    text = (f"x{scale} super-resolution. PSNR and SSIM on the Y channel (BT.601), border of {scale} px cropped; "
            "PSNR-RGB beside it")
    if "niqe" in metrics:
        text += "; NIQE (no reference, lower is better) on Y with the same border"
    if "lpips" in metrics:
        text += "; LPIPS (AlexNet, v0.1; lower is better)"
    return text + "."


def latex_table(table: pd.DataFrame, scale: int) -> str:
    """A booktabs table for papers and slides, with only the metrics that were computed."""
    metrics = shown_metrics(table)
    return _shown(table, metrics).to_latex(index=False, caption=caption(metrics, scale), label="tab:sr-metrics",
                                           column_format="ll" + "r" * len(metrics), escape=True)


def markdown_report(table: pd.DataFrame, scale: int, provenance: dict[str, dict], figures: dict[str, str],
                    latex: str) -> str:
    """The report: the metrics table (`latex` links its LaTeX version), the provenance and `figures` ({title: link})."""
    metrics = shown_metrics(table)
    lines = ["# srgan-dvc report", "", caption(metrics, scale), "",
             _shown(table, metrics).to_markdown(index=False, disable_numparse=True), "",
             f"The same table in LaTeX: [{PurePosixPath(latex).name}]({latex}).", "", "## Provenance", ""]
    for dataset, info in provenance.items():
        lines.append(f"### {dataset} ({info.get('source', dataset)})")
        lines.append("")
        lines += [f"- **{head}**{rest}" for head, rest in provenance_items(info)]
        lines.append("")
    lines += ["## Figures", ""]
    lines += [f"### {title}\n\n![{title}]({path})\n" for title, path in figures.items()]
    return "\n".join(lines) + "\n"


def provenance_items(info: dict) -> list[tuple[str, str]]:
    """(what, how) of an evaluation's provenance: the metrics' availability, inference, and what each model was
    trained as (FALLBACK included)."""
    items = [("LPIPS", f": {info.get('lpips')}"), ("NIQE", f": {info.get('niqe')}"),
             ("inference", f": {_inline(info.get('inference', {}))}")]
    if "images" in info:
        items.append(("images", f": {info['images']}; "
                      + ("; ".join(info.get("left_out") or []) or "every mean covers every image")))
    for method, model in info.get("models", {}).items():
        items.append((model.get("label") or method, f" ({method}, {model.get('steps')} steps): "
                      f"{model.get('trained_with')}; {_discriminator(model.get('discriminator'))}"
                      f"run on {_inline(model.get('execution') or {})}"))
    return items


def _inline(values: dict) -> str:
    return ", ".join(f"{key} {_precision(value) if key == 'precision' else value}" for key, value in values.items())


def _precision(value) -> str:
    """`auto -> bf16 (the CPU has native bf16 ...)` for a resolved precision record; older records are plain."""
    if not isinstance(value, dict):
        return str(value)
    if value["requested"] == value["resolved"]:
        return f"{value['resolved']} ({value['reason']})"
    return f"{value['requested']} -> {value['resolved']} ({value['reason']})"


def _discriminator(verdict: dict | None) -> str:
    """The watch's verdict on a GAN's discriminator, loud when it collapsed."""
    if not verdict or not verdict.get("logged_steps"):
        return ""
    if verdict["collapsed"]:
        return (f"**DISCRIMINATOR COLLAPSED** at step {verdict['collapsed_at']} ({verdict['rule']}): from then on its "
                "output no longer told SR from HR, so the adversarial term pushed nothing (feature matching went on, "
                "on a D that no longer discriminates); ")
    return f"D kept discriminating (mean D(real) - D(fake) {verdict['separation_mean']:.3f}); "


def save_figure(fig: Figure, out: Path, dpi: int) -> None:
    """A PNG of the figure (a plain Figure: no pyplot, no backend to select, nothing to close)."""
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight", pil_kwargs={"compress_level": PNG_COMPRESSION})
