"""kill -9 in the middle of train_gan, then `dvc repro`: training resumes and ends with the same files."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch


def test_killed_training_resumes_to_the_same_files(copy_tiny_run):
    project = copy_tiny_run(lambda p: p["gan"].update(  # pretrained already: only the GAN stage is out of date
        steps=40, checkpoint_every=10, log_every=10, validate_every=20, d_warmup_steps=10,
        replay={"size": 8, "fraction": 0.5}, adv_ramp={"schedule": "linear", "start": 0.0, "steps": 30}))
    root = project.root
    checkpoint = project.kill_during("train_gan", "checkpoints/train_gan-*/state.pt")
    step = torch.load(checkpoint, map_location="cpu", weights_only=False)["step"]
    assert 0 < step < 40
    assert not (root / "models/srgan.pt").exists()
    # A fresh checkout gives the inputs new mtimes: the run is keyed by content, so it still resumes.
    for path in (root / "data/prepared").rglob("*"):
        os.utime(path, (1_000_000, 1_000_000))

    resumed = project.dvc("repro")
    assert {"train_gan", "evaluate@skimage", "report"} <= project.ran(resumed)
    assert f"resuming from step {step}" in resumed.stdout + resumed.stderr
    after_resume = project.gan_digests()
    assert any("images/val" in name for name in after_resume), "validation images before the kill were replayed"

    uninterrupted = project.dvc("repro", "--force", "--single-item", "train_gan")
    assert "resuming" not in uninterrupted.stdout + uninterrupted.stderr
    assert project.gan_digests() == after_resume


@pytest.fixture
def pretraining(tiny_copy):
    """A private copy of the tiny run, prepared, whose pretrain stage is out of date: a longer pretraining."""
    tiny_copy.edit_params(lambda p: p["pretrain"].update(steps=600, checkpoint_every=20, log_every=10,
                                                         validate_every=0))
    return tiny_copy


def test_a_checkpoint_never_outlives_an_edit_to_the_code_that_made_it(pretraining):
    """Kill pretrain, change its loss in train/pretrain.py, `dvc repro`: dvc.lock records the new code, so the run
    must be the new code's from step 0, not the old code's weights resumed."""
    project, root = pretraining, pretraining.root
    project.kill_during("pretrain", "checkpoints/pretrain-*/state.pt")
    code = root / "src/srgan/train/pretrain.py"
    code.write_text(code.read_text().replace("F.mse_loss(", "F.l1_loss("))
    try:
        result = project.dvc("repro", "pretrain")
    finally:
        subprocess.run(["git", "checkout", "src"], cwd=root, check=True, capture_output=True)
    output = result.stdout + result.stderr
    assert "resuming" not in output
    assert "not resumed: made with other settings, data or code than this run" in output


def test_ctrl_c_before_the_first_checkpoint_says_nothing_is_kept_and_writes_no_half_log(pretraining, tmp_path):
    project, root = pretraining, pretraining.root
    project.edit_params(lambda p: p["pretrain"].update(steps=5000, checkpoint_every=5000))
    summary = root / "reports/pretrain/metrics.json"
    committed = summary.read_text()  # the tiny run's, committed as main commits its own
    temp = tmp_path / "tmp"
    temp.mkdir()
    with open(tmp_path / "out.txt", "w") as out:
        # SIGINT at its default, as in a terminal: a launcher that started the tests in the background may have
        # left it ignored, and then no Ctrl-C reaches the stage.
        run = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "pretrain"], cwd=root,
                               env={**project.env(), "TMPDIR": str(temp)}, stdout=out, stderr=subprocess.STDOUT,
                               start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 300
        while not list(temp.glob("srgan-pretrain-log-*/plots/metrics/train/mse.tsv")) and run.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        assert run.poll() is None, "pretrain ended before it was interrupted"
        os.killpg(run.pid, signal.SIGINT)
        run.wait(timeout=120)
    output = (tmp_path / "out.txt").read_text()
    assert "interrupted: pretrain: interrupted after step" in output
    assert "before its first checkpoint (checkpoint_every: 5000): nothing is kept" in output
    assert "checkpoint is kept" not in output and "Traceback" not in output
    assert summary.read_text() == committed, "the interrupted run wrote a summary of half a run"
    assert not list(temp.glob("srgan-*")), "the temporary log was left behind"


def stage_processes(session: int, module: str) -> list[int]:
    """Pids of the processes of `session` running `python -m module`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            command = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
            if module.encode() in command and os.getsid(int(entry)) == session:
                found.append(int(entry))
        except OSError:
            continue
    return found


def test_a_kill_9_of_dvc_ends_its_stage_instead_of_leaving_it_training(pretraining, tmp_path):
    project, root = pretraining, pretraining.root
    project.edit_params(lambda p: p["pretrain"].update(steps=5000, checkpoint_every=20))
    # As CI runs it: SHELL unset, so dvc runs the cmd through dash, which outlives dvc instead of becoming the
    # stage; and SIGTERM ignored from the start, as some runners and supervisors pass it on. The stage must end.
    env = {**project.env(), "SHELL": "/bin/sh"}
    run = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "pretrain"], cwd=root, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                           preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
    try:
        started, deadline = time.time(), time.monotonic() + 300
        while time.monotonic() < deadline and not any(  # training, past this run's first checkpoint
                path.stat().st_mtime > started for path in root.glob("checkpoints/pretrain-*/state.pt")):
            time.sleep(0.05)
        assert stage_processes(run.pid, "srgan.stages.pretrain"), "the stage is not running"
        os.kill(run.pid, signal.SIGKILL)  # dvc alone, as `kill -9 <dvc pid>` does
        run.wait()
        deadline = time.monotonic() + 60
        while stage_processes(run.pid, "srgan.stages.pretrain") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not stage_processes(run.pid, "srgan.stages.pretrain"), "the stage outlived dvc, training as an orphan"
    finally:
        try:
            os.killpg(run.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
