"""How the three training stages run and end (srgan.stages._training): one loop call and one ending for all."""

import json

import numpy as np
import torch

from srgan.config import ExecutionParams, parse_section
from srgan.data.resize import degrade
from srgan.models.generator import Generator
from srgan.models.io import load_generator
from srgan.stages._training import (
    LiveLog,
    Session,
    degradation_workers,
    paired_batches,
    run_store,
    save_and_discard,
    train,
)
from srgan.stages.paths import MODEL_FILES, TRAIN_HR, TRAIN_HR_MARGIN, TRAIN_IDS, TRAIN_LR, training_log
from srgan.train.batches import PairBatches, Prefetched
from srgan.train.checkpoint import RunStore
from srgan.train.distributed import Dist
from srgan.train.pretrain import MSETrainer

CPU = torch.device("cpu")
META = {"name": "SRResNet", "label": "SRResNet", "steps": 2, "trained_with": "pixel MSE"}


def tiny_generator() -> Generator:
    torch.manual_seed(0)
    return Generator(scale=4, blocks=1, channels=8)


def kept_run(tmp_path) -> RunStore:
    store = RunStore(tmp_path / "checkpoints", "pretrain", "f" * 64)
    store.save({"step": 1})
    return store


def test_save_and_discard_writes_the_model_with_how_it_ran_then_forgets_the_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = kept_run(tmp_path)
    generator = tiny_generator()
    save_and_discard("pretrain", "srresnet", generator, META, parse_section("data", {}), session=Session(CPU, Dist()),
                     store=store, execution=parse_section("execution", {}), precision="fp32")
    loaded, meta = load_generator(MODEL_FILES["srresnet"])
    assert list(meta) == [*META, "execution"]  # the metadata's order, as each stage wrote it before
    assert meta["execution"]["device"] == "cpu" and meta["execution"]["processes"] == 1
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), generator.state_dict().values()))
    assert MODEL_FILES["srresnet"].with_suffix(".card.json").exists()
    assert not store.folder.exists() and not store.state.exists()


