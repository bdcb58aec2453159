"""Comparing runs (commits, experiments): one table and one figure from several metrics.json contents."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from srgan.atomic import write_text
from srgan.evaluate import METRICS
from srgan.report import STYLE, display_name, plt, save_figure


def runs_table(runs: dict[str, dict]) -> pd.DataFrame:
    """One row per (run, dataset, method) from {run label: content of reports/metrics.json}."""
    rows = []
    for run, metrics in runs.items():
        for dataset, methods in metrics.items():
            if dataset == "info" or not isinstance(methods, dict):
                continue
            for method, values in methods.items():
                rows.append({"run": run, "dataset": dataset, "method": display_name(method),
                             **{metric: values.get(metric) for metric in METRICS}})
    return pd.DataFrame(rows, columns=["run", "dataset", "method", *METRICS])


def comparison_markdown(table: pd.DataFrame) -> str:
    """PSNR-Y / SSIM-Y (and LPIPS when known) per dataset and method, one column per run."""
    def cell(row) -> str:
        text = f"{row['psnr_y']:.2f} / {row['ssim_y']:.4f}"
        return text + (f" / {row['lpips']:.4f}" if pd.notna(row["lpips"]) else "")

    shown = table.assign(value=table.apply(cell, axis=1))
    pivot = shown.pivot_table(index=["dataset", "method"], columns="run", values="value", aggfunc="first", sort=False)
    pivot = pivot[list(dict.fromkeys(table["run"]))]
    return ("PSNR-Y (dB) / SSIM-Y [/ LPIPS] per run\n\n"
            + pivot.reset_index().to_markdown(index=False, disable_numparse=True) + "\n")


def comparison_figure(table: pd.DataFrame, out: Path, dpi: int = 150) -> None:
    """Grouped bars of PSNR-Y: methods on the x axis, one bar per run, one panel per dataset."""
    datasets = list(dict.fromkeys(table["dataset"]))
    runs = list(dict.fromkeys(table["run"]))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(datasets), figsize=(max(6.0, 1.2 * table["method"].nunique() * len(runs)),
                                                           4.2), squeeze=False)
        for ax, dataset in zip(axes[0], datasets):
            part = table[table["dataset"] == dataset]
            methods = list(dict.fromkeys(part["method"]))
            width = 0.8 / len(runs)
            for index, run in enumerate(runs):
                values = [part[(part["method"] == m) & (part["run"] == run)]["psnr_y"].mean() for m in methods]
                ax.bar([i + index * width for i in range(len(methods))], values, width, label=run)
            ax.set_xticks([i + 0.4 - width / 2 for i in range(len(methods))], methods)
            low = part["psnr_y"].min()
            ax.set_ylim(low - 2, part["psnr_y"].max() + 1)
            ax.set_title(dataset)
            ax.set_ylabel("PSNR-Y (dB)")
            ax.grid(axis="y", alpha=0.3)
        axes[0][0].legend(fontsize=9)
        fig.tight_layout()
        save_figure(fig, out, dpi)


def write_comparison(runs: dict[str, dict], out_dir: Path, dpi: int = 150) -> pd.DataFrame:
    """comparison.csv, comparison.md and comparison.png in out_dir."""
    table = runs_table(runs)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "comparison.csv", table.to_csv(index=False))
    write_text(out_dir / "comparison.md", comparison_markdown(table))
    comparison_figure(table, out_dir / "comparison.png", dpi)
    return table
