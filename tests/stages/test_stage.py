"""What every stage shares (srgan.stages._stage): one clear message instead of a traceback, in real processes."""

import os
import subprocess
import sys
from pathlib import Path

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
                                   "stage: run `dvc repro`")
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
