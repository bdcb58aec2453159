"""Pretrained backbones (VGG19 for the perceptual loss, AlexNet for LPIPS): resolved once, recorded, loaded.

The files are torchvision's, in torch.hub's cache ($TORCH_HOME/hub/checkpoints); the hex in each
name is the sha256 prefix torch.hub checks. `resolve` looks there, then in the tracked folder (a copy a
machine without internet pulled through DVC, put into the cache), optionally downloads, verifies,
and returns a record that says plainly what is available and, if not, why. `export` copies a
verified file into a folder the pipeline tracks (so a team shares it through a DVC remote, and a
machine without internet pulls it), and `load_state_dict` reads it back from there. Records hold
no machine-specific path: the same commit writes the same record on every machine.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from srgan.atomic import atomic_path
from srgan.errors import SrganError
from srgan.hashing import sha256_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Weights:
    file: str
    url: str

    @property
    def hash_prefix(self) -> str:
        return self.file.rsplit("-", 1)[1].split(".")[0]


BACKBONES = {
    "vgg19": Weights("vgg19-dcbb9e9d.pth", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"),
    "alexnet": Weights("alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"),
}


def cache_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def resolve(name: str, fetch: bool, tracked: Path | None = None) -> dict:
    """{'name', 'file', 'status': 'available'|'unavailable', 'sha256' or 'reason'} for one backbone: from the torch
    cache, else from a verified copy in `tracked` (copied into the cache), else downloaded when `fetch`."""
    weights = BACKBONES[name]
    path = cache_dir() / weights.file
    record = {"name": name, "file": weights.file}
    kept = tracked / weights.file if tracked is not None else None
    if not path.exists() and kept is not None and kept.exists() and sha256_of(kept).startswith(weights.hash_prefix):
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            shutil.copyfile(kept, tmp)
    if not path.exists() and fetch:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(weights.url, str(path), hash_prefix=weights.hash_prefix, progress=True)
        except Exception as err:  # noqa: BLE001 - any network failure becomes a recorded reason
            # The record names the kind of failure only: it is a stage output, the same on every machine that
            # cannot download; the details (a DNS error, a timeout) go to the log.
            log.warning("%s: the download from %s failed: %s", name, weights.url, err)
            return {**record, "status": "unavailable",
                    "reason": f"not in the torch cache nor pulled, and the download from {weights.url} failed "
                              f"({type(err).__name__})"}
    if not path.exists():
        return {**record, "status": "unavailable",
                "reason": "not in the torch cache nor pulled, and fetching is off (data.fetch_weights: false)"}
    digest = sha256_of(path)
    if not digest.startswith(weights.hash_prefix):
        return {**record, "status": "unavailable",
                "reason": f"the file in the torch cache fails its hash check (sha256 {digest[:12]}..., expected "
                          f"{weights.hash_prefix}...); delete it and download it again"}
    return {**record, "status": "available", "sha256": digest}


def resolve_all(fetch: bool, tracked: Path | None = None) -> dict:
    return {name: resolve(name, fetch, tracked) for name in BACKBONES}


def export(record: dict, folder: Path) -> None:
    """Copy an available backbone's verified file from the torch cache into `folder`."""
    if record["status"] == "available":
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cache_dir() / record["file"], folder / record["file"])


def describe(record: dict) -> str:
    """One line for logs, metrics and the report."""
    if record["status"] == "available":
        return f"{record['name']}: pretrained ImageNet weights ({record['file']})"
    return f"{record['name']}: UNAVAILABLE: {record['reason']}"


def load_state_dict(record: dict, folder: Path) -> dict:
    """The verified state dict of an available backbone exported to `folder`; weights only, no code executed."""
    if record["status"] != "available":
        raise SrganError(f"backbone {record['name']} is unavailable: {record['reason']}")
    path = Path(folder) / record["file"]
    if not path.exists() or sha256_of(path) != record["sha256"]:
        raise SrganError(f"{path} is missing or changed since the backbones stage exported it; "
                         "run `dvc repro -f backbones` (or `dvc pull`)")
    return torch.load(path, map_location="cpu", weights_only=True)
