"""Stage evaluate@<set>: every method on one evaluation set -> reports/evaluate/<set>/ (metrics, per image, samples)."""

import json

from srgan import backbones
from srgan.atomic import atomic_path, write_json
from srgan.data.crops import load_eval_images
from srgan.devices import pick_device
from srgan.evaluate import Samples, baselines, coverage, evaluate_images, left_out, model_method, summarise
from srgan.interpolation import blend_name
from srgan.metrics import LPIPS
from srgan.models.blend import blend
from srgan.models.io import load_generator
from srgan.precision import resolve_precision
from srgan.stages._stage import eval_set_name, log, read_params, run
from srgan.stages.paths import (
    BACKBONES,
    MODEL_FILES,
    WEIGHTS_RECORD,
    evaluation_metrics,
    evaluation_provenance,
    evaluation_samples,
    evaluation_table,
    prepared_eval,
)

MODEL_FACTS = ("label", "trained_with", "steps", "discriminator", "execution")  # copied from each model's metadata
BLEND_ENDS = (str(MODEL_FILES["srresnet"]), str(MODEL_FILES["srgan"]))  # named in a refusal
NIQE = "NIQE (Mittal et al. 2013, pristine model of the MATLAB release), Y channel, border cropped; lower is better"


def lpips_metric(mode: str, record: dict, device) -> tuple[LPIPS | None, str]:
    if mode == "off":
        return None, "off (evaluate.lpips: off)"
    if record["status"] != "available":
        log.warning("LPIPS UNAVAILABLE: %s", record["reason"])
        return None, f"unavailable: {record['reason']}"
    metric = LPIPS(backbones.load_state_dict(record, BACKBONES), device)
    return metric, "lpips 0.1, AlexNet (torchvision IMAGENET1K_V1)"


def main() -> None:
    p = read_params("execution", "data", "evaluate")
    data, params = p["data"], p["evaluate"]
    name = eval_set_name(data)
    device = pick_device(p["execution"].device, key="execution.device")
    metric, lpips_status = lpips_metric(params.lpips, json.loads(WEIGHTS_RECORD.read_text())["alexnet"], device)
    models = {method: load_generator(path, device) for method, path in MODEL_FILES.items()}
    model_methods = {method: model_method(generator, params.tile, params.precision)
                     for method, (generator, _) in models.items()}
    blends = {blend_name(alpha): model_method(blend(models["srresnet"][0], models["srgan"][0], alpha, BLEND_ENDS),
                                              params.tile, params.precision)
              for alpha in params.interpolation}
    evaluation_samples(name).mkdir(parents=True, exist_ok=True)  # a DVC output even when evaluate.samples is 0
    table = evaluate_images(name, load_eval_images(prepared_eval(name) / "images.npz"),
                            {**baselines(data.scale), **model_methods, **blends}, data.scale, metric, params.niqe,
                            Samples(evaluation_samples(name), params.samples, model_methods))
    with atomic_path(evaluation_table(name)) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    summary = summarise(table)
    gaps = left_out(table, params.niqe)
    for gap in gaps:
        log.warning("%s: %s", name, gap)
    write_json(evaluation_metrics(name), summary)
    write_json(evaluation_provenance(name), {
        "set": name, "source": data.eval[name].source, "degradation": data.eval[name].degradation,
        "draws": data.eval[name].draws, "scale": data.scale, "lpips": lpips_status,
        "niqe": NIQE if params.niqe else "off (evaluate.niqe: false)",
        "interpolation": {blend_name(alpha): f"(1 - {alpha}) * SRResNet + {alpha} * SRGAN, weight by weight"
                          for alpha in params.interpolation},
        "inference": {"precision": resolve_precision(params.precision, device).record(), "tile": params.tile,
                      "device": device.type},
        "images": int(table["image"].nunique()), "means_cover": coverage(table), "left_out": gaps,
        "models": {method: {key: meta.get(key) for key in MODEL_FACTS} for method, (_, meta) in models.items()}})
    for method, values in summary.items():
        log.info("%s %-12s %s", name, method, "  ".join(f"{key} {value:.4g}" for key, value in values.items()))


if __name__ == "__main__":
    run(main)
