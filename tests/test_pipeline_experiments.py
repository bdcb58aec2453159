"""The real `dvc` on private copies of the shared tiny run (tests/conftest.py: tiny_copy): the README's experiment
commands and failure modes, each on its own, every param a stage reads, and queued experiments. Split from
test_pipeline.py so that `--dist loadfile` spreads the pipeline tests over both workers."""

import json
import shlex
import subprocess
import sys

import yaml
from tests.conftest import PROJECT, documentation, fenced_blocks, wait_for_queue
from tests.test_pipeline import STAGES, TRACER

from srgan.errors import SrganError


def readme_blocks() -> list[list[str]]:
    """The fenced code blocks of the README and docs/ as shell lines: continuations joined, comments dropped."""
    joined = []
    for block in (block for page in documentation() for block in fenced_blocks(page)):
        text = "\n".join(block).replace("\\\n", " ")
        code = [line.split("#")[0] for line in text.splitlines()]
        joined.append([" ".join(line.split()) for line in code if line.strip()])
    return joined


def readme_experiments() -> list[tuple[str, list[str]]]:
    """Every `dvc exp run` of the README, with the lines of its block that follow it."""
    return [(line, block[index + 1:]) for block in readme_blocks() for index, line in enumerate(block)
            if line.startswith("dvc exp run")]


def test_every_readme_experiment_stands_alone():
    """Run top to bottom, no example may inherit the -S values of the one before: each runs in a copy of the
    project (--temp, --queue) or is followed by a reset line."""
    experiments = readme_experiments()
    assert len(experiments) >= 12
    for command, after in experiments:
        assert ("--temp" in command.split() or "--queue" in command.split()
                or "git checkout params.yaml" in after), f"README: `{command}` leaves its params in params.yaml"


AFTER_GAN = {"train_gan", "evaluate@skimage", "report"}
FAILURE_MODES = {  # the README's "known failure modes", each an experiment: its overrides and the stages it reruns
    "content only": (["gan.adv_weight=0", "gan.content.feature_matching=0"], AFTER_GAN),
    "adversarial only": (["gan.content.vgg54=0", "gan.content.feature_matching=0", "gan.content.low_pass=0"],
                         AFTER_GAN),
    "no validation": (["pretrain.validate_every=0", "gan.validate_every=0", "unsupervised.validate_every=0"],
                      {"pretrain", "train_gan", "train_unsupervised", "report"}),  # same models: evaluation kept
    "a zoomed region under the SSIM window": (["report.zoom=0.02"], {"report"}),
}


def test_the_readme_failure_modes_run_in_order_each_on_its_own(tiny_copy):
    """The README's commands themselves, top to bottom, each rerunning only the stages its params reach (a GAN
    change reruns neither pretraining nor the unsupervised model; a report change only the report): 'adversarial
    only' once failed on the content-only example's adv_weight=0, left in params.yaml by a plain `dvc exp run`."""
    commands = []
    for mode, (overrides, stages) in FAILURE_MODES.items():
        found = [command for command, _ in readme_experiments() if all(f"-S {o}" in command for o in overrides)]
        assert len(found) == 1, f"README no longer shows {mode} as one command"
        commands.append((found[0], stages))
    params_before = (tiny_copy.root / "params.yaml").read_text()
    for command, stages in commands:
        result = tiny_copy.dvc(*shlex.split(command)[1:], check=False)
        output = result.stdout + result.stderr
        assert result.returncode == 0 and "Traceback" not in output, f"{command}:\n{output[-3000:]}"
        assert tiny_copy.ran(result) == stages, command
        assert (tiny_copy.root / "params.yaml").read_text() == params_before, f"{command} changed params.yaml"
    shown = tiny_copy.dvc("exp", "show", "--csv").stdout
    assert "content-only" in shown and "adversarial-only" in shown


