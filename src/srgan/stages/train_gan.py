"""Stage train_gan: SRGAN fine-tuning from SRResNet -> models/srgan.pt, curves in reports/train_gan."""

import numpy as np

from srgan import backbones
from srgan.losses import VGG_LAYERS, ContentLoss, VGGFeatures, content_weights_for
from srgan.models.discriminator import Discriminator
from srgan.models.io import load_generator, save_generator
from srgan.stages._stage import (CHECKPOINTS, MODELS, PREPARED, fingerprint, live, live_logger, log, params,
                                 read_weights_record, run)
from srgan.train.common import PairBatches, pick_device, seed_everything
from srgan.train.gan import GanConfig, GanTrainer, train_gan


def content_loss(requested: dict, vgg_record: dict) -> tuple[ContentLoss, str]:
    """The content loss to train with, and how to describe it; loud when VGG19 had to be replaced."""
    available = vgg_record["status"] == "available"
    weights, note = content_weights_for(requested, available, vgg_record.get("reason", ""))
    if note:
        log.warning(note)
    layers = [name for name, weight in weights.items() if name in VGG_LAYERS and weight > 0]
    vgg = VGGFeatures(backbones.load_state_dict(vgg_record), layers) if layers else None
    terms = " + ".join(f"{w:g}*{name}" for name, w in weights.items() if w > 0) or "none"
    return ContentLoss(weights, vgg), note or f"content loss {terms} (VGG19 ImageNet weights)"


def main() -> None:
    p = params("seed", "device", "data", "model", "gan")
    seed, settings = p["seed"], p["gan"]
    device = pick_device(p["device"])
    seed_everything(seed)
    generator, _ = load_generator(MODELS / "srresnet.pt", device)
    discriminator = Discriminator(p["data"].hr_size, **p["model"].discriminator.model_dump())
    content, description = content_loss(settings.content.model_dump(), read_weights_record()["vgg19"])
    config = GanConfig(**settings.model_dump(exclude={"batch_size", "content"}))
    inputs = [PREPARED / "train_lr.npy", PREPARED / "train_hr.npy", MODELS / "srresnet.pt"]
    batches = PairBatches(np.load(inputs[0], mmap_mode="r"), np.load(inputs[1], mmap_mode="r"),
                          settings.batch_size, seed, device)
    run_id = fingerprint({"seed": seed, "gan": settings.model_dump(), "d": p["model"].discriminator.model_dump(),
                          "content": description, "device": str(device)}, inputs)
    trainer = GanTrainer(generator, discriminator, content, config, device)
    with live("train_gan") as tracker:
        train_gan(trainer, batches, checkpoint=CHECKPOINTS / "train_gan.pt", fingerprint=run_id,
                  logger=live_logger(tracker))
    save_generator(MODELS / "srgan.pt", generator, meta={"name": "SRGAN", "steps": settings.steps, "content_loss": description})


if __name__ == "__main__":
    run(main)
