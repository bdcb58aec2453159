"""`srgan-compare`: the metrics of several git revisions or DVC experiments side by side.

    srgan-compare main HEAD workspace      # commits, branches, tags; 'workspace' is the working tree
    srgan-compare --exp                    # every experiment of `dvc exp show`
    srgan-compare main exp-1a2b3 -o reports/compare

Writes comparison.csv, comparison.md (a Markdown table) and comparison.png (PSNR-Y bars) to -o.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from srgan.compare import write_comparison
from srgan.errors import SrganError

METRICS_FILE = "reports/metrics.json"


def read_metrics(rev: str | None, repo: str = ".") -> dict:
    """reports/metrics.json at a revision (None: the workspace), via dvc.api."""
    import dvc.api

    try:
        return json.loads(dvc.api.read(METRICS_FILE, repo=repo, rev=rev))
    except Exception as err:  # noqa: BLE001 - DVC raises many kinds; all mean "no metrics there"
        where = rev or "the workspace"
        raise SrganError(f"{METRICS_FILE} at {where}: cannot be read ({type(err).__name__}: {err}); "
                         "was the pipeline run and its metrics committed there?") from None


def experiment_revs(repo: str = ".") -> dict[str, str]:
    """{experiment name: its commit} from `dvc exp show` (dvc.api.exp_show)."""
    import dvc.api

    rows = dvc.api.exp_show(repo=repo)
    return {row["Experiment"]: row["rev"] for row in rows if row.get("Experiment") and row.get("rev")}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="srgan-compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("revs", nargs="*", help="git revisions, experiment names, or 'workspace'")
    parser.add_argument("--exp", action="store_true", help="add every experiment listed by `dvc exp show`")
    parser.add_argument("-o", "--out", type=Path, default=Path("reports/compare"))
    parser.add_argument("--repo", default=".")
    parser.add_argument("--dpi", type=int, default=150)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        labels = {rev: (None if rev == "workspace" else rev) for rev in args.revs}
        if args.exp:
            labels.update(experiment_revs(args.repo))
        if not labels:
            labels = {"HEAD": "HEAD", "workspace": None}
        runs = {label: read_metrics(rev, args.repo) for label, rev in labels.items()}
        table = write_comparison(runs, args.out, args.dpi)
    except SrganError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"compared {len(runs)} runs, {len(table)} rows -> {args.out}/comparison.{{csv,md,png}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
