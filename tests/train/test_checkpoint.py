"""Run stores: a folder per run keyed by content fingerprints; checkpoints that cannot run code or derail a run."""

import logging
import os
import pathlib
import pickle

import numpy as np
import pytest
import torch
from tests.train.conftest import CPU, assert_same, section, store, tiny_generator

from srgan.train.batches import PairBatches
from srgan.train.checkpoint import RunStore, fingerprint, rng_state, set_rng_state
from srgan.train.pretrain import MSETrainer

LOGGER = "srgan.train.checkpoint"


def test_a_store_keeps_its_run_in_a_folder_named_by_the_fingerprint(tmp_path):
    run = RunStore(tmp_path, "pretrain", "0123456789abcdef" + "9" * 48)
    assert run.folder == tmp_path / "pretrain-0123456789abcdef"
    assert run.state == run.folder / "state.pt" and run.describe() == str(run.state)
    assert run.load() is None  # nothing saved yet: a fresh start, no warning needed
    run.save({"step": 5, "x": torch.ones(2), "history": [{"step": 5, "values": {"a": 1.0}, "images": []}]})
    loaded = run.load()
    assert loaded["step"] == 5 and loaded["fingerprint"] == run.fingerprint
    assert torch.equal(loaded["x"], torch.ones(2)) and loaded["history"][0]["values"] == {"a": 1.0}
    run.discard()
    assert not run.folder.exists() and run.load() is None


def test_a_whole_trainer_state_loads_with_weights_only(pairs, tmp_path):
    # The scheduler's milestones (a Counter), the optimiser and RNG states all pass the safe loader.
    params = section("pretrain", steps=6, lr=1e-3, batch_size=4, lr_decay={"at": [2, 4], "factor": 0.5})
    trainer = MSETrainer(tiny_generator(), PairBatches(*pairs, 4, 0, CPU), params, CPU)
    for index in range(3):
        trainer.step(index)
    run = store(tmp_path)
    run.save({"step": 3, "trainer": trainer.state_dict(), "rng": rng_state()})
    loaded = run.load()
    assert loaded is not None
    assert_same(trainer.state_dict(), loaded["trainer"])
    fresh = MSETrainer(tiny_generator(seed=5), PairBatches(*pairs, 4, 0, CPU), params, CPU)
    fresh.load_state_dict(loaded["trainer"])
    assert_same(trainer.state_dict(), fresh.state_dict())
    assert fresh.optimiser.lr == trainer.optimiser.lr == pytest.approx(5e-4)


def test_rng_state_round_trips():
    saved = rng_state()
    first = torch.rand(3)
    set_rng_state(saved)
    assert torch.equal(torch.rand(3), first)


def test_validation_images_are_kept_in_the_run_folder(tmp_path):
    run = store(tmp_path)
    image = np.random.default_rng(0).integers(0, 256, (12, 10, 3)).astype(np.uint8)
    run.write_image(40, "val/baboon", image)
    assert [path.parent for path in run.folder.rglob("*.png")] == [run.folder / "images"]
    assert np.array_equal(run.read_image(40, "val/baboon"), image)


