"""Real LR-HR pairs (RealSR, Cai et al. 2019; plates shot from two distances): matched by name, checked for scale.

The download stage copies a `pairs:LR_DIR,HR_DIR` source into <raw>/lr and <raw>/hr; this module matches the two
by file name (without the suffix) and fits each pair so that HR is exactly `scale` times LR.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from srgan.errors import SrganError
from srgan.imageio import list_images

PREFIX = "pairs:"
TOLERANCE = 8  # HR pixels a side may exceed scale x LR by (sensor borders, rounding); the excess is cropped off
LR, HR = "lr", "hr"


def parse(source: str, key: str) -> tuple[Path, Path]:
    """(LR folder, HR folder) of `pairs:LR_DIR,HR_DIR`; a params error naming `key` otherwise."""
    folders = source[len(PREFIX):].split(",")
    if len(folders) != 2 or not all(folder.strip() for folder in folders):
        raise SrganError(f"params.yaml: {key}: give two folders, e.g. pairs:/data/lr,/data/hr, whose paths hold "
                         f"no comma (got {source!r})")
    return Path(folders[0].strip()).expanduser(), Path(folders[1].strip()).expanduser()


def match(raw: Path) -> tuple[list[Path], list[Path], dict[str, str]]:
    """(HR files, their LR files, {unmatched file: why}) of <raw>/hr and <raw>/lr, matched by name; an error
    when no file has a partner. Two files of one side with one name (p1.jpg and p1.png) make no pair: which of them
    is the partner cannot be known."""
    found = {side: {} for side in (LR, HR)}
    for side in (LR, HR):
        for path in list_images(raw / side):
            found[side].setdefault(_key(path, raw / side), []).append(path)
    ambiguous = {name for files in found.values() for name, paths in files.items() if len(paths) > 1}
    names = sorted((found[LR].keys() & found[HR].keys()) - ambiguous)
    skipped = {}
    for side, other in ((LR, HR), (HR, LR)):
        for name, paths in found[side].items():
            if name in ambiguous:
                sides = " and ".join(s for s in (LR, HR) if len(found[s].get(name, ())) > 1)
                why = f"several images in {sides} are named {name!r}: which pair is meant is unknown; rename them"
            elif name not in found[other]:
                why = f"no {other.upper()} image named {name!r}"
            else:
                continue
            skipped.update({str(path): why for path in paths})
    if not names:
        raise SrganError(f"{raw}: no LR image has an HR image of the same name ({len(found[LR])} LR, "
                         f"{len(found[HR])} HR files); pair them by file name, e.g. lr/plate1.png and hr/plate1.jpg")
    return [found[HR][name][0] for name in names], [found[LR][name][0] for name in names], skipped


def _key(path: Path, folder: Path) -> str:
    return path.relative_to(folder).with_suffix("").as_posix()


def fit(lr: np.ndarray, hr: np.ndarray, scale: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(lr, hr) with hr exactly `scale` times lr a side, HR's excess of up to TOLERANCE pixels cropped off."""
    (lr_h, lr_w), (hr_h, hr_w) = lr.shape[:2], hr.shape[:2]
    if not (0 <= hr_h - scale * lr_h <= TOLERANCE and 0 <= hr_w - scale * lr_w <= TOLERANCE):
        raise SrganError(f"{name}: HR {hr_w}x{hr_h} is not {scale} x LR {lr_w}x{lr_h} "
                         f"(= {scale * lr_w}x{scale * lr_h}, up to {TOLERANCE} px more allowed)")
    return lr, np.ascontiguousarray(hr[:scale * lr_h, :scale * lr_w])


def raw_images(raw: Path, paired: bool) -> tuple[list[Path], list[Path] | None, dict[str, str]]:
    """(HR files, their LR files or None, {unmatched file: why}) of a downloaded folder."""
    return match(raw) if paired else (list_images(raw), None, {})
