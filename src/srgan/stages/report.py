"""Stage report: comparison figures, training curves, reports/report.md and the comparison page reports/index.html
over the evaluation sets of data.eval."""

import json
from pathlib import Path

import pandas as pd

from srgan.atomic import write_text
from srgan.errors import SrganError
from srgan.html_report import report_viewer, table_spec, write_page
from srgan.interpolation import is_blend
from srgan.models.card import card_paths, with_evaluation, write_card
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
from srgan.stages.paths import (
    CURVES_FIGURE,
    EVALUATED_CARDS,
    FIGURES,
    METRICS_TABLE,
    MODEL_FILES,
    PERCEPTION_DISTORTION_FIGURE,
    REPORT_MARKDOWN,
    REPORT_PAGE,
    REPORTS,
    TRAINING_STAGES,
    evaluation_metrics,
    evaluation_provenance,
    evaluation_samples,
    evaluation_table,
    training_log,
)


def link(path: Path) -> str:
    """A path as the report's pages link to it: relative to reports/."""
    return path.relative_to(REPORTS).as_posix()


PAGE_FIGURES = (link(PERCEPTION_DISTORTION_FIGURE), link(CURVES_FIGURE))


def chosen_samples(folders: dict[str, Path], wanted: list[str]) -> dict[str, list[str]]:
    """{set: the samples to show}: those of report.images the set kept (each must be kept by some set, checked
    for every set before any figure is drawn), or every kept sample (none when evaluate.samples is 0). A samples
    folder is evaluate's output even when empty, so a missing one was not pulled or checked out: a missing input."""
    kept = {}
    for name, samples in folders.items():
        if not samples.is_dir():
            raise FileNotFoundError(2, "No such file or directory", str(samples))
        kept[name] = sorted(path.name for path in samples.iterdir())
    missing = [image for image in wanted if not any(image in have for have in kept.values())]
    if missing:
        raise SrganError(f"params.yaml: report.images: no evaluation set kept samples named {missing} "
                         f"(kept: {kept}); choose among those, or raise evaluate.samples")
    return {name: [image for image in wanted if image in have] if wanted else have for name, have in kept.items()}


def write_index(viewers: list[dict], table: pd.DataFrame, scale: int, provenance: dict[str, dict],
                figures: dict[str, str]) -> None:
    """The report page: the viewers, the metrics table per set, the provenance and the two summary figures."""
    metrics = shown_metrics(table)
    write_page(REPORT_PAGE, "srgan-dvc report", scale, viewers,
               tables=[table_spec(name, table[table["dataset"] == name].to_dict("records"), metrics,
                                  caption(metrics, scale)) for name in provenance],
               notes=[{"title": f"{name} ({info.get('source', name)})", "items": provenance_items(info)}
                      for name, info in provenance.items()],
               figures=[{"title": title, "src": path} for title, path in figures.items() if path in PAGE_FIGURES])


def main() -> None:
    p = read_params("data", "report")
    params, scale = p["report"], p["data"].scale
    sets = list(p["data"].eval)
    metrics = {name: json.loads(evaluation_metrics(name).read_text()) for name in sets}
    provenance = {name: json.loads(evaluation_provenance(name).read_text()) for name in sets}
    labels = {name: model_labels(provenance[name]) for name in sets}
    shown = chosen_samples({name: evaluation_samples(name) for name in sets}, params.images)
    figures, viewers = {}, []
    for name in sets:
        table = pd.read_csv(evaluation_table(name))
        samples, names = evaluation_samples(name), shown[name]
        if not names:
            log.info("%s: no samples to show (evaluate.samples: 0, or none of report.images), so no comparison "
                     "figures", name)
            continue
        viewers.append(report_viewer(name, samples, names, list(dict.fromkeys(table["method"])), scale, labels[name],
                                     REPORTS))
        out = FIGURES / f"comparison_{name}.png"
        comparison_figure(samples, names, table, scale, params.zoom, out, params.dpi, labels=labels[name])
        figures[f"Comparison on {name}"] = link(out)
        models = [m for m in dict.fromkeys(table["method"]) if m not in (*BASELINES, REFERENCE) and not is_blend(m)]
        for model in models:
            out = FIGURES / f"grid_{name}_{model}.png"
            comparison_figure(samples, names, table, scale, params.zoom, out, params.dpi,
                              columns=model_grid_columns(model), labels=labels[name])
            label = display_name(model, labels[name])
            figures[f"{label} on {name}: LR | SR | HR | UR"] = link(out)
    table = metrics_table(metrics, labels)
    axis = perception_distortion_figure(table, PERCEPTION_DISTORTION_FIGURE, params.dpi)
    if axis:
        figures[f"Perception-distortion (PSNR-Y against {axis.upper()})"] = link(PERCEPTION_DISTORTION_FIGURE)
    curves_figure({stage: read_curves(training_log(stage)) for stage in TRAINING_STAGES}, CURVES_FIGURE, params.dpi)
    figures["Training curves"] = link(CURVES_FIGURE)
    write_text(METRICS_TABLE, latex_table(table, scale))
    write_text(REPORT_MARKDOWN, markdown_report(table, scale, provenance, figures, link(METRICS_TABLE)))
    write_index(viewers, table, scale, provenance, figures)
    write_evaluated_cards(metrics, provenance)


def write_evaluated_cards(metrics: dict[str, dict], provenance: dict[str, dict]) -> None:
    """reports/cards/: each model's card (models/<name>.card.json, written with the model) with its metrics on
    every evaluation set, which exist only once evaluate has run."""
    for model, path in MODEL_FILES.items():
        card = json.loads(card_paths(path)[0].read_text())
        evaluations = {f"{name} ({info.get('source', name)}, {info.get('degradation', 'bicubic')}, "
                       f"{info.get('images')} images)": metrics[name][model]
                       for name, info in provenance.items() if model in metrics[name]}
        write_card(path, with_evaluation(card, evaluations), EVALUATED_CARDS)


if __name__ == "__main__":
    run(main)
