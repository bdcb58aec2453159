"""Stage pretrain: SRResNet trained with pixel MSE -> models/srresnet.pt, curves in reports/pretrain."""

from srgan.models.generator import Generator
from srgan.models.io import save_generator
from srgan.stages._stage import (
    CHECKPOINTS,
    MODELS,
    LiveLog,
    fingerprint,
    growth_for,
    live,
    params,
    run,
    training_pairs,
    validation_set,
)
from srgan.train.common import pick_device, seed_everything
from srgan.train.pretrain import PretrainConfig, pretrain


def main() -> None:
    p = params("seed", "device", "data", "model", "pretrain")
    seed, data, settings = p["seed"], p["data"], p["pretrain"]
    device = pick_device(p["device"])
    seed_everything(seed)
    growth = growth_for(settings, data.scale, "pretrain")
    generator = Generator(scale=data.scale, **p["model"].generator.model_dump(), progressive=bool(growth.phase_steps))
    batches, inputs = training_pairs(settings.batch_size, seed, device)
    config = PretrainConfig(**settings.model_dump(exclude={"batch_size", "validate_images", "progressive"}))
    run_id = fingerprint({"seed": seed, "arch": generator.arch, "pretrain": settings.model_dump(),
                          "device": str(device)}, inputs)
    with live("pretrain") as tracker:
        pretrain(generator, batches, config, checkpoint=CHECKPOINTS / "pretrain.pt", fingerprint=run_id,
                 log_to=LiveLog(tracker), validation=validation_set(data, settings), growth=growth)
    save_generator(MODELS / "srresnet.pt", generator, meta={"name": "SRResNet", "steps": settings.steps})


if __name__ == "__main__":
    run(main)
