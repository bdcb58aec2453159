"""Distinct flat file names for files gathered from many folders: one algorithm (distinct_labels) for the
downloaded images of a data source and the images of an evaluation set (path_labels: name, then folders, then
suffix) and for the upscale command's outputs (srgan.upscale: name, then suffix, then parent folder)."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path
from typing import Callable, Hashable, Sequence, TypeVar

Item = TypeVar("Item", bound=Hashable)
MAX_LABEL_BYTES = 240  # of a file name's 255: room for its suffix (.jpeg) and a number (_2)


def distinct_labels(items: Sequence[Item], rungs: Sequence[Callable[[Item], str]]) -> dict[Item, str]:
    """A label for every item, in order, no two alike even ignoring case (so they stay apart on case-insensitive
    disks too): rungs[0] of each item; each later rung, more specific, for the items whose label still clashes;
    last, the first of a still-clashing label keeps it and the others are numbered (label_2, label_3, ...),
    skipping any label in use."""
    labels = {item: rungs[0](item) for item in items}
    for more_specific in rungs[1:]:
        for item in clashing(labels):
            labels[item] = more_specific(item)
    return _numbered(labels)


def path_labels(paths: Sequence[Path], root: Path | None = None) -> dict[Path, str]:
    """A label for each file: its stem; where stems clash, its folders below `root` (by default the files' common
    folder) and its stem joined with '__' (cam1__photo), at most MAX_LABEL_BYTES (see bounded); then with its
    suffix too (photo_png, photo_jpg)."""
    if root is None:
        root = Path(os.path.commonpath([path.parent for path in paths])) if paths else Path()

    def joined(path: Path, suffix: bool = False) -> str:
        label = "__".join(path.relative_to(root).with_suffix("").parts)
        return bounded(f"{label}_{path.suffix.lstrip('.')}" if suffix else label)

    return distinct_labels(paths, (lambda path: path.stem, joined, lambda path: joined(path, suffix=True)))


def bounded(label: str) -> str:
    """`label`, or where it would not fit a file name (MAX_LABEL_BYTES of its bytes; folders joined into it), a hash
    of it and as many of its last '__'-joined parts as fit: the end holds the file's own name, the hash keeps apart
    the labels that end alike."""
    data = os.fsencode(label)  # a name's bytes, also those no encoding reads (kept as surrogates)
    if len(data) <= MAX_LABEL_BYTES:
        return label
    digest = hashlib.sha256(data).hexdigest()[:10]
    room = MAX_LABEL_BYTES - len(digest) - 2
    tail = ""
    for part in reversed(label.split("__")):
        longer = f"{part}__{tail}" if tail else part
        if len(os.fsencode(longer)) > room:
            break
        tail = longer
    return f"{digest}__{tail or data[-room:].decode(errors='ignore')}"


def clashing(labels: dict[Item, str]) -> list[Item]:
    """The items whose label another item has too, ignoring case."""
    counts = Counter(label.casefold() for label in labels.values())
    return [item for item, label in labels.items() if counts[label.casefold()] > 1]


def _numbered(labels: dict[Item, str]) -> dict[Item, str]:
    crowded = set(clashing(labels))
    used = {label.casefold() for item, label in labels.items() if item not in crowded}
    result = {}
    for item, label in labels.items():
        unique, number = label, 1
        while item in crowded and unique.casefold() in used:
            number += 1
            unique = f"{label}_{number}"
        used.add(unique.casefold())
        result[item] = unique
    return result
