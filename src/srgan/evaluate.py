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
from srgan.inference import upscale_image
from srgan.metrics import LPIPS, image_metrics
from srgan.models.generator import Generator

Method = Callable[[np.ndarray], np.ndarray]
METRICS = ["psnr_y", "ssim_y", "psnr_rgb", "lpips"]


def baselines(scale: int) -> dict[str, Method]:
    return {"nearest": lambda lr: nearest_upscale(lr, scale), "bicubic": lambda lr: bicubic_upscale(lr, scale)}


def model_method(generator: Generator, tile: int) -> Method:
    return lambda image: upscale_image(generator, image, tile=tile, overlap=min(16, tile // 4))


def evaluate_images(dataset: str, images: dict[str, tuple[np.ndarray, np.ndarray]], methods: dict[str, Method],
                    scale: int, lpips_metric: LPIPS | None, samples: Samples | None = None) -> pd.DataFrame:
    """One row per (image, method): dataset, image, method and every metric; saves samples on the way."""
    rows = []
    for index, (name, (lr, hr)) in enumerate(tqdm(images.items(), desc=f"evaluate {dataset}", unit="image")):
        keep = samples is not None and index < samples.count
        outputs = {}
        for method, upscale in methods.items():
            sr = outputs[method] = upscale(lr)
            rows.append({"dataset": dataset, "image": name, "method": method,
                         **image_metrics(sr, hr, scale, lpips_metric)})
        if keep:
            samples.save(name, lr, hr, outputs)
    return pd.DataFrame(rows, columns=["dataset", "image", "method", *METRICS])


@dataclass
class Samples:
    """Where and how many sample outputs to keep: LR, every method, HR, and for each model its UR
    (ur_<model>.png: the model applied to the HR image itself)."""
    folder: Path
    count: int
    ur_methods: dict[str, Method] = field(default_factory=dict)

    def save(self, name: str, lr: np.ndarray, hr: np.ndarray, outputs: dict[str, np.ndarray]) -> None:
        folder = self.folder / name
        write_png(folder / "lr.png", lr)
        for method, image in outputs.items():
            write_png(folder / f"{method}.png", image)
        write_png(folder / "hr.png", hr)
        for method, upscale in self.ur_methods.items():
            write_png(folder / f"ur_{method}.png", upscale(hr))


def summarise(table: pd.DataFrame) -> dict:
    """{dataset: {method: {metric: mean or None}}}, methods in table order."""
    summary: dict = {}
    for (dataset, method), group in table.groupby(["dataset", "method"], sort=False):
        summary.setdefault(dataset, {})[method] = {
            metric: (None if group[metric].isna().all() else round(float(group[metric].mean()), 4))
            for metric in METRICS
        }
    return summary
