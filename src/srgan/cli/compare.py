"""`srgan-compare`: the evaluation metrics of several git revisions or DVC experiments side by side.

    srgan-compare main HEAD workspace      # commits, branches, tags; 'workspace' is the working tree
    srgan-compare --exp                    # every experiment of `dvc exp show`
    srgan-compare main exp-1a2b3 -o reports/compare
    srgan-compare --exp --html             # also index.html: the same image and method from every run

Runs are named r1, r2, ... in the figures and tables; the key (printed, and written as runs.csv and at the top
of comparison.md) gives each one's revision and the params that differ between the runs (for example
gan.adv_weight=0.01). A run's params are those its dvc.lock records, i.e. those that made its metrics: a
workspace whose outputs came from an experiment and whose params.yaml was then reset is named by the
experiment's params, with a note. Writes comparison.csv, comparison.md (Markdown tables), comparison.png
(PSNR-Y bars from 0 dB) and tradeoff.png (PSNR-Y against LPIPS or NIQE for every method of every run) to -o.
A revision without metrics is reported and left out; the others are compared.
With --html, also index.html, a page to compare the runs' sample images pixel by pixel, each run named by its
short name and the params that differ (their PNGs are read through DVC, so they must be in the cache:
`dvc pull`, `dvc exp pull`), each distinct file stored once under -o/images/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path, PurePosixPath

import pandas as pd

from srgan.atomic import atomic_path
from srgan.compare import (
    check_metrics,
    differing_params,
    flatten,
    key_markdown,
    run_key,
    write_comparison,
    write_comparison_page,
)
from srgan.config import parse_yaml
from srgan.errors import SrganError
from srgan.stages.paths import COMPARE, PARAMS, REPORTS, evaluation_metrics, evaluation_samples

PARAMS_FILE = PARAMS.as_posix()
LOCK_FILE = "dvc.lock"


def read_file(path: str, rev: str | None, repo: str) -> str:
    """A file's text at a revision (None: the workspace), via dvc.api (git- or DVC-tracked alike)."""
    import dvc.api

    try:
        return dvc.api.read(path, repo=repo, rev=rev)
    except Exception as err:  # noqa: BLE001 - DVC raises many kinds; all mean "not there"
        raise SrganError(f"{path} at {rev or 'the workspace'}: cannot be read ({type(err).__name__}: {err}); "
                         "was the pipeline run and its results committed there?") from None


def ran_params(lock: dict) -> dict[str, object]:
    """{dotted key: value} of the params dvc.lock records for its stages: the params that made the outputs."""
    recorded = {}
    for stage in (lock.get("stages") or {}).values():
        recorded.update(flatten((stage.get("params") or {}).get(PARAMS_FILE) or {}))
    return recorded


def evaluated_sets(lock: dict) -> list[str]:
    """The evaluation sets dvc.lock records an evaluate@<set> stage for: the sets whose metrics a run made."""
    return [name.partition("@")[2] for name in lock.get("stages") or {} if name.startswith("evaluate@")]


def read_lock(rev: str | None, repo: str) -> dict:
    """dvc.lock at a revision, or {} where there is none."""
    try:
        text = read_file(LOCK_FILE, rev, repo)
    except SrganError:
        return {}
    lock = parse_yaml(text, f"{LOCK_FILE} at {rev or 'the workspace'}")  # a corrupt one is said, not ignored
    return lock if isinstance(lock, dict) else {}


def params_that_ran(params: dict, lock: dict) -> tuple[dict[str, object], str]:
    """(the run's params as dvc.lock records them, a note when params.yaml says otherwise); params.yaml's own
    params where there is no dvc.lock."""
    declared = flatten(params)
    recorded = ran_params(lock)
    if not recorded:
        return declared, ""
    changed = sorted(key for key, value in recorded.items() if repr(declared.get(key)) != repr(value))
    note = (f"outputs made with other params than its params.yaml ({', '.join(changed)}); named by dvc.lock's"
            if changed else "")
    return {**declared, **recorded}, note


