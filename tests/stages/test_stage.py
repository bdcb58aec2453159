"""What every stage shares (srgan.stages._stage): one clear message instead of a traceback, in real processes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(PROJECT / "src")}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)


def test_only_a_missing_stage_input_is_blamed_on_an_earlier_stage(tmp_path):
    code = ("from srgan.stages._stage import run\n"
            "def main():\n    open({path!r})\n"
            "run(main)\n")
    made = run_python(code.format(path="data/prepared/train/train_hr.npy"), tmp_path)
    assert made.returncode == 1
    assert made.stderr.strip() == ("error: data/prepared/train/train_hr.npy: missing; it is made by an earlier "
                                   "stage: `dvc pull` it, or run `dvc repro`")
    other = run_python(code.format(path="/nonexistent/folder/photo.png"), tmp_path)
    assert other.returncode == 1
    assert other.stderr.strip() == "error: /nonexistent/folder/photo.png: no such file or folder"


def test_a_stage_run_by_file_path_on_several_processes_says_how_to_run_it(tmp_path):
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["execution"]["nproc_per_node"] = 2
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run([sys.executable, str(PROJECT / "src/srgan/stages/pretrain.py")], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(PROJECT / "src")}, capture_output=True, text=True)
    assert result.returncode == 1
    assert "run a stage as a module (`python -m srgan.stages.<stage>`" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_report_on_a_partly_pulled_workspace_names_the_missing_samples(tmp_path):
    """evaluate always makes its samples folder (empty when evaluate.samples is 0): a missing one was not pulled, and
    the report must say so rather than blame evaluate.samples and succeed."""
    (tmp_path / "params.yaml").write_text((PROJECT / "params.yaml").read_text())
    for name in yaml.safe_load((PROJECT / "params.yaml").read_text())["data"]["eval"]:
        folder = tmp_path / "reports/evaluate" / name
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text("{}")
        (folder / "provenance.json").write_text("{}")
        (folder / "per_image.csv").write_text("dataset,image,method,psnr_y,ssim_y,psnr_rgb,lpips,niqe\n")
    result = subprocess.run([sys.executable, "-m", "srgan.stages.report"], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(PROJECT / "src")}, capture_output=True, text=True)
    assert result.returncode == 1
    assert "samples: missing; it is made by an earlier stage: `dvc pull` it, or run `dvc repro`" in result.stderr
    assert "evaluate.samples" not in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_under_torchrun_is_an_interruption_not_a_traceback(monkeypatch):
    """torchrun turns the signal into SignalException; the stage reports it as the interruption it is."""
    import signal
    import types

    import torch.distributed.run
    from torch.distributed.elastic.multiprocessing.api import SignalException

    from srgan.config import parse_section
    from srgan.stages import _launcher, _stage

    def interrupted(args):
        raise SignalException("Process got signal: 2", signal.SIGINT)

    monkeypatch.setattr(torch.distributed.run, "main", interrupted)
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", types.SimpleNamespace(name="srgan.stages.pretrain"))
    monkeypatch.setenv(_stage.LAUNCHER, "0")
    with pytest.raises(KeyboardInterrupt, match="pretrain: stopped by SIGINT; what its processes kept is said above"):
        _launcher.launch(parse_section("execution", {"nproc_per_node": 2}))


def test_machines_that_cannot_meet_are_one_error_naming_the_endpoint(monkeypatch):
    import types

    import torch.distributed.run
    from torch.distributed.elastic.rendezvous.api import RendezvousConnectionError

    from srgan.config import parse_section
    from srgan.errors import SrganError
    from srgan.stages import _launcher, _stage

    def unreachable(args):
        raise RendezvousConnectionError("The connection to the C10d store has failed.")

    monkeypatch.setattr(torch.distributed.run, "main", unreachable)
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", types.SimpleNamespace(name="srgan.stages.pretrain"))
    monkeypatch.setenv(_stage.LAUNCHER, "0")
    execution = parse_section("execution", {"nnodes": 2, "rdzv_endpoint": "node0:29500"})
    with pytest.raises(SrganError, match=r"execution.rdzv_endpoint node0:29500: the 2 machines could not meet there "
                                         r"\(RendezvousConnectionError"):
        _launcher.launch(execution)


def test_an_evaluation_stage_runs_for_a_set_data_eval_names(monkeypatch):
    from srgan.config import parse_section
    from srgan.errors import SrganError
    from srgan.stages._stage import eval_set_name

    data = parse_section("data", {"eval": {"set5": "Set5", "mine": "folder:photos"}})
    monkeypatch.setattr(sys, "argv", ["evaluate", "mine"])
    assert eval_set_name(data) == "mine"
    monkeypatch.setattr(sys, "argv", ["evaluate", "set14"])
    with pytest.raises(SrganError, match="params.yaml: data.eval has no set named 'set14'; run `dvc repro`"):
        eval_set_name(data)


STAGE_UNTIL_KILLED = """
import os, pathlib, sys, time
from srgan.stages._stage import run
def main():
    pathlib.Path(sys.argv[1]).write_text(str(os.getpid()))
    time.sleep(120)
run(main)
"""


@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/bash"])
def test_a_stage_ends_when_the_dvc_running_it_is_killed_through_any_shell(shell, tmp_path):
    """dvc runs a cmd through `$SHELL -c`, /bin/sh where SHELL is unset. bash replaces itself with the stage, dash
    does not and outlives a `kill -9` of dvc; either way the stage must end, not train on as an orphan."""
    if not os.access(shell, os.X_OK):
        pytest.skip(f"{shell} is not installed")
    ready = tmp_path / "stage.pid"
    stage = f"PYTHONPATH={PROJECT / 'src'} {sys.executable} -c '{STAGE_UNTIL_KILLED}' {ready}"
    fake_dvc = f"import subprocess; subprocess.run([{shell!r}, '-c', {stage!r}])"  # as dvc.stage.run does
    env = {**os.environ, "DVC_STAGE": "pretrain"}
    dvc = subprocess.Popen([sys.executable, "-c", fake_dvc], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() or not ready.read_text():
            assert time.monotonic() < deadline and dvc.poll() is None, "the stage did not start"
            time.sleep(0.05)
        stage_pid = int(ready.read_text())
        os.kill(dvc.pid, signal.SIGKILL)
        dvc.wait()
        deadline = time.monotonic() + 10
        while _alive(stage_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(stage_pid), "the stage outlived dvc"
    finally:
        os.killpg(dvc.pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Running, not gone nor a zombie waiting for its parent to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False
