"""The DVC contract, checked statically: code deps are each stage's exact import closure, every params key the
README sets exists, params.yaml holds every key the code reads, and the committed dvc.lock matches."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel
from tests.conftest import documentation, fenced_blocks

from srgan.config import SECTIONS
from srgan.stages.deps import code_deps, expected_deps, rewrite, stage_module, stale_stages

PROJECT = Path(__file__).resolve().parents[2]
SRC = PROJECT / "src"
def stage_command(cmd: str) -> list[str]:
    """The module a dvc.yaml cmd runs and its arguments."""
    return cmd.split(" -m ", 1)[1].split()


def test_every_stage_imports_the_src_of_the_tree_it_runs_in():
    """`pip install -e .` points `import srgan` at the main workspace: queued and --temp experiments run in copies
    of the project, so each cmd puts its own tree's src first (tests/test_pipeline.py proves it with the queue)."""
    for name, stage in stages().items():
        assert stage.get("do", stage)["cmd"].startswith("PYTHONPATH=src python -m srgan.stages."), name


def stages() -> dict:
    return yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]


def test_the_readme_stage_table_lists_the_params_each_stage_reads():
    """The README's table of stages and the params dvc.yaml gives each (`${key}` shown as `<set>`), row by row."""
    rows = dict(re.findall(r"^\| (\w+)(?:@`<set>`)? \| (.*?) \|", (PROJECT / "README.md").read_text(), re.MULTILINE))
    for name, stage in stages().items():
        listed = [param.replace("${key}", "<set>") for param in stage.get("do", stage)["params"]]
        assert re.findall(r"`([^`]+)`", rows.get(name, "")) == listed, f"README's stage table, row {name}"


def test_package_init_files_are_empty():
    assert all(not path.read_text().strip() for path in SRC.rglob("__init__.py"))


@pytest.mark.parametrize("name", list(stages()))
def test_code_deps_are_the_exact_import_closure(name):
    body = stages()[name].get("do", stages()[name])
    listed = {dep for dep in body["deps"] if dep.startswith("src/")}
    closure = set(code_deps(stage_module(body["cmd"])))
    assert listed == closure, (f"{name}: missing {sorted(closure - listed)}, needless {sorted(listed - closure)}; "
                               "run `python -m srgan.stages.deps --write`")


def test_the_deps_command_rewrites_stale_code_deps_and_keeps_the_rest(tmp_path):
    text = (PROJECT / "dvc.yaml").read_text()
    stale = text.replace("      - src/srgan/train/loop.py\n", "", 1).replace(
        "      - src/srgan/stages/report.py\n", "      - src/srgan/stages/report.py\n      - src/srgan/old.py\n", 1)
    assert stale != text
    (tmp_path / "dvc.yaml").write_text(stale)
    (tmp_path / "src").symlink_to(PROJECT / "src")
    assert set(stale_stages(tmp_path)) >= {"pretrain", "report"}
    assert rewrite(stale, expected_deps(tmp_path)) == text


@pytest.mark.parametrize("name", ["pretrain", "train_gan", "train_unsupervised"])
def test_training_runs_are_keyed_by_the_code_dvc_yaml_lists(name):
    """Checkpoints are keyed by srgan.code's import closure; it is the code deps dvc.yaml lists for the stage."""
    from srgan.code import import_closure as keyed_by

    listed = {dep for dep in stages()[name]["deps"] if dep.startswith("src/")}
    keyed = {str(path.relative_to(SRC.parent)) for path in keyed_by(f"srgan.stages.{name}")
             if path.name != "__init__.py"}
    assert keyed == listed


def test_pretrain_does_not_depend_on_the_gan_code():
    deps = set(stages()["pretrain"]["deps"])
    assert not deps & {"src/srgan/train/gan.py", "src/srgan/models/discriminator.py", "src/srgan/losses.py"}


def test_no_stage_depends_on_execution_settings():
    for name, stage in stages().items():
        params = stage.get("do", stage).get("params", [])
        assert not [p for p in params if str(p).split(".")[0] == "execution"], name


def test_params_yaml_holds_every_key_the_code_reads():
    raw = yaml.safe_load((PROJECT / "params.yaml").read_text())

    def missing(model: type[BaseModel], values: dict, prefix: str) -> list[str]:
        out = []
        for field, info in model.model_fields.items():
            key = f"{prefix}.{field}"
            if field not in values:
                out.append(key)
            elif isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
                out += missing(info.annotation, values[field], key)
        return out

    absent = [name for name in SECTIONS if name not in raw]
    for name, kind in SECTIONS.items():
        if isinstance(kind, type) and issubclass(kind, BaseModel) and name in raw:
            absent += missing(kind, raw[name], name)
    assert not absent, f"params.yaml lacks {absent}"


def readme_overrides() -> list[str]:
    """Every -S value of every command in the fenced code blocks of the README and docs/."""
    text = "\n".join(line for page in documentation() for block in fenced_blocks(page) for line in block)
    return [match.strip("'\"") for match in re.findall(r"-S\s+('[^']+'|\"[^\"]+\"|\S+)", text)]


def test_every_readme_override_names_a_params_key():
    raw = yaml.safe_load((PROJECT / "params.yaml").read_text())
    overrides = readme_overrides()
    assert len(overrides) > 20
    for override in overrides:
        key = re.split(r"=", override.lstrip("+~"), maxsplit=1)[0]
        parts = key.split(".")
        if override.startswith("++") or override.startswith("+"):
            parts = parts[:-1]  # adds a key under an existing mapping (data.eval.<new set>)
        node = raw
        for part in parts:
            assert isinstance(node, dict) and part in node, f"README: -S {override}: {key} is not in params.yaml"
            node = node[part]


def test_committed_lock_matches_dvc_yaml_and_params():
    """CI fails when dvc.yaml, params.yaml or the code changed without the baseline being refreshed
    (README: `dvc repro && git add ...`). Outputs may be absent (a fresh clone has only git's files)."""
    if not (PROJECT / "dvc.lock").exists():
        pytest.fail("dvc.lock is not committed: refresh the baseline (see README, Development)")
    result = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], cwd=PROJECT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    stale = {}
    for stage, changes in json.loads(result.stdout or "{}").items():
        for change in changes:
            if not isinstance(change, dict):
                stale[stage] = change  # 'changed command', 'always changed', ...
                continue
            for kind, entries in change.items():
                if kind != "changed deps":
                    continue
                modified = {path: what for path, what in entries.items() if what != "deleted"}
                code_or_params = {p: w for p, w in modified.items() if p.startswith("src/") or "params" in p
                                  or p == "params.yaml" or isinstance(w, dict)}
                if code_or_params:
                    stale[stage] = code_or_params
    assert not stale, f"the committed dvc.lock is stale: {stale}; refresh the baseline (README, Development)"
