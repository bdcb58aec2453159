"""Stage pretrain: SRResNet trained with pixel MSE -> models/srresnet.pt, curves in reports/pretrain."""

from srgan.models.generator import Generator
from srgan.stages._stage import read_params, run
from srgan.stages._training import (
    run_store,
    save_model,
    start_training,
    training_arrays,
    training_log_for,
    validation_set,
)
from srgan.stages.paths import MODEL_FILES
from srgan.train.batches import PairBatches, Prefetched
from srgan.train.loop import run_loop
from srgan.train.pretrain import MSETrainer


def main() -> None:
    p = read_params("seed", "execution", "data", "model", "pretrain")
    seed, data, params, execution = p["seed"], p["data"], p["pretrain"], p["execution"]
    session = start_training(execution, seed)
    generator = Generator(scale=data.scale, **p["model"].generator.model_dump(),
                          progressive=bool(params.progressive.phase_steps))
    lq, gt, _ = training_arrays()
    batches = Prefetched(PairBatches(lq, gt, params.batch_size, seed, session.device, session.dist.rank,
                                     session.dist.world), session.device)
    trainer = MSETrainer(generator, batches, params, session.device, session.dist, execution.compile)
    store = run_store("pretrain", {"seed": seed, "arch": generator.arch, "pretrain": params.model_dump()})
    with training_log_for("pretrain", session.dist.is_main) as log_to:
        result = run_loop(trainer, params, store=store, log_to=log_to, dist=session.dist,
                          validation=validation_set(params.validate_every, data.scale))
    batches.close()
    if session.dist.is_main:
        save_model("pretrain", MODEL_FILES["srresnet"], result, {
            "name": "SRResNet", "label": "SRResNet", "steps": params.steps, "trained_with": "pixel MSE",
            "execution": session.describe(execution, params.precision)}, data)
        store.discard()


if __name__ == "__main__":
    run(main, training=True)
