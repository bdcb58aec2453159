"""Stage train_gan: SRGAN fine-tuning -> models/srgan.pt, curves in reports/train_gan."""

import json

from srgan import backbones
from srgan.config import GanParams
from srgan.losses import VGG_LAYERS, ContentLoss, VGGFeatures, content_weights_for
from srgan.models.discriminator import Discriminator
from srgan.models.generator import Generator
from srgan.models.io import load_generator
from srgan.stages._launcher import run_training
from srgan.stages._stage import log, read_params
from srgan.stages._training import paired_batches, run_store, save_and_discard, start_training, train
from srgan.stages.paths import BACKBONES, MODEL_FILES, WEIGHTS_RECORD
from srgan.train.gan import GanTrainer
from srgan.train.health import DiscriminatorWatch

TERM_LABELS = {"mse": "MSE", "l1": "L1", "vgg22": "VGG22", "vgg54": "VGG54", "feature_matching": "FM",
               "low_pass": "LP", "artifacts": "LDL"}


def content_loss(params: GanParams, vgg_record: dict) -> tuple[ContentLoss, dict, str]:
    """The content loss to train with, the weights it really uses, and how to describe it; loud when VGG19
    had to be replaced by pixel MSE."""
    requested = params.content.model_dump()
    weights, note = content_weights_for(requested, vgg_record["status"] == "available", vgg_record.get("reason", ""))
    if note:
        log.warning(note)
    layers = [name for name, weight in weights.items() if name in VGG_LAYERS and weight > 0]
    vgg = VGGFeatures(backbones.load_state_dict(vgg_record, BACKBONES), layers) if layers else None
    terms = " + ".join(f"{w:g}*{name}" for name, w in weights.items() if w > 0) or "none (adversarial only)"
    return ContentLoss(weights, vgg), weights, note or f"content loss {terms}" + (
        " (VGG19 ImageNet weights)" if vgg else "")


def label(weights: dict, adversarial: str) -> str:
    """What the model was trained as, in the paper's naming: SRGAN-MSE, SRGAN-VGG54, ... (RaGAN: relativistic)."""
    terms = "+".join(TERM_LABELS[name] for name, weight in weights.items() if weight > 0) or "adv"
    return f"SRGAN-{terms}" + (" (RaGAN)" if adversarial == "relativistic" else "")


def main() -> None:
    p = read_params("seed", "execution", "data", "model", "gan")
    seed, data, params, execution = p["seed"], p["data"], p["gan"], p["execution"]
    session = start_training(execution, seed)
    growing = bool(params.progressive.phase_steps)
    if params.init_generator == "pretrained":
        generator, _ = load_generator(MODEL_FILES["srresnet"], session.device)
    else:
        generator = Generator(scale=data.scale, **p["model"].generator.model_dump(), progressive=growing)
    discriminator = Discriminator(data.hr_size, **p["model"].discriminator.model_dump(),
                                  max_skip=generator.upsample_steps - 1 if growing else 0)
    content, weights, description = content_loss(params, json.loads(WEIGHTS_RECORD.read_text())["vgg19"])
    batches = paired_batches(params.batch_size, seed, session, data)
    trainer = GanTrainer(generator, discriminator, content, batches, params, session.device, seed=seed,
                         dist=session.dist, compile=execution.compile)
    inputs = (MODEL_FILES["srresnet"],) if params.init_generator == "pretrained" else ()
    store = run_store("train_gan", {"seed": seed, "gan": params.model_dump(), "g": generator.arch,
                                    "d": p["model"].discriminator.model_dump(), "content": description}, data, inputs)
    watch = DiscriminatorWatch(start=params.d_warmup_steps)
    result = train("train_gan", trainer, params, session=session, store=store, batches=batches, scale=data.scale,
                   watch=watch)
    save_and_discard("train_gan", "srgan", result, {
        "name": "SRGAN", "label": label(weights, params.adversarial), "steps": params.steps,
        "init": params.init_generator, "trained_with": description, "discriminator": watch.summary()}, data,
        session=session, store=store, execution=execution, precision=params.precision)


if __name__ == "__main__":
    run_training(main)
