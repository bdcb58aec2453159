"""Slide-ready figures and a Markdown report from the evaluation outputs and the DVCLive curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from srgan.atomic import atomic_path  # noqa: E402
from srgan.errors import SrganError  # noqa: E402
from srgan.imageio import read_image  # noqa: E402

METHOD_NAMES = {"lr": "LR", "nearest": "Nearest", "bicubic": "Bicubic", "srresnet": "SRResNet", "srgan": "SRGAN",
                "unsupervised": "Unsupervised", "hr": "HR"}
BASELINES = ("nearest", "bicubic")
STYLE = {"font.family": "DejaVu Sans", "font.size": 11, "axes.titlesize": 12, "figure.titlesize": 14}
INSET_COLOUR = "#e8175d"


def display_name(method: str) -> str:
    if method.startswith("ur_"):
        return f"UR ({display_name(method[3:])} on HR)"
    return METHOD_NAMES.get(method, method)


def centre_box(height: int, width: int, zoom: float) -> tuple[int, int, int]:
    """(top, left, side) of a centred square covering `zoom` of the shorter side."""
    side = max(4, int(min(height, width) * zoom))
    return (height - side) // 2, (width - side) // 2, side


def crop(image: np.ndarray, box: tuple[int, int, int], factor: float) -> np.ndarray:
    """The region `box` (in HR pixels) of an image whose resolution is `factor` times HR's."""
    top, left, side = (int(round(v * factor)) for v in box)
    return image[top:top + side, left:left + side]


def comparison_columns(table: pd.DataFrame) -> list[str]:
    """LR, every evaluated method in evaluation order, HR, and the UR of SRGAN (else of the last model)."""
    methods = list(dict.fromkeys(table["method"]))
    models = [m for m in methods if m not in BASELINES]
    ur = ["ur_srgan"] if "srgan" in models else [f"ur_{models[-1]}"] if models else []
    return ["lr", *methods, "hr", *ur]


def resolution_factor(key: str, scale: int) -> float:
    """How many times HR's resolution a sample image has: LR 1/scale, UR scale, the rest 1."""
    return 1 / scale if key == "lr" else scale if key.startswith("ur_") else 1


def model_grid_columns(model: str) -> list[str]:
    """The LR | SR | HR | UR grid of one model."""
    return ["lr", model, "hr", f"ur_{model}"]


def comparison_figure(samples_dir: Path, names: list[str], table: pd.DataFrame, scale: int, zoom: float,
                      out: Path, dpi: int, columns: list[str] | None = None) -> None:
    """Columns LR | methods | HR | UR; per image, a row of whole images with the zoomed region marked,
    and below it a row of that region zoomed in, labelled with its metrics."""
    columns = columns or comparison_columns(table)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2 * len(names), len(columns), figsize=(2.6 * len(columns), 5.0 * len(names)),
                                 squeeze=False)
        for row, name in enumerate(names):
            hr = read_image(samples_dir / name / "hr.png")
            box = centre_box(*hr.shape[:2], zoom)
            whole_row, zoom_row = axes[2 * row], axes[2 * row + 1]
            for col, key in enumerate(columns):
                path = samples_dir / name / f"{key}.png"
                for ax in (whole_row[col], zoom_row[col]):
                    ax.set_xticks([]), ax.set_yticks([])
                if not path.exists():
                    whole_row[col].set_axis_off(), zoom_row[col].set_axis_off()
                    continue
                image, factor = read_image(path), resolution_factor(key, scale)
                _marked(whole_row[col], image, box, factor)
                zoom_row[col].imshow(crop(image, box, factor), interpolation="nearest")
                for spine in zoom_row[col].spines.values():
                    spine.set_edgecolor(INSET_COLOUR)
                whole_row[col].set_title(display_name(key) if row == 0 else "", fontsize=12)
                zoom_row[col].set_xlabel(_label(table, name, key), fontsize=9)
            whole_row[0].set_ylabel(name, fontsize=12)
            zoom_row[0].set_ylabel("zoom", fontsize=10)
        fig.suptitle(f"x{scale} super-resolution: whole images, and the marked {zoom:.0%} of the side zoomed in")
        fig.tight_layout()
        save_figure(fig, out, dpi)


def _marked(ax, image: np.ndarray, box: tuple[int, int, int], factor: float) -> None:
    """The whole image with the zoomed region outlined."""
    from matplotlib.patches import Rectangle

    ax.imshow(image, interpolation="nearest")
    top, left, side = (v * factor for v in box)
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), side, side, fill=False, edgecolor=INSET_COLOUR, linewidth=1.5))


