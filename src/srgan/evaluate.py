"""Evaluation: every method on every held-out image under one protocol, plus sample outputs for the figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from tqdm import tqdm

from srgan.data.resize import bicubic_upscale, nearest_upscale
from srgan.imageio import write_png
from srgan.inference import overlap_for, upscale_image
from srgan.metrics import LPIPS, full_reference_metrics
from srgan.models.generator import Generator
from srgan.niqe import niqe_or_none
from srgan.samples import ur_box

Method = Callable[[np.ndarray], np.ndarray]
METRICS = ["psnr_y", "ssim_y", "psnr_rgb", "lpips", "niqe"]
HR = "hr"  # the ground truth's own NIQE: the perceptual ceiling


def baselines(scale: int) -> dict[str, Method]:
    return {"nearest": lambda lr: nearest_upscale(lr, scale), "bicubic": lambda lr: bicubic_upscale(lr, scale)}


def model_method(generator: Generator, tile: int, precision: str = "fp32") -> Method:
    return lambda image: upscale_image(generator, image, tile=tile, overlap=overlap_for(tile), precision=precision)


def evaluate_images(dataset: str, images: dict[str, tuple[np.ndarray, np.ndarray]], methods: dict[str, Method],
                    scale: int, lpips_metric: LPIPS | None, niqe: bool = True,
                    samples: Samples | None = None) -> pd.DataFrame:
    """One row per (image, method): dataset, image, method and every metric, plus a row of the HR image's
    NIQE; saves samples on the way. NIQE is computed with the scale's border cropped, like PSNR."""
    rows = []
    for index, (name, (lr, hr)) in enumerate(tqdm(images.items(), desc=f"evaluate {dataset}", unit="image")):
        outputs = {}
        for method, upscale in methods.items():
            sr = outputs[method] = upscale(lr)
            rows.append({"dataset": dataset, "image": name, "method": method,
                         **full_reference_metrics(sr, hr, scale, lpips_metric),
                         "niqe": niqe_or_none(sr, scale) if niqe else None})
        if niqe:
            rows.append({"dataset": dataset, "image": name, "method": HR, "niqe": niqe_or_none(hr, scale)})
        if samples is not None and index < samples.count:
            samples.save(name, lr, hr, outputs)
    return pd.DataFrame(rows, columns=["dataset", "image", "method", *METRICS])


@dataclass
class Samples:
    """Where and how many sample outputs to keep: LR, every method, HR, and for each model its UR
    (ur_<model>.png: the model applied to the centre of the HR image itself; srgan.samples)."""
    folder: Path
    count: int
    ur_methods: dict[str, Method] = field(default_factory=dict)

    def save(self, name: str, lr: np.ndarray, hr: np.ndarray, outputs: dict[str, np.ndarray]) -> None:
        folder = self.folder / name
        if folder.parent != self.folder or name in ("", ".", ".."):
            raise ValueError(f"sample name {name!r} would leave {self.folder}")
        write_png(folder / "lr.png", lr)
        for method, image in outputs.items():
            write_png(folder / f"{method}.png", image)
        write_png(folder / "hr.png", hr)
        top, left, side = ur_box(*hr.shape[:2])
        for method, upscale in self.ur_methods.items():
            write_png(folder / f"ur_{method}.png", upscale(hr[top:top + side, left:left + side]))


def coverage(table: pd.DataFrame) -> dict[str, dict[str, int]]:
    """{method: {metric: how many images its mean covers}}, for the metrics a method has at all."""
    return {method: {metric: int(group[metric].notna().sum()) for metric in METRICS if group[metric].notna().any()}
            for method, group in table.groupby("method", sort=False)}


def left_out(table: pd.DataFrame, niqe: bool = True) -> list[str]:
    """One line per (method, metric) whose mean leaves images out (NIQE of an image too small for two blocks,
    for example), naming them; empty when every mean covers every image. A metric no image of a method has is
    a method's lack (the HR row has no PSNR, LPIPS may be unavailable), except NIQE when it was computed
    (`niqe`): faces of 128 pixels are too small for it, and the report must not say every mean covers them."""
    images = list(dict.fromkeys(table["image"]))
    lines = []
    for method, group in table.groupby("method", sort=False):
        for metric in METRICS:
            missing = list(group.loc[group[metric].isna(), "image"])
            why = " (NIQE needs two 96x96 blocks after the border crop, not flat)" if metric == "niqe" else ""
            if missing and len(missing) < len(images):
                lines.append(f"{metric} of {method}: the mean covers {len(images) - len(missing)} of {len(images)} "
                             f"images; left out: {', '.join(missing)}{why}")
            elif missing and metric == "niqe" and niqe:
                lines.append(f"niqe of {method}: none of the {len(images)} images has a value, so no mean{why}")
    return lines


def summarise(table: pd.DataFrame) -> dict:
    """{method: {metric: mean}} in table order; metrics a method has no value for are left out (numbers only)."""
    summary: dict = {}
    for method, group in table.groupby("method", sort=False):
        summary[method] = {metric: round(float(group[metric].mean()), 4) for metric in METRICS
                           if group[metric].notna().any()}
    return summary
