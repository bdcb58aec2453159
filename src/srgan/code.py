"""The source a module runs: its import closure inside the srgan package, the same files dvc.yaml lists as a
stage's code deps. Training runs are keyed by it, so a checkpoint never outlives an edit to the code that made it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
DATA_FILES = {"niqe.py": ["niqe_pris_params.npz"], "html_report.py": ["report_page.html"]}  # files a module reads


def import_closure(module: str) -> list[Path]:
    """Every file of the srgan modules `module` imports, directly or not, lazy imports included, and the data files
    they read; sorted."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        path = _module_file(todo.pop())
        if path is None or path in seen:
            continue
        seen.add(path)
        todo.extend(_imported_names(path))
    data = {PACKAGE / name for path in seen for name in DATA_FILES.get(path.name, [])}
    return sorted(seen | data)


def _module_file(name: str) -> Path | None:
    if name != "srgan" and not name.startswith("srgan."):
        return None
    path = PACKAGE.joinpath(*name.split(".")[1:])
    return next((candidate for candidate in (path.with_suffix(".py"), path / "__init__.py") if candidate.is_file()),
                None)


def _imported_names(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)  # `from pkg import module`