def perception_distortion_figure(table: pd.DataFrame, out: Path, dpi: int) -> str:
    """PSNR-Y against LPIPS (or SSIM-Y when LPIPS is unavailable), one point per method and dataset."""
    use_lpips = table["lpips"].notna().any()
    y, label = ("lpips", "LPIPS (lower is better)") if use_lpips else ("ssim_y", "SSIM-Y (higher is better)")
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.5, 4.8))
        for dataset, group in table.groupby("dataset", sort=False):
            ax.scatter(group["psnr_y"], group[y], s=60, label=dataset, zorder=3)
            for _, row in group.iterrows():
                ax.annotate(row["method"], (row["psnr_y"], row[y]), textcoords="offset points", xytext=(6, 4),
                            fontsize=9)
        ax.set_xlabel("PSNR-Y (dB, higher is better)")
        ax.set_ylabel(label)
        ax.set_title("Perception-distortion")
        if use_lpips:
            ax.invert_yaxis()  # better is up in both cases
        ax.grid(alpha=0.3)
        ax.legend(title="dataset", fontsize=9)
        fig.tight_layout()
        save_figure(fig, out, dpi)
    return y


def _label(table: pd.DataFrame, image: str, method: str) -> str:
    rows = table[(table["image"] == image) & (table["method"] == method)]
    if rows.empty:
        return ""
    row = rows.iloc[0]
    label = f"{row['psnr_y']:.2f} dB / {row['ssim_y']:.3f}"
    if pd.notna(row.get("lpips")):
        label += f"\nLPIPS {row['lpips']:.3f}"
    return label


def read_curves(live_dir: Path) -> dict[str, pd.DataFrame]:
    """{metric name: DataFrame(step, value)} from a DVCLive folder's TSV files."""
    curves = {}
    for tsv in sorted((live_dir / "plots" / "metrics").rglob("*.tsv")):
        frame = pd.read_csv(tsv, sep="\t")
        name = str(tsv.relative_to(live_dir / "plots" / "metrics").with_suffix(""))
        curves[name] = frame.rename(columns={frame.columns[-1]: "value"})[["step", "value"]]
    return curves


def curves_figure(runs: dict[str, dict[str, pd.DataFrame]], out: Path, dpi: int) -> None:
    """One panel per logged metric of each training stage."""
    panels = [(run, name, frame) for run, curves in runs.items() for name, frame in curves.items()]
    if not panels:
        raise SrganError("no training curves found under reports/pretrain or reports/train_gan; run training first")
    cols = 4
    rows = (len(panels) + cols - 1) // cols
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
        for ax, (run, name, frame) in zip(axes.flat, panels):
            ax.plot(frame["step"], frame["value"], lw=1.5)
            ax.set_title(f"{run}: {name}")
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(panels):]:
            ax.set_axis_off()
        fig.tight_layout()
        save_figure(fig, out, dpi)


def metrics_table(metrics: dict) -> pd.DataFrame:
    """One row per (dataset, method) from reports/metrics.json, methods by display name."""
    rows = [{"dataset": dataset, "method": display_name(method), **values}
            for dataset, methods in metrics.items() if dataset != "info"
            for method, values in methods.items()]
    return pd.DataFrame(rows)


HEADERS = {"dataset": "Dataset", "method": "Method", "psnr_y": "PSNR-Y (dB)", "ssim_y": "SSIM-Y",
           "psnr_rgb": "PSNR-RGB (dB)", "lpips": "LPIPS"}


def _shown(table: pd.DataFrame) -> pd.DataFrame:
    shown = table.copy()
    for column, digits in (("psnr_y", 2), ("ssim_y", 4), ("psnr_rgb", 2), ("lpips", 4)):
        shown[column] = shown[column].map(lambda v, d=digits: "n/a" if pd.isna(v) else f"{v:.{d}f}")
    return shown.rename(columns=HEADERS)


def latex_table(table: pd.DataFrame, scale: int) -> str:
    """A booktabs table for papers and slides."""
    caption = (f"x{scale} super-resolution. PSNR and SSIM on the Y channel (BT.601), border of {scale} px "
               "cropped; LPIPS (AlexNet, v0.1).")
    return _shown(table).to_latex(index=False, caption=caption, label="tab:sr-metrics", column_format="llrrrr")


def markdown_report(table: pd.DataFrame, info: dict, figures: dict[str, str]) -> str:
    lines = ["# srgan-dvc report", "",
             f"x{info.get('scale')} super-resolution. PSNR and SSIM on the Y channel (BT.601), "
             f"border of {info.get('scale')} px cropped; RGB PSNR beside it. LPIPS: AlexNet, v0.1.", "",
             _shown(table).to_markdown(index=False, disable_numparse=True), "",
             "The same table in LaTeX: [metrics_table.tex](metrics_table.tex).", "", "## Provenance", ""]
    lines += [f"- **{key}**: {value}" for key, value in info.items()]
    lines += ["", "## Figures", ""]
    lines += [f"### {title}\n\n![{title}]({path})\n" for title, path in figures.items()]
    return "\n".join(lines) + "\n"


def save_figure(fig, out: Path, dpi: int) -> None:
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    plt.close(fig)
