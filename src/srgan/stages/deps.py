"""Each stage's code deps in dvc.yaml, written from its import closure instead of by hand.

    python -m srgan.stages.deps --check   # exit 1, naming the stages, when dvc.yaml's code deps are stale
    python -m srgan.stages.deps --write   # rewrite them in place (comments and everything else kept)

A stage's code deps are the files of every srgan module its script imports, directly or not, lazy imports
included (empty package __init__ files aside), plus the data files those modules read. So an edit to a module
reruns exactly the stages that run it.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

from srgan.code import PACKAGE, import_closure

DVC_YAML = Path("dvc.yaml")
CODE_DEP = re.compile(r"^(\s*)- src/\S+\s*$")


def code_deps(module: str) -> list[str]:
    """dvc.yaml's code deps of a stage module: its import closure (srgan.code), empty package __init__ files
    aside, as project-relative paths."""
    project = PACKAGE.parent.parent
    return sorted(path.relative_to(project).as_posix() for path in import_closure(module) if path.name != "__init__.py")


def stage_module(cmd: str) -> str:
    words = cmd.split()
    return words[words.index("-m") + 1]


def expected_deps(root: Path = Path(".")) -> dict[str, list[str]]:
    """{stage: its code deps} for every stage of dvc.yaml."""
    stages = yaml.safe_load((root / DVC_YAML).read_text())["stages"]
    return {name: code_deps(stage_module(stage.get("do", stage)["cmd"])) for name, stage in stages.items()}


def rewrite(text: str, expected: dict[str, list[str]]) -> str:
    """dvc.yaml's text with each stage's `- src/...` deps replaced by `expected`, where the first one stood."""
    lines, out, stage = text.splitlines(), [], None
    written: set[str] = set()
    for line in lines:
        top = re.match(r"^  (\S[^:]*):\s*$", line)
        if top:
            stage = top.group(1)
        match = CODE_DEP.match(line)
        if not match:
            out.append(line)
            continue
        if stage not in written:
            out += [f"{match.group(1)}- {dep}" for dep in expected[stage]]
            written.add(stage)
    return "\n".join(out) + "\n"


def stale_stages(root: Path = Path(".")) -> list[str]:
    stages = yaml.safe_load((root / DVC_YAML).read_text())["stages"]
    expected = expected_deps(root)
    return [name for name, stage in stages.items()
            if [dep for dep in stage.get("do", stage)["deps"] if dep.startswith("src/")] != expected[name]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true", help="exit 1 when any stage's code deps are stale")
    action.add_argument("--write", action="store_true", help="rewrite dvc.yaml's code deps")
    args = parser.parse_args(argv)
    stale = stale_stages()
    if args.write and stale:
        DVC_YAML.write_text(rewrite(DVC_YAML.read_text(), expected_deps()))
        print(f"dvc.yaml: code deps rewritten for {', '.join(stale)}")
        return 0
    if stale:
        print(f"dvc.yaml: stale code deps in {', '.join(stale)}; run `python -m srgan.stages.deps --write`",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