def test_only_the_first_process_saves_and_discards(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = kept_run(tmp_path)
    save_and_discard("pretrain", "srresnet", tiny_generator(), META, parse_section("data", {}),
                     session=Session(CPU, Dist(rank=1, world=2)), store=store,
                     execution=parse_section("execution", {}), precision="fp32")
    assert not MODEL_FILES["srresnet"].exists()
    assert store.state.exists()


class ClosedBatches(Prefetched):
    closed = False

    def close(self) -> None:
        self.closed = True
        super().close()


def test_train_runs_the_loop_into_the_stage_log_and_stops_the_batches(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    gt = np.stack([np.kron(b, np.ones((4, 4, 1), dtype=np.uint8)) for b in rng.integers(0, 256, (8, 8, 8, 3),
                                                                                         dtype=np.uint8)])
    lq = np.stack([degrade(image, 4) for image in gt])
    params = parse_section("pretrain", {"steps": 2, "batch_size": 4, "log_every": 1, "precision": "fp32",
                                        "lr_decay": {"at": [1, 5]}})
    batches = ClosedBatches(PairBatches(lq, gt, 4, 0, CPU), CPU)
    trainer = MSETrainer(tiny_generator(), batches, params, CPU)
    result = train("pretrain", trainer, params, session=Session(CPU, Dist()),
                   store=RunStore(tmp_path / "checkpoints", "pretrain", "f" * 64), batches=batches, scale=4)
    assert result is trainer.generator and batches.closed
    assert (training_log("pretrain") / "plots" / "metrics" / "train" / "mse.tsv").exists()
    assert json.loads((training_log("pretrain") / "metrics.json").read_text()).keys() <= {"val", "perf", "step"}
    assert "lr_decay.at [1, 5]: step 5 and later are past this run's 2 steps, so no decay happens there" in caplog.text


def test_pretraining_sub_crops_split_over_two_processes_as_one_process_cuts_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1)
    lq = rng.integers(0, 256, (8, 8, 8, 3), dtype=np.uint8)
    TRAIN_LR.parent.mkdir(parents=True)
    np.save(TRAIN_LR, lq)
    np.save(TRAIN_HR, np.stack([np.kron(image, np.ones((4, 4, 1), dtype=np.uint8)) for image in lq]))
    np.save(TRAIN_IDS, np.arange(8))
    data = parse_section("data", {"hr_size": 32})

    def batch(rank: int, world: int) -> tuple:
        return paired_batches(4, 0, Session(CPU, Dist(rank=rank, world=world)), data, crop_size=16)(3)

    whole, halves = batch(0, 1), [batch(rank, 2) for rank in (0, 1)]
    assert whole[0].shape == (4, 3, 4, 4) and whole[1].shape == (4, 3, 16, 16)
    for part in (0, 1):
        assert torch.equal(torch.cat([half[part] for half in halves]), whole[part])
    full = paired_batches(4, 0, Session(CPU, Dist()), data, crop_size=32)(3)
    assert full[1].shape == (4, 3, 32, 32), "a crop_size of the whole crop cuts nothing"


def test_realistic_batches_drawn_by_worker_processes_are_those_drawn_in_the_training_process(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    TRAIN_HR_MARGIN.parent.mkdir(parents=True)
    np.save(TRAIN_HR_MARGIN, np.random.default_rng(2).integers(0, 256, (6, 64, 64, 3), dtype=np.uint8))
    data = parse_section("data", {"hr_size": 32, "degradation": "realistic", "realistic": {"margin": 16}})
    here = paired_batches(2, 0, Session(CPU, Dist()), data)
    workers = paired_batches(2, 0, Session(CPU, Dist(), degradation_workers=2), data)
    for step in range(3):
        for mine, theirs in zip(here(step), workers(step), strict=True):
            assert mine.shape[-1] in (8, 32) and torch.equal(mine, theirs)
    workers.close()


def test_a_killed_run_resumes_only_under_the_degradation_settings_it_drew_its_lr_with(tmp_path, monkeypatch):
    """Realistic LR is drawn while training: a small edit of data.realistic may leave every prepared file as it was,
    yet the rest of the run would draw from other distributions than its first part did."""
    monkeypatch.chdir(tmp_path)

    def folder(**data):
        return run_store("pretrain", {"seed": 0}, parse_section("data", data)).folder

    realistic = folder(degradation="realistic")
    assert folder(degradation="realistic") == realistic
    assert folder(degradation="realistic", realistic={"final_sinc_prob": 0.8001}) != realistic
    assert folder() != realistic
    assert folder(realistic={"final_sinc_prob": 0.8001}) == folder(), "bicubic LR draws nothing: nothing to key"


def test_auto_degradation_workers_are_none_on_a_cpu_and_the_cores_less_two_per_gpu_process(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(16)))
    assert degradation_workers(ExecutionParams(), CPU) == 0
    assert degradation_workers(ExecutionParams(), torch.device("cuda")) == 14
    assert degradation_workers(ExecutionParams(nproc_per_node=4), torch.device("cuda")) == 2
    assert degradation_workers(ExecutionParams(nproc_per_node=16), torch.device("cuda")) == 1
    assert degradation_workers(ExecutionParams(degradation_workers=3), CPU) == 3


def test_the_training_summary_keeps_the_last_validation_and_the_median_throughput(tmp_path):
    """metrics.json (`dvc exp show`): one slow interval (a machine's hiccup) moves the median, not the summary."""
    from dvclive import Live

    with Live(dir=str(tmp_path), report=None, save_dvc_exp=False, dvcyaml=None) as tracker:
        log = LiveLog(tracker)
        for step, rate, psnr in ((10, 30.0, 20.0), (20, 36.0, 21.0), (30, 5.0, 22.0)):
            log.metrics(step, {"train/mse": 0.1, "val/psnr_y": psnr, "perf/images_per_s": rate})
        assert log.summary() == {"val": {"psnr_y": 22.0}, "perf": {"images_per_s": 30.0}}
