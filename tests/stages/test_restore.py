"""A stage that does not finish puts back what `dvc repro` removed (srgan.stages._restore), in a small git project
with a hand-made dvc.lock and DVC cache; tests/test_pipeline_interrupt.py does it with the real dvc."""

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from srgan.stages import _restore

MODEL = b"weights" * 1000
SUMMARY = b'{"val": {"psnr_y": 20.0}}'
CURVES = {"lr.tsv": b"step\tlr\n0\t0.1\n", "val/psnr_y.tsv": b"step\tpsnr_y\n2\t20.0\n"}


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def dir_md5(files: dict[str, bytes]) -> str:
    listing = [{"md5": md5(files[name]), "relpath": name} for name in sorted(files)]
    return md5(json.dumps(listing, sort_keys=True).encode()) + ".dir"


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=root, check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture
def project(tmp_path):
    """Stage `train` ran and was committed: its model in DVC's cache (ignored by git), its summary and curves in git."""
    root = tmp_path
    cache = root / ".dvc/cache/files/md5"
    (cache / md5(MODEL)[:2]).mkdir(parents=True)
    (cache / md5(MODEL)[:2] / md5(MODEL)[2:]).write_bytes(MODEL)
    (root / ".dvc/config").write_text("[core]\n    autostage = true\n")
    outs = [{"path": "models/m.pt", "hash": "md5", "md5": md5(MODEL), "size": len(MODEL)},
            {"path": "reports/train/metrics.json", "hash": "md5", "md5": md5(SUMMARY), "size": len(SUMMARY)},
            {"path": "reports/train/plots/metrics", "hash": "md5", "md5": dir_md5(CURVES), "nfiles": len(CURVES)}]
    (root / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": {"train": {"cmd": "x", "outs": outs}}}))
    (root / "models").mkdir()
    (root / "models/.gitignore").write_text("/m.pt\n")
    (root / "models/m.pt").write_bytes(MODEL)
    (root / "reports/train").mkdir(parents=True)
    (root / "reports/train/metrics.json").write_bytes(SUMMARY)
    for name, content in CURVES.items():
        path = root / "reports/train/plots/metrics" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "ran")
    return root


def remove_outputs(root: Path) -> None:
    """What `dvc repro` does before running the stage."""
    (root / "models/m.pt").unlink()
    (root / "reports/train/metrics.json").unlink()
    for path in sorted((root / "reports/train/plots/metrics").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (root / "reports/train/plots/metrics").rmdir()


def test_removed_outputs_come_back_from_the_cache_and_from_git(project):
    remove_outputs(project)
    note = _restore.restore("train", project)
    assert note == ("train: its outputs, which `dvc repro` removed before running it, are back as dvc.lock records "
                    "them (from DVC's cache and git)")
    assert (project / "models/m.pt").read_bytes() == MODEL
    assert git(project, "status", "--porcelain", "--untracked-files=all") == ""
    assert not list(project.rglob(".*restoring*"))


def test_outputs_this_run_wrote_are_never_replaced_nor_mixed_with_the_committed_ones(project):
    remove_outputs(project)
    (project / "models/m.pt").write_bytes(b"this run's model")
    note = _restore.restore("train", project)
    assert note.startswith("train: this run had already written models/m.pt; its other outputs were not put back")
    assert "`dvc checkout train`" in note and "`git checkout -- <path>`" in note
    assert (project / "models/m.pt").read_bytes() == b"this run's model"
    assert not (project / "reports/train/metrics.json").exists()


def test_only_what_dvc_lock_records_is_put_back(project):
    """An uncommitted run's summary (dvc.lock records it, git has an older one) and a model missing from the cache
    (a fresh clone) are named, not replaced by something else."""
    remove_outputs(project)
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    lock["stages"]["train"]["outs"][1]["md5"] = md5(b"a newer summary, never committed")
    (project / "dvc.lock").write_text(yaml.safe_dump(lock))
    for path in (project / ".dvc/cache").rglob("*"):
        path.unlink() if path.is_file() else None
    note = _restore.restore("train", project)
    assert note == ("train: reports/train/plots/metrics, which `dvc repro` removed before running it, are back as "
                    "dvc.lock records them (from git); models/m.pt, reports/train/metrics.json could not be put back, "
                    "being neither in DVC's cache nor committed to git as dvc.lock records them (`dvc pull train` "
                    "fetches what a remote has)")
    assert not (project / "reports/train/metrics.json").exists() and not (project / "models/m.pt").exists()


def test_a_stage_dvc_lock_does_not_record_has_nothing_to_put_back(project, monkeypatch, capsys):
    assert _restore.restore("another", project) == ""
    monkeypatch.chdir(project)
    monkeypatch.setenv("DVC_STAGE", "another")
    _restore.put_back()
    assert capsys.readouterr().err == ""


def test_only_the_process_dvc_started_puts_back(project, monkeypatch, capsys):
    remove_outputs(project)
    monkeypatch.chdir(project)
    monkeypatch.delenv("DVC_STAGE", raising=False)
    _restore.put_back()  # not run by dvc: dvc removed nothing
    monkeypatch.setenv("DVC_STAGE", "train")
    monkeypatch.setenv("LOCAL_RANK", "1")
    _restore.put_back()  # a torchrun worker: its launcher puts back
    assert not (project / "models/m.pt").exists() and capsys.readouterr().err == ""
    monkeypatch.delenv("LOCAL_RANK")
    _restore.put_back()
    assert "are back as dvc.lock records them" in capsys.readouterr().err
    assert (project / "models/m.pt").read_bytes() == MODEL


def test_a_failure_to_put_back_says_how_to_do_it_by_hand(project, monkeypatch, capsys):
    remove_outputs(project)
    monkeypatch.chdir(project)
    monkeypatch.setenv("DVC_STAGE", "train")
    monkeypatch.delenv("LOCAL_RANK", raising=False)

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(_restore, "_write", interrupted)  # a second Ctrl-C while putting back
    _restore.put_back()
    assert capsys.readouterr().err == (
        "train: its outputs, which `dvc repro` removed before running it, were not put back (interrupted): "
        "`dvc checkout train` puts back those in DVC's cache, `git checkout -- <path>` those committed to git\n")
