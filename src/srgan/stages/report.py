"""Stage report: comparison figure, training curves and reports/report.md."""

import json

import pandas as pd

from srgan.atomic import write_text
from srgan.errors import SrganError
from srgan.report import (
    BASELINES,
    comparison_figure,
    curves_figure,
    display_name,
    latex_table,
    markdown_report,
    metrics_table,
    model_grid_columns,
    perception_distortion_figure,
    read_curves,
)
from srgan.stages._stage import REPORTS, params, run


def main() -> None:
    settings = params("report")["report"]
    metrics = json.loads((REPORTS / "metrics.json").read_text())
    info = metrics.get("info", {})
    per_image = pd.read_csv(REPORTS / "evaluate" / "per_image.csv")
    figures_dir = REPORTS / "figures"
    figures = {}
    for dataset_dir in sorted((REPORTS / "evaluate" / "samples").iterdir()):
        names = settings.images or sorted(p.name for p in dataset_dir.iterdir())
        missing = [name for name in names if not (dataset_dir / name).is_dir()]
        if missing:
            raise SrganError(f"params.yaml: report.images: no samples for {missing} in {dataset_dir}; "
                             f"have {sorted(p.name for p in dataset_dir.iterdir())} (raise evaluate.samples)")
        dataset = dataset_dir.name
        table = per_image[per_image["dataset"] == dataset]
        out = figures_dir / f"comparison_{dataset}.png"
        comparison_figure(dataset_dir, names, table, info["scale"], settings.zoom, out, settings.dpi)
        figures[f"Comparison on {dataset}"] = out.relative_to(REPORTS).as_posix()
        for model in (m for m in dict.fromkeys(table["method"]) if m not in BASELINES):
            out = figures_dir / f"grid_{dataset}_{model}.png"
            comparison_figure(dataset_dir, names, table, info["scale"], settings.zoom, out, settings.dpi,
                              columns=model_grid_columns(model))
            figures[f"{display_name(model)} on {dataset}: LR | SR | HR | UR"] = out.relative_to(REPORTS).as_posix()
    table = metrics_table(metrics)
    axis = perception_distortion_figure(table, figures_dir / "perception_distortion.png", settings.dpi)
    figures[f"Perception-distortion (PSNR-Y against {axis})"] = "figures/perception_distortion.png"
    runs = {name: read_curves(REPORTS / name) for name in ("pretrain", "train_gan", "train_unsupervised")}
    curves_figure(runs, figures_dir / "training_curves.png", settings.dpi)
    figures["Training curves"] = "figures/training_curves.png"
    write_text(REPORTS / "metrics_table.tex", latex_table(table, info["scale"]))
    write_text(REPORTS / "report.md", markdown_report(table, info, figures))


if __name__ == "__main__":
    run(main)
