"""Scaling out, with the real pipeline: 2 data-parallel gloo processes started by the stages themselves
(torchrun) match 1 process, and queued experiments run on two workers. A killed 2-process run is in
test_pipeline_distributed_resume.py, a file of its own so that `--dist loadfile` gives it to the other worker."""

import json

import pytest
import torch
from tests.conftest import wait_for_queue

from srgan.models.io import load_generator

MODELS = ("srresnet", "srgan", "unsupervised")


def longer(p, processes=1):
    p["execution"].update(nproc_per_node=processes, device="cpu")
    # Whole crops: from an SRResNet trained on 16-px sub-crops, 6 GAN steps on 2 processes end 1.6e-4 from 1 process
    # in one weight (Adam's normalised steps turn 1e-7 gradient differences into lr-sized ones); from this one, within
    # 1e-4. The sub-crops themselves split over processes exactly (tests/stages/test_training.py).
    p["pretrain"].update(steps=8, batch_size=4, log_every=2, validate_every=4, crop_size=0)
    p["gan"].update(steps=6, batch_size=4, log_every=2, validate_every=3, replay={"size": 8, "fraction": 0.5},
                    adv_ramp={"schedule": "constant", "start": 0.0, "steps": 0})
    p["unsupervised"].update(steps=6, batch_size=4, log_every=2, validate_every=3)


TRAINING = ("pretrain", "train_gan", "train_unsupervised")


@pytest.fixture(scope="module")
def one(copy_tiny_run):
    """The training stages on 1 process (evaluation is not distributed: the experiments below run it)."""
    project = copy_tiny_run(lambda p: longer(p, 1))
    project.dvc("repro", *TRAINING)
    project.commit("baseline")  # experiments then rerun only what their params touch
    return project


@pytest.fixture(scope="module")
def two(copy_tiny_run):
    project = copy_tiny_run(lambda p: longer(p, 2))
    project.run_result = project.dvc("repro", *TRAINING)
    return project


def test_two_processes_train_as_one(one, two):
    """Same global batch, synchronised BatchNorm, averaged gradients: 2 processes end where 1 does, to float
    rounding (sums over the batch are added in another order; after a few Adam steps the weights of this
    BatchNorm generator differ by ~1e-6 of their scale, and 1e-4 leaves room for summation order on any CPU)."""
    assert "starting 2 process(es)" in two.run_result.stdout + two.run_result.stderr
    for name in MODELS:
        single, meta_one = load_generator(one.root / "models" / f"{name}.pt")
        double, meta_two = load_generator(two.root / "models" / f"{name}.pt")
        assert meta_one["execution"]["processes"] == 1 and meta_two["execution"]["processes"] == 2
        for key, value in single.state_dict().items():
            torch.testing.assert_close(double.state_dict()[key], value, atol=1e-4, rtol=1e-4, msg=f"{name}.{key}")


def test_queued_experiments_run_on_two_workers(one):
    one.dvc("exp", "run", "--queue", "-S", "gan.lr_g=0.001,0.01")  # a grid: one queued experiment per value
    one.dvc("queue", "start", "--jobs", "2")
    states = wait_for_queue(one.root)
    assert list(states.values()) == ["Success", "Success"], one.dvc("queue", "status").stdout
    experiments = json.loads(one.dvc("exp", "show", "--json").stdout)
    found = {}
    for commit in experiments:
        for exp in commit.get("experiments") or []:
            data = exp["revs"][0]["data"]
            weight = data["params"]["params.yaml"]["data"]["gan"]["lr_g"]
            found[weight] = data["metrics"]["reports/evaluate/skimage/metrics.json"]["data"]["srgan"]["psnr_y"]
    assert set(found) == {0.001, 0.01}
    assert found[0.001] != found[0.01]
