"""Stage pretrain: SRResNet trained with pixel MSE -> models/srresnet.pt, curves in reports/pretrain."""

from srgan.models.generator import Generator
from srgan.stages._launcher import run_training
from srgan.stages._stage import read_params
from srgan.stages._training import paired_batches, run_store, save_and_discard, start_training, train
from srgan.train.pretrain import MSETrainer


def main() -> None:
    p = read_params("seed", "execution", "data", "model", "pretrain")
    seed, data, params, execution = p["seed"], p["data"], p["pretrain"], p["execution"]
    session = start_training(execution, seed)
    generator = Generator(scale=data.scale, **p["model"].generator.model_dump(),
                          progressive=bool(params.progressive.phase_steps))
    batches = paired_batches(params.batch_size, seed, session, data, params.crop_size)
    trainer = MSETrainer(generator, batches, params, session.device, session.dist, execution.compile)
    store = run_store("pretrain", {"seed": seed, "arch": generator.arch, "pretrain": params.model_dump()}, data)
    result = train("pretrain", trainer, params, session=session, store=store, batches=batches, scale=data.scale)
    save_and_discard("pretrain", "srresnet", result, {
        "name": "SRResNet", "label": "SRResNet", "steps": params.steps, "trained_with": "pixel MSE"}, data,
        session=session, store=store, execution=execution, precision=params.precision)


if __name__ == "__main__":
    run_training(main)
