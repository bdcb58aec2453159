"""An offline comparison page: a slider and a grid over the sample PNGs, at the pixel level, in the browser.

The page (report_page.html, hand-written JS and CSS, no build step, no network) shows images by relative
paths and computes a region's PSNR-Y/SSIM-Y in the browser with the protocol of srgan.metrics. A browser
lets a page read pixels only when it is served (over HTTP); opened from file:// it shows the metrics
computed here for the regions the page opens on (the whole image, and the centred region at each zoom).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srgan.atomic import write_text
from srgan.errors import SrganError
from srgan.imageio import read_image
from srgan.metrics import psnr_y, ssim_y
from srgan.report import DIGITS, METRIC_NAMES, display_name, resolution_factor, sample_origin

TEMPLATE = Path(__file__).with_name("report_page.html")
ZOOMS = (1, 2, 4, 8)
VIEW_MAX = 640  # the slider's side in screen pixels, at most
TILE = 160  # a grid tile's side in screen pixels
SSIM_WINDOW = 11  # a region must hold one whole SSIM window


@dataclass
class Panel:
    """One picture the viewer can show: a method's output (or LR, HR, UR) of one image."""
    key: str  # unique in its image: a method, or run/method across runs
    label: str
    path: Path
    factor: float  # its resolution over HR's: LR 1/scale, UR scale, the rest 1


