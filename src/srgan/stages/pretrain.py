"""Stage pretrain: SRResNet trained with pixel MSE -> models/srresnet.pt, curves in reports/pretrain."""

import numpy as np

from srgan.models.generator import Generator
from srgan.models.io import save_generator
from srgan.stages._stage import CHECKPOINTS, MODELS, PREPARED, fingerprint, live, live_logger, params, run
from srgan.train.common import PairBatches, pick_device, seed_everything
from srgan.train.pretrain import PretrainConfig, pretrain


def main() -> None:
    p = params("seed", "device", "data", "model", "pretrain")
    seed, settings = p["seed"], p["pretrain"]
    device = pick_device(p["device"])
    seed_everything(seed)
    arch = {"scale": p["data"].scale, **p["model"].generator.model_dump()}
    generator = Generator(**arch)
    inputs = [PREPARED / "train_lr.npy", PREPARED / "train_hr.npy"]
    batches = PairBatches(np.load(inputs[0], mmap_mode="r"), np.load(inputs[1], mmap_mode="r"),
                          settings.batch_size, seed, device)
    config = PretrainConfig(**settings.model_dump(exclude={"batch_size"}))
    run_id = fingerprint({"seed": seed, "arch": arch, "pretrain": settings.model_dump(), "device": str(device)}, inputs)
    with live("pretrain") as tracker:
        pretrain(generator, batches, config, checkpoint=CHECKPOINTS / "pretrain.pt", fingerprint=run_id,
                 logger=live_logger(tracker))
    save_generator(MODELS / "srresnet.pt", generator, meta={"name": "SRResNet", "steps": settings.steps})


if __name__ == "__main__":
    run(main)