def read_run(rev: str | None, repo: str = ".") -> tuple[dict, dict, str]:
    """(params that ran, {set: metrics}, note) of one revision: every evaluation set params.yaml names that dvc.lock
    says was evaluated (a set added but not yet run has no metrics), or, where there is none, every set it names."""
    params = parse_yaml(read_file(PARAMS_FILE, rev, repo), f"{PARAMS_FILE} at {rev or 'the workspace'}")
    declared = (params.get("data") or {}).get("eval") if isinstance(params, dict) else None
    if not isinstance(declared, dict) or not declared:
        raise SrganError(f"{PARAMS_FILE} at {rev or 'the workspace'}: no evaluation sets (data.eval) "
                         "in this project's format")
    lock = read_lock(rev, repo)
    metrics = {}
    evaluated = evaluated_sets(lock)  # DVC keeps a removed set's stage in dvc.lock: params.yaml says what is current
    for name in [name for name in declared if name in evaluated] or declared:
        path = evaluation_metrics(name).as_posix()
        try:
            metrics[name] = check_metrics(f"{rev or 'the workspace'}: {path}", json.loads(read_file(path, rev, repo)))
        except json.JSONDecodeError as err:
            raise SrganError(f"{path} at {rev or 'the workspace'}: not valid JSON ({err})") from None
    ran, note = params_that_ran(params, lock)
    return ran, metrics, note


def read_samples(rev: str | None, sets: list[str], store: Path, repo: str = ".") -> dict:
    """{set: {image: {key: PNG}}} of the samples a revision kept, each file written once into `store`, named
    by its content (runs that made the same bytes share one file)."""
    from dvc.api import DVCFileSystem

    found: dict = {}
    for name in sets:
        root = evaluation_samples(name).as_posix()
        try:
            fs = DVCFileSystem(repo, rev=rev)
            paths = sorted(path for path in fs.find(root) if path.endswith(".png")) if fs.isdir(root) else []
            for path in paths:
                image, file = PurePosixPath(path).parts[-2:]
                data = fs.read_bytes(path)
                target = store / f"{hashlib.sha256(data).hexdigest()[:24]}.png"
                if not target.exists():
                    with atomic_path(target) as tmp:
                        tmp.write_bytes(data)
                found.setdefault(name, {}).setdefault(image, {})[PurePosixPath(file).stem] = target
        except Exception as err:  # noqa: BLE001 - DVC raises many kinds; all mean "not in the cache"
            raise SrganError(f"{root} at {rev or 'the workspace'}: cannot be read ({type(err).__name__}); "
                             "fetch it with `dvc pull` (or `dvc exp pull` for an experiment)") from None
    return found


NOT_RUN = ("Queued", "Running", "Failed")  # `dvc exp show` states of experiments with no results of their own


def experiment_revs(repo: str = ".") -> dict[str, str]:
    """{experiment name: its commit} from `dvc exp show` (dvc.api.exp_show), of the experiments that finished: a
    queued, running or failed one holds its base commit's outputs, which would pass for its own. Those are named
    on stderr."""
    import dvc.api

    revs = {}
    for row in dvc.api.exp_show(repo=repo):
        name = row.get("Experiment")
        if not name or not row.get("rev"):
            continue
        if row.get("State") in NOT_RUN:
            print(f"warning: skipped {name}: {row['State'].lower()}, it has no results of its own", file=sys.stderr)
            continue
        revs[name] = row["rev"]
    return revs


def check_out_folder(out: Path, repo: str) -> None:
    """-o must be a folder, and not one of the pipeline's: srgan-compare would overwrite what `dvc repro` wrote
    (reports/index.html), and DVC would then see the stage's outputs changed."""
    if out.exists() and not out.is_dir():
        raise SrganError(f"-o {out} is a file; pass -o a folder for the comparison")
    reports, target = (Path(repo) / REPORTS).resolve(), out.resolve()
    if target.is_relative_to(reports) and not target.is_relative_to((Path(repo) / COMPARE).resolve()):
        raise SrganError(f"-o {out}: the pipeline's stages write {REPORTS}/; pass -o {COMPARE} (the default) or a "
                         f"folder outside {REPORTS}/")