def region_box(height: int, width: int, view: tuple[int, int], zoom: int, centre: tuple[float, float]):
    """(top, left, h, w) in HR pixels of what a view of `view` (h, w) screen pixels shows at `zoom` around
    `centre` (y, x); the page computes the same box."""
    h, w = min(height, view[0] // zoom), min(width, view[1] // zoom)
    top = min(max(math.floor(centre[0] - h / 2 + 0.5), 0), height - h)
    left = min(max(math.floor(centre[1] - w / 2 + 0.5), 0), width - w)
    return top, left, h, w


def metric_box(box: tuple[int, int, int, int], height: int, width: int, border: int):
    """The box less the image's border of `border` pixels (the protocol's crop), or None when too small for SSIM."""
    top, left, h, w = box
    y0, x0 = max(top, border), max(left, border)
    y1, x1 = min(top + h, height - border), min(left + w, width - border)
    if y1 - y0 < SSIM_WINDOW or x1 - x0 < SSIM_WINDOW:
        return None
    return y0, x0, y1 - y0, x1 - x0


def region_metrics(sr: np.ndarray, hr: np.ndarray, box: tuple[int, int, int, int], border: int):
    """[PSNR-Y, SSIM-Y] of a region of two HR-sized images, its part in the border left out; None if too small."""
    inside = metric_box(box, *hr.shape[:2], border)
    if inside is None:
        return None
    top, left, h, w = inside
    a, b = sr[top:top + h, left:left + w], hr[top:top + h, left:left + w]
    psnr = psnr_y(a, b, 0)
    return [None if math.isinf(psnr) else round(psnr, 4), round(ssim_y(a, b, 0), 6)]


def opening_boxes(height: int, width: int) -> list[tuple[int, int, int, int]]:
    """The regions the page opens on: the slider's at every zoom and the grid's at every zoom, centred."""
    centre = (height / 2, width / 2)
    view = (min(height, VIEW_MAX), min(width, VIEW_MAX))
    return list(dict.fromkeys(region_box(height, width, size, zoom, centre)
                              for size in (view, (TILE, TILE)) for zoom in ZOOMS))


def image_entry(name: str, panels: list[Panel], page_dir: Path, border: int) -> dict:
    """One image of a viewer: its panels (paths relative to the page) and the metrics of its opening regions."""
    reference = next((i for i, panel in enumerate(panels) if panel.key == "hr"), None)
    if reference is None:
        raise SrganError(f"sample {name!r}: no hr.png beside {[p.path.name for p in panels]}; the samples are "
                         "incomplete: rerun the evaluation (dvc repro -f evaluate@<set>)")
    hr = read_image(panels[reference].path)
    known: dict[str, dict] = {}
    for panel in panels:
        if panel.factor != 1 or panel.key == "hr":
            continue
        image = read_image(panel.path)
        for box in opening_boxes(*hr.shape[:2]):
            known.setdefault(",".join(map(str, box)), {})[panel.key] = region_metrics(image, hr, box, border)
    return {"name": name, "height": hr.shape[0], "width": hr.shape[1], "reference": reference,
            "panels": [{"key": p.key, "label": p.label, "factor": p.factor,
                        "origin": sample_origin(p.key.partition("@")[0], hr.shape),  # a UR covers HR's centre
                        "src": Path(os.path.relpath(p.path, page_dir)).as_posix()} for p in panels],
            "known": known}


def panel_order(keys, methods: list[str]) -> list[str]:
    """LR, `methods` (evaluation order), HR, then the rest (the UR of each model, blends) as they come."""
    order = list(dict.fromkeys(["lr", *(m for m in methods if m != "hr"), "hr"]))
    return [key for key in order if key in keys] + [key for key in keys if key not in order]


def sample_panels(folder: Path, methods: list[str], scale: int, labels: dict[str, str] | None = None) -> list[Panel]:
    """The PNGs evaluate kept for one image, in panel order, each labelled as on the slides."""
    files = {path.stem: path for path in sorted(folder.glob("*.png"))}
    return [Panel(key, display_name(key, labels), files[key], resolution_factor(key, scale))
            for key in panel_order(files, methods)]


def report_viewer(name: str, samples: Path, images: list[str], methods: list[str], scale: int,
                  labels: dict[str, str], page_dir: Path) -> dict:
    """A viewer over one evaluation set's kept samples."""
    return {"name": name, "title": f"{name}: pixels of every method",
            "images": [image_entry(image, sample_panels(samples / image, methods, scale, labels), page_dir, scale)
                       for image in images]}


def runs_viewer(name: str, images: dict[str, dict[str, dict[str, Path]]], scale: int, page_dir: Path) -> dict:
    """A viewer across runs: {image: {run: {key: PNG}}}, where runs that wrote the same bytes share one file.
    Each method shows once per distinct output, named by the runs that made it; HR is the first run's, and a
    run whose HR differs (other data) is left out of that image."""
    entries = []
    for image, runs in images.items():
        hr = next(iter(runs.values()))["hr"]
        runs = {run: files for run, files in runs.items() if files.get("hr") == hr}
        keys = list(dict.fromkeys(key for files in runs.values() for key in files))
        keys = panel_order(keys, ["nearest", "bicubic", *(k for k in keys if not k.startswith("ur_"))])
        panels = []
        for key in keys:
            outputs: dict[Path, list[str]] = {}
            for run, files in runs.items():
                if key in files:
                    outputs.setdefault(files[key], []).append(run)
            for index, (path, makers) in enumerate(outputs.items()):
                shared = len(outputs) == 1 and len(makers) == len(runs)
                label = display_name(key) if shared else f"{display_name(key)} · {'; '.join(makers)}"
                panels.append(Panel(key if shared else f"{key}@{index}", label, path,
                                    resolution_factor(key, scale)))
        entries.append(image_entry(image, panels, page_dir, scale))
    return {"name": name, "title": f"{name}: the same image and method in every run", "images": entries}


def table_spec(name: str, rows: list[dict], metrics: list[str], caption: str = "",
               names: tuple[tuple[str, str], ...] = (("method", "Method"),)) -> dict:
    """A sortable table: the `names` columns (key, title) name the row, then one column per metric (None: n/a)."""
    columns = [{"title": title} for _, title in names] + [{"title": METRIC_NAMES[m], "digits": DIGITS[m]}
                                                          for m in metrics]
    cells = [[*(row[key] for key, _ in names), *(_number(row.get(m)) for m in metrics)] for row in rows]
    return {"name": name, "caption": caption, "columns": columns, "rows": cells}


def _number(value) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else float(value)


def write_page(out: Path, title: str, scale: int, viewers: list[dict], tables: list[dict],
               notes: list[dict], figures: list[dict]) -> None:
    """Fill the template: viewers [{name, images: [image_entry]}], tables [{name, columns, rows}],
    notes [{title, lines}] (provenance), figures [{title, src}] (paths relative to the page)."""
    page = {"title": title, "scale": scale, "zooms": list(ZOOMS), "view": VIEW_MAX, "tile": TILE,
            "window": SSIM_WINDOW, "viewers": viewers, "tables": tables, "notes": notes, "figures": figures}
    data = json.dumps(page, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    html = TEMPLATE.read_text().replace("__TITLE__", _escape(title)).replace("__PAGE_DATA__", data)
    write_text(out, html)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
