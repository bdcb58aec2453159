"""Stage train_gan: SRGAN fine-tuning -> models/srgan.pt, curves in reports/train_gan."""

from srgan import backbones
from srgan.config import GanParams
from srgan.errors import SrganError
from srgan.losses import VGG_LAYERS, ContentLoss, VGGFeatures, content_weights_for
from srgan.models.discriminator import Discriminator
from srgan.models.generator import Generator
from srgan.models.io import load_generator, save_generator
from srgan.stages._stage import (
    CHECKPOINTS,
    MODELS,
    LiveLog,
    fingerprint,
    growth_for,
    live,
    log,
    params,
    read_weights_record,
    run,
    training_pairs,
    validation_set,
)
from srgan.train.common import pick_device, seed_everything
from srgan.train.gan import GanConfig, GanTrainer, train_gan


def content_loss(requested: dict, vgg_record: dict) -> tuple[ContentLoss, str]:
    """The content loss to train with, and how to describe it; loud when VGG19 had to be replaced."""
    available = vgg_record["status"] == "available"
    weights, note = content_weights_for(requested, available, vgg_record.get("reason", ""))
    if note:
        log.warning(note)
    layers = [name for name, weight in weights.items() if name in VGG_LAYERS and weight > 0]
    vgg = VGGFeatures(backbones.load_state_dict(vgg_record), layers) if layers else None
    terms = " + ".join(f"{w:g}*{name}" for name, w in weights.items() if w > 0) or "none (adversarial only)"
    return ContentLoss(weights, vgg), note or f"content loss {terms}" + (" (VGG19 ImageNet weights)" if vgg else "")


def gan_config(settings: GanParams, seed: int) -> GanConfig:
    return GanConfig(
        steps=settings.steps, adv_weight=settings.adv_weight, adv_schedule=settings.adv_ramp.schedule,
        adv_start=settings.adv_ramp.start, adv_ramp_steps=settings.adv_ramp.steps,
        d_warmup_steps=settings.d_warmup_steps, d_steps=settings.d_steps, replay_size=settings.replay.size,
        replay_fraction=settings.replay.fraction, real_label=settings.real_label, lr_g=settings.lr_g,
        lr_d=settings.lr_d, betas_g=settings.betas_g, betas_d=settings.betas_d,
        lr_decay_at=tuple(settings.lr_decay.at), lr_decay_factor=settings.lr_decay.factor,
        precision=settings.precision, log_every=settings.log_every, checkpoint_every=settings.checkpoint_every,
        validate_every=settings.validate_every, seed=seed)


def main() -> None:
    p = params("seed", "device", "data", "model", "gan")
    seed, data, settings = p["seed"], p["data"], p["gan"]
    device = pick_device(p["device"])
    seed_everything(seed)
    growth = growth_for(settings, data.scale, "gan")
    if settings.init_generator == "pretrained":
        generator, _ = load_generator(MODELS / "srresnet.pt", device)
    else:
        generator = Generator(scale=data.scale, **p["model"].generator.model_dump(),
                              progressive=bool(growth.phase_steps))
    if growth.phase_steps and not generator.side:
        raise SrganError("params.yaml: gan.progressive.phase_steps: the pretrained generator cannot grow; pretrain "
                         "it progressively too (pretrain.progressive) or use gan.init_generator: scratch")
    discriminator = Discriminator(data.hr_size, **p["model"].discriminator.model_dump(),
                                  max_skip=growth.stages - 1 if growth.phase_steps else 0)
    content, description = content_loss(settings.content.model_dump(), read_weights_record()["vgg19"])
    batches, inputs = training_pairs(settings.batch_size, seed, device)
    if settings.init_generator == "pretrained":
        inputs.append(MODELS / "srresnet.pt")
    run_id = fingerprint({"seed": seed, "gan": settings.model_dump(), "g": generator.arch,
                          "d": p["model"].discriminator.model_dump(), "content": description,
                          "device": str(device)}, inputs)
    trainer = GanTrainer(generator, discriminator, content, gan_config(settings, seed), device, growth)
    with live("train_gan") as tracker:
        train_gan(trainer, batches, checkpoint=CHECKPOINTS / "train_gan.pt", fingerprint=run_id,
                  log_to=LiveLog(tracker), validation=validation_set(data, settings))
    save_generator(MODELS / "srgan.pt", generator, meta={
        "name": "SRGAN", "steps": settings.steps, "init": settings.init_generator, "content_loss": description})


if __name__ == "__main__":
    run(main)
