"""Stage train_unsupervised: SR without LR-HR pairs -> models/unsupervised.pt, curves in reports/train_unsupervised."""

from srgan.models.discriminator import Discriminator
from srgan.models.generator import Generator, start_at_bicubic
from srgan.stages._launcher import run_training
from srgan.stages._stage import read_params
from srgan.stages._training import run_store, save_and_discard, start_training, train, training_arrays
from srgan.train.batches import LQBatches, Prefetched, UnpairedBatches
from srgan.train.health import DiscriminatorWatch
from srgan.train.unsupervised import UnsupervisedTrainer

TRAINED_WITH = {
    "unpaired": "unpaired: consistency downscale(SR) = LR + adversarial against HR of other images",
    "measurement": "measurement domain: adversarial on random measurements F(G(y)) + undoing F; no HR image used",
}


def main() -> None:
    p = read_params("seed", "execution", "data", "model", "unsupervised")
    seed, data, params, execution = p["seed"], p["data"], p["unsupervised"], p["execution"]
    session = start_training(execution, seed)
    generator = Generator(scale=data.scale, **p["model"].generator.model_dump())
    if generator.bicubic_skip and generator.arch["norm"] != "spectral":
        start_at_bicubic(generator)
    # The unpaired D judges SR against HR crops; the measurement D judges LR-sized measurements.
    d_size = data.hr_size if params.mode == "unpaired" else data.hr_size // data.scale
    discriminator = Discriminator(d_size, **p["model"].discriminator.model_dump())
    lq, gt, ids = training_arrays()
    rank, world = session.dist.rank, session.dist.world
    if params.mode == "unpaired":
        source = UnpairedBatches(lq, gt, ids, params.batch_size, seed, session.device, rank, world)
    else:
        source = LQBatches(lq, params.batch_size, seed, session.device, rank, world)
    batches = Prefetched(source, session.device)
    trainer = UnsupervisedTrainer(generator, discriminator, batches, params, session.device, seed=seed,
                                  dist=session.dist, compile=execution.compile)
    store = run_store("train_unsupervised", {"seed": seed, "unsupervised": params.model_dump(),
                                             "g": generator.arch, "d": p["model"].discriminator.model_dump()}, data)
    watch = DiscriminatorWatch(start=0)
    result = train("train_unsupervised", trainer, params, session=session, store=store, batches=batches,
                   scale=data.scale, watch=watch)
    save_and_discard("train_unsupervised", "unsupervised", result, {
        "name": f"Unsupervised ({params.mode})", "label": f"Unsupervised ({params.mode})",
        "steps": params.steps, "trained_with": TRAINED_WITH[params.mode], "discriminator": watch.summary()}, data,
        session=session, store=store, execution=execution, precision=params.precision)


if __name__ == "__main__":
    run_training(main)