class Payload:
    """Unpickling this object touches a file: any code could run in its place."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def plant(path: pathlib.Path, payload: dict, how: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if how == "torch.save":
        torch.save(payload, path)
    else:
        with open(path, "wb") as handle:
            pickle.dump(payload, handle, protocol=2)


def unsafe_load(path: pathlib.Path, how: str):
    if how == "torch.save":
        return torch.load(path, map_location="cpu", weights_only=False)
    with open(path, "rb") as handle:
        return pickle.load(handle)


@pytest.mark.parametrize("how", ["torch.save", "pickle"])
def test_a_checkpoint_with_a_pickle_payload_cannot_run_code(tmp_path, caplog, how):
    run = store(tmp_path)
    marker = tmp_path / "owned"
    plant(run.state, {"fingerprint": run.fingerprint, "step": 3, "trainer": Payload(marker)}, how)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert run.load() is None
    assert not marker.exists()
    assert str(run.state) in caplog.text and "not plain data" in caplog.text and "no code in it ran" in caplog.text
    # The payload is real: the old, unsafe loading (weights_only=False) runs it.
    unsafe_load(run.state, how)
    assert marker.exists()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_damaged_checkpoint_is_reported_and_training_starts_over(pairs, tmp_path, caplog, damage):
    run = store(tmp_path)
    run.save({"step": 3, "weights": tiny_generator().state_dict()})
    data = run.state.read_bytes()
    run.state.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"not a checkpoint" * 10,
                           "empty": b""}[damage])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert run.load() is None
    [record] = [record for record in caplog.records if record.name == LOGGER]
    message = record.getMessage()
    assert message.startswith(f"{run.state}: cannot be read (")
    reason = message.split("cannot be read (", 1)[1]
    assert reason.split(":", 1)[0].endswith(("Error", "Exception")), message  # the exception names the reason
    assert "training starts over" in message


def test_a_checkpoint_of_another_run_is_ignored_with_a_warning(tmp_path, caplog):
    mine, other = "a" * 64, "a" * 16 + "b" * 48  # same folder (first 16 hex digits), another run
    store(tmp_path, fingerprint=other).save({"step": 5})
    assert store(tmp_path, fingerprint=other).load()["step"] == 5
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert store(tmp_path, fingerprint=mine).load() is None
    assert f"{store(tmp_path, fingerprint=mine).state}: belongs to another run" in caplog.text
    caplog.clear()
    torch.save([1, 2, 3], store(tmp_path, fingerprint=mine).state)  # readable, but not a checkpoint at all
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert store(tmp_path, fingerprint=mine).load() is None
    assert "belongs to another run" in caplog.text


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "data"
    (folder / "eval").mkdir(parents=True)
    (folder / "train_hr.npy").write_bytes(bytes(range(256)) * 4)
    (folder / "eval" / "a.png").write_bytes(b"image a")
    (folder / "eval" / "b.png").write_bytes(b"image b")
    return [folder / "train_hr.npy", folder / "eval"]


def test_fingerprint_depends_on_content_not_on_mtimes(inputs):
    settings = {"steps": 10, "lr": 1e-4}
    before = fingerprint(settings, inputs)
    assert len(before) == 64 and before == fingerprint(dict(reversed(settings.items())), inputs)
    for path in [inputs[0], inputs[1] / "a.png", inputs[1]]:
        os.utime(path, (1_000_000, 1_000_000))  # a fresh checkout: same bytes, other times
    assert fingerprint(settings, inputs) == before
    data = bytearray(inputs[0].read_bytes())
    data[100] ^= 1
    inputs[0].write_bytes(bytes(data))  # one byte of one file
    changed = fingerprint(settings, inputs)
    assert changed != before
    inputs[0].write_bytes(bytes(range(256)) * 4)
    assert fingerprint(settings, inputs) == before


def test_fingerprint_covers_settings_and_every_file_of_a_folder(inputs):
    settings = {"steps": 10}
    before = fingerprint(settings, inputs)
    assert fingerprint({"steps": 11}, inputs) != before
    (inputs[1] / "b.png").write_bytes(b"image B")
    assert fingerprint(settings, inputs) != before
    (inputs[1] / "b.png").write_bytes(b"image b")
    assert fingerprint(settings, inputs) == before
    (inputs[1] / "b.png").rename(inputs[1] / "c.png")
    assert fingerprint(settings, inputs) != before


def test_fingerprint_covers_the_code(inputs, tmp_path):
    code = tmp_path / "pretrain.py"
    code.write_text("loss = F.mse_loss\n")
    before = fingerprint({"steps": 10}, inputs, {"train/pretrain.py": code})
    assert before != fingerprint({"steps": 10}, inputs)
    code.write_text("loss = F.l1_loss\n")
    assert fingerprint({"steps": 10}, inputs, {"train/pretrain.py": code}) != before
    code.write_text("loss = F.mse_loss\n")
    assert fingerprint({"steps": 10}, inputs, {"train/pretrain.py": code}) == before


def test_a_checkpoint_of_other_code_or_settings_is_named_when_not_resumed(tmp_path, caplog):
    store(tmp_path, name="pretrain", fingerprint="1" * 64).save({"step": 4})
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert store(tmp_path, name="pretrain", fingerprint="2" * 64).load() is None
    assert "pretrain-1111111111111111/state.pt: not resumed: made with other settings, data or code" in caplog.text


def test_a_second_process_on_the_same_run_is_refused_naming_the_holder(pairs, tmp_path):
    """An orphaned or concurrent run with the same fingerprint must not write the same checkpoints."""
    import subprocess
    import sys
    import time

    from srgan.errors import SrganError

    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from srgan.train.checkpoint import RunStore\n"
        f"with RunStore({str(tmp_path)!r}, 'run', 'f' * 64).lock():\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(120)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(SrganError, match=rf"another process \(pid {holder.pid}\) is training this same run"):
            with store(tmp_path).lock():
                pass
        store(tmp_path).discard()  # a finishing run leaves a run another process holds alone
        assert store(tmp_path).lock_file.exists()
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # a killed holder leaves no stale lock
        try:
            with store(tmp_path).lock():
                break
        except SrganError:
            time.sleep(0.05)
    else:
        pytest.fail("the lock outlived its killed holder")
    store(tmp_path).save({"step": 2})
    store(tmp_path).discard()
    assert not list(tmp_path.iterdir())
