"""A stage `dvc repro` runs that does not finish (Ctrl-C, an error) leaves the committed outputs as they were."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PRETRAIN_OUTPUTS = ("models/srresnet.pt", "models/srresnet.card.json", "models/srresnet.card.md",
                    "reports/pretrain/metrics.json", "reports/pretrain/plots/metrics", "reports/pretrain/plots/images")


def digests(root: Path) -> dict[str, str]:
    """sha256 of every file of pretrain's outputs (dvc.yaml)."""
    files = []
    for name in PRETRAIN_OUTPUTS:
        path = root / name
        files += sorted(item for item in path.rglob("*") if item.is_file()) if path.is_dir() else [path]
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def git_status(root: Path) -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=root, check=True,
                          capture_output=True, text=True).stdout


def test_ctrl_c_and_errors_leave_the_committed_outputs_as_they_were(tiny_copy, tmp_path):
    project = tiny_copy  # run and committed, as main is
    root = project.root
    committed = digests(root)
    assert "reports/pretrain/plots/metrics/train/mse.tsv" in committed and any("images" in name for name in committed)
    tracked = subprocess.run(["git", "ls-files", "reports/pretrain", "models"], cwd=root, check=True,
                             capture_output=True, text=True).stdout
    assert "reports/pretrain/metrics.json" in tracked and "models/srresnet.pt" not in tracked  # git and DVC's cache

    project.edit_params(lambda p: p["pretrain"].update(steps=5000, checkpoint_every=5000))
    status, changes = project.dvc("status").stdout, git_status(root)
    assert "pretrain" in status and changes == " M params.yaml\n"
    temp = tmp_path / "tmp"
    temp.mkdir()
    with open(tmp_path / "out.txt", "w") as out:
        # SIGINT at its default, as in a terminal, whatever started the tests (a background launch ignores it)
        run = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "pretrain"], cwd=root,
                               env={**project.env(), "TMPDIR": str(temp)}, stdout=out, stderr=subprocess.STDOUT,
                               start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            deadline = time.monotonic() + 300
            while not list(temp.glob("srgan-pretrain-log-*/plots/metrics/train/mse.tsv")) and run.poll() is None \
                    and time.monotonic() < deadline:
                time.sleep(0.01)
            assert run.poll() is None, "pretrain ended before it was interrupted"
            assert not (root / "models/srresnet.pt").exists(), "dvc repro did not remove the outputs: nothing tested"
            os.killpg(run.pid, signal.SIGINT)  # as a terminal's Ctrl-C does
            run.wait(timeout=120)
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
    output = (tmp_path / "out.txt").read_text()
    assert "interrupted: pretrain: interrupted after step" in output
    assert ("pretrain: its outputs, which `dvc repro` removed before running it, are back as dvc.lock records them "
            "(from DVC's cache and git)") in output, output
    assert "Traceback" not in output
    assert digests(root) == committed
    assert project.dvc("status").stdout == status
    assert git_status(root) == changes

    project.edit_params(lambda p: p["pretrain"].update(ema=2.0))  # fails when the stage reads its params
    failed = project.dvc("repro", "pretrain", check=False)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0 and "error: params.yaml" in output and "pretrain.ema" in output, output
    assert "are back as dvc.lock records them" in output
    assert digests(root) == committed
    assert git_status(root) == changes
