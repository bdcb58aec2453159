"""Stage report: comparison figures, training curves, reports/report.md and the comparison page reports/index.html
over the evaluation sets of data.eval."""

import json
from pathlib import Path

import pandas as pd

from srgan.atomic import write_text
from srgan.errors import SrganError
from srgan.html_report import report_viewer, table_spec, write_page
from srgan.interpolation import is_blend
from srgan.report import (
    BASELINES,
    REFERENCE,
    caption,
    comparison_figure,
    curves_figure,
    display_name,
    latex_table,
    markdown_report,
    metrics_table,
    model_grid_columns,
    model_labels,
    perception_distortion_figure,
    provenance_items,
    read_curves,
    shown_metrics,
)
from srgan.stages._stage import log, read_params, run
from srgan.stages.paths import FIGURES, REPORTS, evaluation, training_log

PAGE_FIGURES = ("figures/perception_distortion.png", "figures/training_curves.png")


def sample_names(samples: Path, wanted: list[str], dataset: str) -> list[str]:
    """The samples to show: report.images, or every kept sample (none when evaluate.samples is 0). The folder is
    evaluate's output even when empty, so a missing one was not pulled or checked out: a missing stage input."""
    if not samples.is_dir():
        raise FileNotFoundError(2, "No such file or directory", str(samples))
    have = sorted(p.name for p in samples.iterdir())
    missing = [name for name in wanted if name not in have]
    if missing:
        raise SrganError(f"params.yaml: report.images: no samples for {missing} in {dataset} (have {have}); "
                         "choose among those, or raise evaluate.samples")
    return wanted or have


def write_index(viewers: list[dict], table: pd.DataFrame, scale: int, provenance: dict[str, dict],
                figures: dict[str, str]) -> None:
    """reports/index.html: the viewers, the metrics table per set, the provenance and the two summary figures."""
    metrics = shown_metrics(table)
    write_page(REPORTS / "index.html", "srgan-dvc report", scale, viewers,
               tables=[table_spec(name, table[table["dataset"] == name].to_dict("records"), metrics,
                                  caption(metrics, scale)) for name in provenance],
               notes=[{"title": f"{name} ({info.get('source', name)})", "items": provenance_items(info)}
                      for name, info in provenance.items()],
               figures=[{"title": title, "src": path} for title, path in figures.items() if path in PAGE_FIGURES])


def main() -> None:
    p = read_params("data", "report")
    params, scale = p["report"], p["data"].scale
    sets = list(p["data"].eval)
    metrics = {name: json.loads((evaluation(name) / "metrics.json").read_text()) for name in sets}
    provenance = {name: json.loads((evaluation(name) / "provenance.json").read_text()) for name in sets}
    labels = {name: model_labels(provenance[name]) for name in sets}
    figures, viewers = {}, []
    for name in sets:
        table = pd.read_csv(evaluation(name) / "per_image.csv")
        samples = evaluation(name) / "samples"
        names = sample_names(samples, params.images, name)
        if not names:
            log.info("%s: no samples kept (evaluate.samples: 0), so no comparison figures", name)
            continue
        viewers.append(report_viewer(name, samples, names, list(dict.fromkeys(table["method"])), scale, labels[name],
                                     REPORTS))
        out = FIGURES / f"comparison_{name}.png"
        comparison_figure(samples, names, table, scale, params.zoom, out, params.dpi, labels=labels[name])
        figures[f"Comparison on {name}"] = out.relative_to(REPORTS).as_posix()
        models = [m for m in dict.fromkeys(table["method"]) if m not in (*BASELINES, REFERENCE) and not is_blend(m)]
        for model in models:
            out = FIGURES / f"grid_{name}_{model}.png"
            comparison_figure(samples, names, table, scale, params.zoom, out, params.dpi,
                              columns=model_grid_columns(model), labels=labels[name])
            label = display_name(model, labels[name])
            figures[f"{label} on {name}: LR | SR | HR | UR"] = out.relative_to(REPORTS).as_posix()
    table = metrics_table(metrics, labels)
    axis = perception_distortion_figure(table, FIGURES / "perception_distortion.png", params.dpi)
    if axis:
        figures[f"Perception-distortion (PSNR-Y against {axis.upper()})"] = "figures/perception_distortion.png"
    runs = {stage: read_curves(training_log(stage)) for stage in ("pretrain", "train_gan", "train_unsupervised")}
    curves_figure(runs, FIGURES / "training_curves.png", params.dpi)
    figures["Training curves"] = "figures/training_curves.png"
    write_text(REPORTS / "metrics_table.tex", latex_table(table, scale))
    write_text(REPORTS / "report.md", markdown_report(table, scale, provenance, figures))
    write_index(viewers, table, scale, provenance, figures)

if __name__ == "__main__":
    run(main)
