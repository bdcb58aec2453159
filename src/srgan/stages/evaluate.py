"""Stage evaluate: PSNR-Y, SSIM-Y, RGB PSNR and LPIPS of every method -> reports/metrics.json and a per-image CSV."""

import pandas as pd

from srgan import backbones
from srgan.atomic import atomic_path, write_json
from srgan.data.crops import load_eval_images
from srgan.data.sources import raw_name
from srgan.evaluate import Samples, baselines, evaluate_images, model_method, summarise
from srgan.metrics import LPIPS
from srgan.models.io import load_generator
from srgan.stages._stage import MODELS, REPORTS, eval_file, log, params, read_weights_record, run
from srgan.train.common import pick_device

MODEL_FILES = {"srresnet": MODELS / "srresnet.pt", "srgan": MODELS / "srgan.pt",
               "unsupervised": MODELS / "unsupervised.pt"}


def lpips_metric(mode: str, record: dict, device) -> tuple[LPIPS | None, str]:
    if mode == "off":
        return None, "off (evaluate.lpips: off)"
    if record["status"] != "available":
        log.warning("LPIPS UNAVAILABLE: %s", record["reason"])
        return None, f"unavailable: {record['reason']}"
    return LPIPS(backbones.load_state_dict(record), device), "lpips 0.1, AlexNet (torchvision IMAGENET1K_V1)"


def main() -> None:
    p = params("device", "data", "evaluate")
    data, settings = p["data"], p["evaluate"]
    device = pick_device(p["device"])
    metric, lpips_status = lpips_metric(settings.lpips, read_weights_record()["alexnet"], device)
    models = {name: load_generator(path, device) for name, path in MODEL_FILES.items()}
    methods = {**baselines(data.scale),
               **{name: model_method(generator, settings.tile) for name, (generator, _) in models.items()}}
    tables = []
    datasets = [raw_name(source) for source in data.eval]
    for source, dataset in zip(data.eval, datasets):
        samples = Samples(REPORTS / "evaluate" / "samples" / dataset, settings.samples,
                          {name: methods[name] for name in models})
        tables.append(evaluate_images(dataset, load_eval_images(eval_file(source)), methods, data.scale, metric,
                                      samples))
    table = pd.concat(tables, ignore_index=True)
    with atomic_path(REPORTS / "evaluate" / "per_image.csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    summary = summarise(table)
    summary["info"] = {"scale": data.scale, "lpips": lpips_status,
                       **{f"{name}_training": meta.get("content_loss", "pixel MSE")
                          for name, (_, meta) in models.items()}}
    write_json(REPORTS / "metrics.json", summary)
    for dataset in datasets:
        for method, values in summary[dataset].items():
            log.info("%s %-9s PSNR-Y %.2f  SSIM-Y %.4f", dataset, method, values["psnr_y"], values["ssim_y"])


if __name__ == "__main__":
    run(main)