def test_a_failed_set_download_leaves_no_empty_folder_nor_lock_file(tiny_copy):
    """A plain `dvc exp run` adding a set whose download fails (here the archive's mirror is a closed port on
    127.0.0.1, so it fails at once, offline or not) leaves nothing behind for a later run to trip on."""
    closed = "http://127.0.0.1:9/benchmark.tar"
    tiny_copy.edit_params(lambda p: p["data"]["archives"].update({"benchmark.tar": closed}))
    result = tiny_copy.dvc("exp", "run", "-S", "++data.eval.set14=set14", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "127.0.0.1:9/benchmark.tar" in output and "Traceback" not in output
    root = tiny_copy.root
    for folder in ("reports/evaluate/set14", "data/raw/eval/set14", "data/prepared/eval/set14"):
        assert not (root / folder).exists(), f"{folder} left behind"
    assert not list((root / "data/downloads").glob("*.lock")), "lock files left for `dvc add data/downloads`"


def test_every_param_a_stage_reads_is_one_of_its_params(tiny_copy, tmp_path):
    """Each stage run again with its params traced: every key it reads is listed for it in dvc.yaml (resolved in
    dvc.lock), except the execution settings, which are read by design and listed nowhere. The stages run
    one after another in one traced process (the run's outputs are all there: each finds its inputs)."""
    lock = yaml.safe_load((tiny_copy.root / "dvc.lock").read_text())["stages"]
    names = tiny_copy.dvc("stage", "list", "--name-only").stdout.split()
    assert sorted(names) == sorted(lock) == sorted(STAGES)
    runs = []
    for name in lock:
        module, *args = lock[name]["cmd"].split(" -m ", 1)[1].split()
        runs += ["--", str(tmp_path / f"{name}.json"), module, *args]
    result = subprocess.run([sys.executable, str(TRACER), *runs[1:]], cwd=tiny_copy.root, env=tiny_copy.env(),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in names:
        listed = list(lock[name].get("params", {}).get("params.yaml", {}))
        read = [key for key in json.loads((tmp_path / f"{name}.json").read_text()) if not key.startswith("execution")]
        unlisted = [key for key in read if not any(key == p or key.startswith(p + ".") for p in listed)]
        assert not unlisted, f"{name} reads {unlisted} but dvc.yaml lists only {listed}"


def test_a_queued_experiment_runs_its_own_code_not_the_workspace_s(tiny_copy):
    """`pip install -e .` makes `import srgan` find the workspace's src/ (PYTHONPATH here stands for it); a queued
    experiment runs in a copy of the project and must import that copy's src/, so an edit made in the workspace
    after queueing cannot change what the experiment computes (nor make its dvc.lock lie)."""
    root = tiny_copy.root
    env = {**tiny_copy.env(), "PYTHONPATH": str(root / "src")}

    def dvc(*args):
        result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, env=env, capture_output=True,
                                text=True)
        assert result.returncode == 0, f"dvc {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    dvc("exp", "run", "--queue", "--name", "own-code", "-S", "pretrain.steps=6", "pretrain")
    edited = root / "src/srgan/train/pretrain.py"
    edited.write_text(edited.read_text() + "\nraise SystemExit('the workspace code ran in a queued experiment')\n")
    dvc("queue", "start")
    states = wait_for_queue(root)
    assert "own-code" in dvc("queue", "status")
    logs = dvc("queue", "logs", "own-code")
    assert "workspace code ran" not in logs
    assert states == {"own-code": "Success"} and "Running stage 'pretrain'" in logs, logs[-3000:]


def test_every_readme_experiment_s_params_pass_validation(tmp_path):
    """Each `dvc exp run` of the README and docs/, its -S values applied to params.yaml by DVC's own code (a grid
    expanded into its experiments), gives params that load: no documented command stops at a params error."""
    from dvc.utils.hydra import apply_overrides, get_hydra_sweeps

    from srgan.config import load_params

    sections = list(yaml.safe_load((PROJECT / "params.yaml").read_text()))
    for command, _ in readme_experiments():
        words = shlex.split(command)
        overrides = [words[index + 1] for index, word in enumerate(words) if word in ("-S", "--set-param")]
        for experiment in get_hydra_sweeps({"params.yaml": overrides}):
            path = tmp_path / "params.yaml"
            path.write_text((PROJECT / "params.yaml").read_text())
            apply_overrides(path, experiment["params.yaml"])
            try:
                load_params(path, *sections)
            except SrganError as err:
                raise AssertionError(f"README: `{command}` ({experiment['params.yaml']}): {err}") from None


def test_asking_for_more_validation_images_than_the_source_holds_says_so(tiny_copy):
    tiny_copy.edit_params(lambda p: p["data"]["validation"].update(images=50))
    result = tiny_copy.dvc("repro", "download")
    assert "data.validation.images asks for 50, and skimage holds 3: training validates on those" in result.stderr