def remove_stale_page(out: Path) -> None:
    """A comparison without --html leaves no index.html of an earlier one beside it: its run names (r1, r2, ...)
    would label other runs than the new figures' do."""
    (out / "index.html").unlink(missing_ok=True)
    shutil.rmtree(out / "images", ignore_errors=True)


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (argparse then names the option in its error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="srgan-compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("revs", nargs="*", help="git revisions, experiment names, or 'workspace'")
    parser.add_argument("--exp", action="store_true", help="add every experiment listed by `dvc exp show`")
    parser.add_argument("-o", "--out", type=Path, default=COMPARE)
    parser.add_argument("--repo", default=".")
    parser.add_argument("--dpi", type=positive_int, default=150, help="resolution of the figures (at least 1)")
    parser.add_argument("--html", action="store_true", help="also write index.html, the runs' samples side by side")
    return parser.parse_args(argv)


def collect(labels: dict[str, str | None], repo: str) -> tuple[dict, dict, dict]:
    """Params, metrics and notes of every revision that has metrics; the others are reported on stderr and
    skipped."""
    params, runs, notes = {}, {}, {}
    for label, rev in labels.items():
        try:
            params[label], runs[label], notes[label] = read_run(rev, repo)
        except SrganError as err:
            print(f"warning: skipped {label}: {err}", file=sys.stderr)
    if not runs:
        raise SrganError(f"none of {', '.join(labels)} has evaluation metrics to compare")
    return params, runs, notes


def write_html(labels: dict[str, str | None], params: dict, named: dict[str, str], table: pd.DataFrame, out: Path,
               repo: str) -> None:
    """index.html over the samples of every run that has them in the cache; the others are reported and left out.
    Runs of different scales get no page: it compares pixels of one scale."""
    scales = {named[label]: int(params[label].get("data.scale", 4)) for label in params}
    if len(set(scales.values())) > 1:
        remove_stale_page(out)
        print("warning: no index.html: the runs upscale by different factors ("
              + ", ".join(f"{run.split(':')[0]} x{scale}" for run, scale in scales.items())
              + "), and the page compares pixels of one scale; compare the runs of each scale apart", file=sys.stderr)
        return
    samples = {}
    for label in params:  # params are flat: {"data.eval.set5": "set5", "data.scale": 4, ...}
        sets = list(dict.fromkeys(key.split(".")[2] for key in params[label] if key.startswith("data.eval.")))
        try:
            found = read_samples(labels[label], sets, out / "images", repo)
        except SrganError as err:
            print(f"warning: no images of {label} in index.html: {err}", file=sys.stderr)
            continue
        if found:
            samples[named[label]] = found
        else:
            print(f"warning: {label} kept no sample images (evaluate.samples: 0); left out of index.html",
                  file=sys.stderr)
    write_comparison_page(out, table, samples, next(iter(scales.values())))
    print(f"wrote {out}/index.html ({len(samples)} of {len(params)} runs with images)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        labels = {rev: (None if rev == "workspace" else rev) for rev in args.revs}
        if args.exp:
            labels.update(experiment_revs(args.repo))
        if not labels:
            labels = {"HEAD": "HEAD", "workspace": None}
        check_out_folder(args.out, args.repo)
        params, runs, notes = collect(labels, args.repo)
        key = run_key(list(runs), differing_params(params), notes)
        table = write_comparison(dict(zip(key["run"], runs.values())), args.out, args.dpi, key)
        if args.html:
            shown = {row.revision: f"{row.run}: {row.params}" for row in key.itertuples()}
            write_html(labels, params, shown, table, args.out, args.repo)
        else:
            remove_stale_page(args.out)
    except SrganError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(key_markdown(key))
    print(f"compared {len(runs)} runs, {len(table)} rows -> {args.out}/comparison.{{csv,md,png}}, tradeoff.png, "
          "runs.csv (the key above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
