"""Distinct flat file names for files gathered from many folders, by one algorithm: the downloaded images of a
data source (srgan.data.sources) and the upscale command's outputs (srgan.upscale)."""

from __future__ import annotations

from collections import Counter
from typing import Callable, Hashable, Sequence, TypeVar

Item = TypeVar("Item", bound=Hashable)


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
