"""Comparing runs (commits, experiments): one table and two figures from several runs' evaluation metrics.

A run is {set: that evaluation set's metrics ({method: {metric: value}})}. Figures and tables name runs r1, r2, ...
so that they stay slide-sized however many params differ; a key table beside them says which revision each is
and the params that differ between the runs, so a sweep of gan.adv_weight reads as one.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

from srgan.atomic import write_text
from srgan.errors import SrganError
from srgan.evaluate import METRICS
from srgan.html_report import runs_viewer, table_spec, write_page
from srgan.report import STYLE, display_name, perception_distortion_figure, save_figure

IGNORED_PARAMS = ("execution.",)  # how a run was executed never names it
SLIDE_WIDTH = 13.3  # inches: a 16:9 slide


def check_metrics(where: str, metrics: object) -> dict:
    """A set's metrics as {method: {metric: number}}, or an error that starts with `where` (the run and the set)."""
    if not isinstance(metrics, dict):
        raise SrganError(f"{where}: expected a mapping of methods, got {type(metrics).__name__}")
    for method, values in metrics.items():
        if not isinstance(values, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                   for v in values.values()):
            raise SrganError(f"{where}: method {method!r} does not map metric names to numbers (another schema?)")
    return metrics


def runs_table(runs: dict[str, dict[str, dict]]) -> pd.DataFrame:
    """One row per (run, dataset, method) from {run: {set: metrics}}."""
    rows = [{"run": run, "dataset": dataset, "method": display_name(method),
             **{metric: values.get(metric) for metric in METRICS}}
            for run, sets in runs.items() for dataset, methods in sets.items()
            for method, values in check_metrics(f"{run}: the metrics of {dataset}", methods).items()]
    return pd.DataFrame(rows, columns=["run", "dataset", "method", *METRICS])


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def differing_params(params: dict[str, dict]) -> dict[str, str]:
    """{run: 'key=value, ...'} of the params whose values differ between the runs (execution settings aside)."""
    flat = {run: flatten(values) for run, values in params.items()}
    keys = sorted({key for values in flat.values() for key in values if not key.startswith(IGNORED_PARAMS)})
    differ = [key for key in keys if len({repr(values.get(key)) for values in flat.values()}) > 1]
    return {run: ", ".join(f"{key}={values.get(key)}" for key in differ) for run, values in flat.items()}


def run_key(labels: list[str], differing: dict[str, str], notes: dict[str, str] | None = None) -> pd.DataFrame:
    """The key of the short run names: run (r1, r2, ...), revision, the params that differ, and a note."""
    notes = notes or {}
    return pd.DataFrame([{"run": f"r{index}", "revision": label, "params": differing.get(label) or "(the same)",
                          "note": notes.get(label, "")} for index, label in enumerate(labels, 1)],
                        columns=["run", "revision", "params", "note"])


def key_markdown(key: pd.DataFrame) -> str:
    shown = key if key["note"].astype(bool).any() else key.drop(columns="note")
    return shown.to_markdown(index=False, disable_numparse=True) + "\n"


def comparison_markdown(table: pd.DataFrame) -> str:
    """PSNR-Y / SSIM-Y (and NIQE, LPIPS when known) per dataset and method, one column per run."""
    extra = [metric for metric in ("niqe", "lpips") if table[metric].notna().any()]

    def cell(row) -> str:
        if pd.isna(row["psnr_y"]):
            return " / ".join(["–", "–", *(f"{row[m]:.4f}" if pd.notna(row[m]) else "–" for m in extra)])
        return " / ".join([f"{row['psnr_y']:.2f}", f"{row['ssim_y']:.4f}",
                           *(f"{row[m]:.4f}" if pd.notna(row[m]) else "–" for m in extra)])

    shown = table.assign(value=table.apply(cell, axis=1))
    pivot = shown.pivot_table(index=["dataset", "method"], columns="run", values="value", aggfunc="first", sort=False)
    pivot = pivot[list(dict.fromkeys(table["run"]))].fillna("–")  # a run without that set or method
    header = " / ".join(["PSNR-Y (dB)", "SSIM-Y", *(metric.upper() for metric in extra)])
    return f"{header} per run\n\n" + pivot.reset_index().to_markdown(index=False, disable_numparse=True) + "\n"


