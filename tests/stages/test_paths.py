"""srgan.stages.paths and dvc.yaml name the same paths: each path dvc.yaml declares comes from paths.py, and each
path paths.py gives is one dvc.yaml declares, lies inside one (a file in a declared folder) or holds some (a parent
folder), unless NOT_IN_DVC_YAML below says why not."""

import inspect
from pathlib import Path, PurePosixPath

import yaml

from srgan.models.card import card_paths
from srgan.stages import paths

PROJECT = Path(__file__).resolve().parents[2]
KEY = "${key}"  # dvc.yaml's foreach stages name their set so; the functions of one set are called with it
# The arguments each function of paths.py is called with; a new function needs its line here.
CALLS = {
    "raw_eval": [(KEY,)], "prepared_eval": [(KEY,)], "evaluation": [(KEY,)], "evaluation_metrics": [(KEY,)],
    "evaluation_provenance": [(KEY,)], "evaluation_table": [(KEY,)], "evaluation_samples": [(KEY,)],
    "training_log": [(stage,) for stage in paths.TRAINING_STAGES],
    "training_log_outputs": [(stage,) for stage in paths.TRAINING_STAGES],
    "training_summary": [(stage,) for stage in paths.TRAINING_STAGES],
    "workspace": [()], "downloads": [()], "checkpoints": [()],
}
# What paths.py names that dvc.yaml does not, and why.
NOT_IN_DVC_YAML = {
    paths.PARAMS: "DVC reads params.yaml without being told; stages list its keys, not the file",
    paths.COMPARE: "srgan-compare's default output folder: a tool's, made by no stage",
    paths.workspace(): "the main workspace (DVC_ROOT), home of the caches below",
    paths.downloads(): "downloaded archives: a cache shared by every experiment, not a stage output",
    paths.checkpoints(): "resumable training state: a cache shared by every experiment, not a stage output",
}


def paths_py() -> set[PurePosixPath]:
    """Every path paths.py gives: its constants (alone, or in a tuple or dict) and its functions' results."""
    found = set()
    for name, value in vars(paths).items():
        if isinstance(value, Path):
            found.add(value)
        elif isinstance(value, (tuple, dict)):
            found.update(v for v in (value.values() if isinstance(value, dict) else value) if isinstance(v, Path))
        elif inspect.isfunction(value) and value.__module__ == paths.__name__:
            for args in CALLS[name]:
                result = value(*args)
                found.update(result if isinstance(result, list) else [result])
    return {PurePosixPath(path.as_posix()) for path in found}


def dvc_yaml_paths() -> tuple[set[PurePosixPath], set[PurePosixPath]]:
    """(the deps, outs and metrics of dvc.yaml's stages, but src/ code and params.yaml; the files of its plots)."""
    dvc = yaml.safe_load((PROJECT / "dvc.yaml").read_text())
    declared = set()
    for stage in dvc["stages"].values():
        stage = stage.get("do", stage)
        for field in ("deps", "outs", "metrics", "plots"):
            for entry in stage.get(field, []):
                declared.update(entry if isinstance(entry, dict) else [entry])
    plotted = set()
    for plot in dvc.get("plots", []):
        if isinstance(plot, str):
            plotted.add(plot)
        else:
            for spec in plot.values():
                plotted.update(spec["y"])
    declared = {PurePosixPath(path) for path in declared if not path.startswith("src/") and path != "params.yaml"}
    return declared, {PurePosixPath(path) for path in plotted}


def related(path: PurePosixPath, others: set[PurePosixPath]) -> bool:
    """`path` is one of `others`, lies inside one or holds one."""
    return any(path == other or other in path.parents or path in other.parents for other in others)


def test_every_function_of_paths_py_is_called():
    functions = {name for name, value in vars(paths).items()
                 if inspect.isfunction(value) and value.__module__ == paths.__name__}
    assert functions == set(CALLS)


def test_every_path_dvc_yaml_declares_comes_from_paths_py():
    declared, plotted = dvc_yaml_paths()
    cards = {PurePosixPath(card.as_posix()) for model in paths.MODEL_FILES.values() for card in card_paths(model)}
    given = paths_py() | cards  # a model's cards lie beside it (srgan.models.card.card_paths)
    assert sorted(map(str, declared - given)) == []
    # a plot reads a file DVCLive writes in a declared folder
    assert sorted(str(path) for path in plotted if not any(path == p or p in path.parents for p in given)) == []


def test_every_path_of_paths_py_is_in_dvc_yaml_or_says_why_not():
    declared, _ = dvc_yaml_paths()
    excused = {PurePosixPath(path.as_posix()) for path in NOT_IN_DVC_YAML}
    assert sorted(str(path) for path in paths_py() - excused if not related(path, declared)) == []
