"""Bicubic- against realistic-trained SRResNet and SRGAN, each on the clean and on the realistically degraded set.

    python benchmarks/degradation_table.py                       # the default recipe's steps (long on a CPU)
    python benchmarks/degradation_table.py --pretrain-steps 300 --gan-steps 100 --out table.md
    python benchmarks/degradation_table.py --draws 1                 # the degraded set as one draw of each photo
    python benchmarks/degradation_table.py --interpolation 0.25 0.5 0.75   # and the blends between the two models

Copies the project (src, dvc.yaml, params.yaml) into a temporary folder, adds the evaluation set
`skimage_real: {source: skimage, degradation: realistic, draws: 8}` beside `skimage` (8 seeded LR draws of each
held-out photo: one draw of 3 photos is too few to tell models apart), and runs the real `dvc repro` twice
there: with `data.degradation: bicubic` and with `realistic` (the same seed, crops and steps). Prints, and with
--out writes, one Markdown table of PSNR-Y, SSIM-Y and NIQE per (training degradation, model, evaluation set).
The project's own workspace, cache and lock are never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from srgan.interpolation import blend_name

PROJECT = Path(__file__).resolve().parents[1]
SETS = ("skimage", "skimage_real")
MODELS = {"bicubic": "bicubic baseline", "srresnet": "SRResNet", "srgan": "SRGAN"}


def project_copy(root: Path, degradation: str, pretrain_steps: int | None, gan_steps: int | None,
                 draws: int, alphas: list[float]) -> Path:
    folder = root / degradation
    shutil.copytree(PROJECT / "src", folder / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(PROJECT / ".dvc", folder / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
        shutil.copy(PROJECT / name, folder / name)
    params = yaml.safe_load((folder / "params.yaml").read_text())
    params["data"]["degradation"] = degradation
    params["data"]["eval"] = {"skimage": "skimage",
                              "skimage_real": {"source": "skimage", "degradation": "realistic", "seed": 0,
                                               "draws": draws}}
    if pretrain_steps:
        params["pretrain"]["steps"] = pretrain_steps
        params["pretrain"]["lr_decay"]["at"] = [step for step in params["pretrain"]["lr_decay"]["at"]
                                                if step < pretrain_steps]
    if gan_steps:
        params["gan"]["steps"] = gan_steps
    params["evaluate"]["interpolation"] = alphas
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "benchmark"]):
        subprocess.run(command, cwd=folder, check=True, capture_output=True,
                       env={**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
                            "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"})
    return folder


def run(folder: Path) -> dict:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1"}
    stages = ["evaluate@skimage", "evaluate@skimage_real"]  # and the stages they need; not the report
    subprocess.run([sys.executable, "-m", "dvc", "repro", *stages], cwd=folder, env=env, check=True)
    return {name: json.loads((folder / f"reports/evaluate/{name}/metrics.json").read_text()) for name in SETS}


def table(results: dict[str, dict], draws: int, alphas: list[float]) -> str:
    labels = {"skimage": "clean (bicubic LR)",
              "skimage_real": f"degraded (realistic LR, seed 0, {draws} draw{'s' if draws > 1 else ''} a photo)"}
    lines = ["| trained on | model | " + " | ".join(f"{labels[s]}: PSNR-Y / SSIM-Y / NIQE" for s in SETS) + " |",
             "|---|---|" + "---|" * len(SETS)]
    for index, (degradation, metrics) in enumerate(results.items()):
        blends = {blend_name(alpha): f"blend α={alpha:g}" for alpha in alphas}
        for model, label in {**MODELS, **blends}.items():
            if model == "bicubic" and index:  # the baseline does not depend on training: once is enough
                continue
            cells = [" / ".join(f"{metrics[s][model].get(k, float('nan')):.{d}f}"
                                for k, d in (("psnr_y", 2), ("ssim_y", 4), ("niqe", 2))) for s in SETS]
            trained = "-" if model == "bicubic" else degradation
            lines.append(f"| {trained} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pretrain-steps", type=int, help="pretrain.steps (default: params.yaml's)")
    parser.add_argument("--gan-steps", type=int, help="gan.steps (default: params.yaml's)")
    parser.add_argument("--draws", type=int, default=8, help="LR draws of each photo in the degraded set")
    parser.add_argument("--interpolation", type=float, nargs="*", default=[],
                        help="also SRResNet-to-SRGAN blends of these alphas (evaluate.interpolation)")
    parser.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="degradation_table_") as root:
        results = {degradation: run(project_copy(Path(root), degradation, args.pretrain_steps, args.gan_steps,
                                                 args.draws, args.interpolation))
                   for degradation in ("bicubic", "realistic")}
    text = table(results, args.draws, args.interpolation)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
