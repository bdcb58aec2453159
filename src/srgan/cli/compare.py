"""`srgan-compare`: the evaluation metrics of several git revisions or DVC experiments side by side.

    srgan-compare main HEAD workspace      # commits, branches, tags; 'workspace' is the working tree
    srgan-compare --exp                    # every experiment of `dvc exp show`
    srgan-compare main exp-1a2b3 -o reports/compare

Each run is named by the params that differ between the runs (for example gan.adv_weight=0.01).
Writes comparison.csv, comparison.md (a Markdown table), comparison.png (PSNR-Y bars from 0 dB) and
tradeoff.png (PSNR-Y against LPIPS or NIQE for every method of every run) to -o. A revision without
metrics is reported and left out; the others are compared.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from srgan.compare import differing_params, write_comparison
from srgan.errors import SrganError

PARAMS_FILE = "params.yaml"


def read_file(path: str, rev: str | None, repo: str) -> str:
    """A file's text at a revision (None: the workspace), via dvc.api (git- or DVC-tracked alike)."""
    import dvc.api

    try:
        return dvc.api.read(path, repo=repo, rev=rev)
    except Exception as err:  # noqa: BLE001 - DVC raises many kinds; all mean "not there"
        raise SrganError(f"{path} at {rev or 'the workspace'}: cannot be read ({type(err).__name__}: {err}); "
                         "was the pipeline run and its results committed there?") from None


def read_run(rev: str | None, repo: str = ".") -> tuple[dict, dict]:
    """(params, {set: metrics}) of one revision: every evaluation set its params.yaml names."""
    params = yaml.safe_load(read_file(PARAMS_FILE, rev, repo))
    sets = (params.get("data") or {}).get("eval") if isinstance(params, dict) else None
    if not isinstance(sets, dict) or not sets:
        raise SrganError(f"{PARAMS_FILE} at {rev or 'the workspace'}: no evaluation sets (data.eval) "
                         "in this project's format")
    metrics = {}
    for name in sets:
        path = f"reports/evaluate/{name}/metrics.json"
        try:
            metrics[name] = json.loads(read_file(path, rev, repo))
        except json.JSONDecodeError as err:
            raise SrganError(f"{path} at {rev or 'the workspace'}: not valid JSON ({err})") from None
    return params, metrics


def experiment_revs(repo: str = ".") -> dict[str, str]:
    """{experiment name: its commit} from `dvc exp show` (dvc.api.exp_show)."""
    import dvc.api

    rows = dvc.api.exp_show(repo=repo)
    return {row["Experiment"]: row["rev"] for row in rows if row.get("Experiment") and row.get("rev")}


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
    parser.add_argument("-o", "--out", type=Path, default=Path("reports/compare"))
    parser.add_argument("--repo", default=".")
    parser.add_argument("--dpi", type=positive_int, default=150, help="resolution of the figures (at least 1)")
    return parser.parse_args(argv)


def collect(labels: dict[str, str | None], repo: str) -> tuple[dict, dict]:
    """Params and metrics of every revision that has them; the others are reported on stderr and skipped."""
    params, runs = {}, {}
    for label, rev in labels.items():
        try:
            params[label], runs[label] = read_run(rev, repo)
        except SrganError as err:
            print(f"warning: skipped {label}: {err}", file=sys.stderr)
    if not runs:
        raise SrganError(f"none of {', '.join(labels)} has evaluation metrics to compare")
    return params, runs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        labels = {rev: (None if rev == "workspace" else rev) for rev in args.revs}
        if args.exp:
            labels.update(experiment_revs(args.repo))
        if not labels:
            labels = {"HEAD": "HEAD", "workspace": None}
        params, runs = collect(labels, args.repo)
        names = differing_params(params)
        named = {(f"{label}: {names[label]}" if names[label] else label): metrics for label, metrics in runs.items()}
        table = write_comparison(named, args.out, args.dpi)
    except SrganError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"compared {len(runs)} runs, {len(table)} rows -> {args.out}/comparison.{{csv,md,png}}, tradeoff.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