def bars_figure(table: pd.DataFrame, out: Path, dpi: int = 150) -> None:
    """Grouped bars of PSNR-Y from 0 dB, each labelled with its value: methods on x, one bar per run."""
    table = table[table["psnr_y"].notna()]
    datasets = list(dict.fromkeys(table["dataset"]))
    runs = list(dict.fromkeys(table["run"]))
    with matplotlib.rc_context(STYLE):
        width = min(SLIDE_WIDTH, max(6.0, 1.1 * table["method"].nunique() * len(runs)) * len(datasets))
        fig = Figure(figsize=(width, 4.8))
        axes = fig.subplots(1, len(datasets), squeeze=False)
        for ax, dataset in zip(axes[0], datasets):
            part = table[table["dataset"] == dataset]
            methods = list(dict.fromkeys(part["method"]))
            width = 0.8 / len(runs)
            for index, run in enumerate(runs):
                values = [part[(part["method"] == m) & (part["run"] == run)]["psnr_y"].mean() for m in methods]
                bars = ax.bar([i + index * width for i in range(len(methods))], values, width, label=run)
                if len(runs) <= 4:  # more bars than that leave no room for their values: the table has them
                    ax.bar_label(bars, fmt="%.2f", fontsize=7, rotation=90, padding=2)
            ax.set_xticks([i + 0.4 - width / 2 for i in range(len(methods))], methods)
            ax.set_ylim(0, part["psnr_y"].max() * 1.15)
            ax.set_title(dataset)
            ax.set_ylabel("PSNR-Y (dB), axis from 0")
            ax.grid(axis="y", alpha=0.3)
        axes[0][0].legend(fontsize=8, loc="lower right", ncol=1 + len(runs) // 8)
        fig.tight_layout()
        save_figure(fig, out, dpi)


def write_comparison(runs: dict[str, dict[str, dict]], out_dir: Path, dpi: int = 150,
                     key: pd.DataFrame | None = None) -> pd.DataFrame:
    """comparison.csv, comparison.md, comparison.png (PSNR-Y bars) and tradeoff.png (perception-distortion,
    one point per method and run: a sweep traces the tradeoff) in out_dir, and with a key, runs.csv (the key
    of the run names) and the key at the top of comparison.md."""
    table = runs_table(runs)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "comparison.csv", table.to_csv(index=False))
    markdown = comparison_markdown(table)
    if key is not None:
        write_text(out_dir / "runs.csv", key.to_csv(index=False))
        markdown = "Runs\n\n" + key_markdown(key) + "\n" + markdown
    write_text(out_dir / "comparison.md", markdown)
    bars_figure(table, out_dir / "comparison.png", dpi)
    perception_distortion_figure(table, out_dir / "tradeoff.png", dpi, series="run",
                                 title="Perception-distortion across runs")
    return table


def write_comparison_page(out_dir: Path, table: pd.DataFrame, samples: dict[str, dict[str, dict[str, dict[str, Path]]]],
                          scale: int) -> None:
    """out_dir/index.html: per set, a viewer of the same image and method from every run (samples: {run: {set:
    {image: {key: PNG}}}}, runs named by the params that differ), the table and the two figures."""
    sets = list(dict.fromkeys(name for run in samples.values() for name in run))
    viewers = []
    for name in sets:
        runs = {run: sets_[name] for run, sets_ in samples.items() if name in sets_}
        images = [image for image in next(iter(runs.values())) if all(image in r for r in runs.values())]
        if images:
            viewers.append(runs_viewer(name, {image: {run: r[image] for run, r in runs.items()} for image in images},
                                       scale, out_dir))
    metrics = [m for m in METRICS if table[m].notna().any()]
    write_page(out_dir / "index.html", "srgan-dvc: runs compared", scale, viewers,
               tables=[table_spec(name, table[table["dataset"] == name].to_dict("records"), metrics,
                                  names=(("run", "Run"), ("method", "Method")))
                       for name in dict.fromkeys(table["dataset"])],
               notes=[{"title": "Runs (named by the params that differ)", "items": [[run, ""] for run in samples]}],
               figures=[{"title": title, "src": src} for title, src in (("PSNR-Y per run", "comparison.png"),
                        ("Perception-distortion across runs", "tradeoff.png")) if (out_dir / src).exists()])
