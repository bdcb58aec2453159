"""Stage train_unsupervised: SR without LR-HR pairs -> models/unsupervised.pt, curves in reports/train_unsupervised."""

import numpy as np

from srgan.errors import SrganError
from srgan.models.discriminator import Discriminator
from srgan.models.generator import Generator, start_at_bicubic
from srgan.models.io import save_generator
from srgan.stages._stage import (
    CHECKPOINTS,
    MODELS,
    PREPARED,
    LiveLog,
    fingerprint,
    live,
    params,
    run,
    validation_set,
)
from srgan.train.common import pick_device, seed_everything
from srgan.train.unsupervised import (
    LRBatches,
    UnpairedBatches,
    UnsupervisedConfig,
    UnsupervisedTrainer,
    train_unsupervised,
)


def main() -> None:
    p = params("seed", "device", "data", "model", "unsupervised")
    seed, data, settings = p["seed"], p["data"], p["unsupervised"]
    device = pick_device(p["device"])
    seed_everything(seed)
    generator = Generator(scale=data.scale, **p["model"].generator.model_dump())
    if generator.bicubic_skip and generator.arch["norm"] != "spectral":
        start_at_bicubic(generator)
    # The unpaired D judges SR against HR crops; the measurement D judges LR-sized measurements.
    d_size = data.hr_size if settings.mode == "unpaired" else data.hr_size // data.scale
    if d_size % 16:
        raise SrganError(f"params.yaml: unsupervised.mode: measurement compares LR crops of {d_size}px, which must "
                         f"be a multiple of 16; raise data.hr_size to a multiple of {16 * data.scale}")
    discriminator = Discriminator(d_size, **p["model"].discriminator.model_dump())
    inputs = [PREPARED / "train_lr.npy", PREPARED / "train_hr.npy", PREPARED / "train_ids.npy"]
    lr = np.load(inputs[0], mmap_mode="r")
    if settings.mode == "unpaired":
        batches = UnpairedBatches(lr, np.load(inputs[1], mmap_mode="r"), np.load(inputs[2]), settings.batch_size,
                                  seed, device)
    else:
        batches, inputs = LRBatches(lr, settings.batch_size, seed, device), inputs[:1]
    config = UnsupervisedConfig(seed=seed, **settings.model_dump(exclude={"batch_size", "validate_images"}))
    trainer = UnsupervisedTrainer(generator, discriminator, config, device)
    run_id = fingerprint({"seed": seed, "unsupervised": settings.model_dump(), "g": generator.arch,
                          "d": p["model"].discriminator.model_dump(), "device": str(device)}, inputs)
    with live("train_unsupervised") as tracker:
        train_unsupervised(trainer, batches, checkpoint=CHECKPOINTS / "train_unsupervised.pt", fingerprint=run_id,
                           log_to=LiveLog(tracker), validation=validation_set(data, settings))
    save_generator(MODELS / "unsupervised.pt", generator, meta={
        "name": f"Unsupervised ({settings.mode})", "steps": settings.steps, "content_loss": _training(settings.mode)})


def _training(mode: str) -> str:
    if mode == "unpaired":
        return "unpaired: consistency downscale(SR) = LR + adversarial against HR of other images"
    return "measurement domain: adversarial on random measurements F(G(y)) + undoing F; no HR image used"


if __name__ == "__main__":
    run(main)
