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

COLUMNS = [("lr", "LR"), ("nearest", "Nearest"), ("bicubic", "Bicubic"), ("srresnet", "SRResNet"),
           ("srgan", "SRGAN"), ("hr", "HR"), ("ur", "UR (model on HR)")]
METHOD_NAMES = dict(COLUMNS)
STYLE = {"font.family": "DejaVu Sans", "font.size": 11, "axes.titlesize": 12, "figure.titlesize": 14}


def centre_box(height: int, width: int, zoom: float) -> tuple[int, int, int]:
    """(top, left, side) of a centred square covering `zoom` of the shorter side."""
    side = max(4, int(min(height, width) * zoom))
    return (height - side) // 2, (width - side) // 2, side


def crop(image: np.ndarray, box: tuple[int, int, int], factor: float) -> np.ndarray:
    """The region `box` (in HR pixels) of an image whose resolution is `factor` times HR's."""
    top, left, side = (int(round(v * factor)) for v in box)
    return image[top:top + side, left:left + side]


def comparison_figure(samples_dir: Path, names: list[str], table: pd.DataFrame, scale: int, zoom: float,
                      out: Path, dpi: int) -> None:
    """Rows of images, columns LR | nearest | bicubic | SRResNet | SRGAN | HR | UR, on one centred region."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(names), len(COLUMNS), figsize=(2.3 * len(COLUMNS), 2.6 * len(names)),
                                 squeeze=False)
        for row, name in enumerate(names):
            hr = read_image(samples_dir / name / "hr.png")
            box = centre_box(*hr.shape[:2], zoom)
            for col, (key, title) in enumerate(COLUMNS):
                ax = axes[row, col]
                ax.set_xticks([]), ax.set_yticks([])
                path = samples_dir / name / f"{key}.png"
                if not path.exists():
                    ax.set_axis_off()
                    continue
                factor = {"lr": 1 / scale, "ur": scale}.get(key, 1)
                ax.imshow(crop(read_image(path), box, factor), interpolation="nearest")
                ax.set_title(title if row == 0 else "", fontsize=12)
                ax.set_xlabel(_label(table, name, key), fontsize=9)
            axes[row, 0].set_ylabel(name, fontsize=12)
        fig.suptitle(f"x{scale} super-resolution, centre crops ({zoom:.0%} of the image side)")
        fig.tight_layout()
        _save(fig, out, dpi)


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
        _save(fig, out, dpi)


def metrics_table(metrics: dict) -> pd.DataFrame:
    """One row per (dataset, method) from reports/metrics.json."""
    rows = [{"dataset": dataset, "method": METHOD_NAMES.get(method, method), **values}
            for dataset, methods in metrics.items() if dataset != "info"
            for method, values in methods.items()]
    return pd.DataFrame(rows)


def markdown_report(table: pd.DataFrame, info: dict, figures: dict[str, str]) -> str:
    shown = table.rename(columns={"psnr_y": "PSNR-Y (dB)", "ssim_y": "SSIM-Y", "psnr_rgb": "PSNR-RGB (dB)",
                                  "lpips": "LPIPS"})
    shown["LPIPS"] = shown["LPIPS"].map(lambda v: "n/a" if pd.isna(v) else f"{v:.4f}")
    lines = ["# srgan-dvc report", "",
             f"x{info.get('scale')} super-resolution. PSNR and SSIM on the Y channel (BT.601), "
             f"border of {info.get('scale')} px cropped; RGB PSNR beside it.", "",
             shown.to_markdown(index=False, floatfmt=".4f"), "", "## Provenance", ""]
    lines += [f"- **{key}**: {value}" for key, value in info.items()]
    lines += ["", "## Figures", ""]
    lines += [f"### {title}\n\n![{title}]({path})\n" for title, path in figures.items()]
    return "\n".join(lines) + "\n"


def _save(fig, out: Path, dpi: int) -> None:
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    plt.close(fig)
