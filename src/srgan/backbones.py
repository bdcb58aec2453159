"""Pretrained backbones (VGG19 for the perceptual loss, AlexNet for LPIPS): resolved once, recorded, loaded.

The files are torchvision's, in torch.hub's cache ($TORCH_HOME/hub/checkpoints); the hex in each
name is the sha256 prefix torch.hub checks. `resolve` looks there, optionally downloads, verifies,
and returns a record that says plainly what is available and, if not, why. The record holds no
machine-specific path outside its human-readable reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from srgan.data.download import sha256_of
from srgan.errors import SrganError


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


def resolve(name: str, fetch: bool) -> dict:
    """{'name', 'file', 'status': 'available'|'unavailable', 'sha256' or 'reason'} for one backbone."""
    weights = BACKBONES[name]
    path = cache_dir() / weights.file
    record = {"name": name, "file": weights.file}
    if not path.exists() and fetch:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(weights.url, str(path), hash_prefix=weights.hash_prefix, progress=True)
        except Exception as err:  # noqa: BLE001 - any network failure becomes a recorded reason
            return {**record, "status": "unavailable",
                    "reason": f"not in {path.parent} and the download from {weights.url} failed ({err})"}
    if not path.exists():
        return {**record, "status": "unavailable",
                "reason": f"not in {path.parent} and fetching is off (data.fetch_weights: false)"}
    digest = sha256_of(path)
    if not digest.startswith(weights.hash_prefix):
        return {**record, "status": "unavailable",
                "reason": f"{path} fails its hash check (sha256 {digest[:12]}..., expected {weights.hash_prefix}...); "
                          "delete it and download it again"}
    return {**record, "status": "available", "sha256": digest}


def resolve_all(fetch: bool) -> dict:
    return {name: resolve(name, fetch) for name in BACKBONES}


def describe(record: dict) -> str:
    """One line for logs, metrics and the report."""
    if record["status"] == "available":
        return f"{record['name']}: pretrained ImageNet weights ({record['file']})"
    return f"{record['name']}: UNAVAILABLE: {record['reason']}"


def load_state_dict(record: dict) -> dict:
    """The verified state dict of an available backbone; weights only, no code executed."""
    if record["status"] != "available":
        raise SrganError(f"backbone {record['name']} is unavailable: {record['reason']}")
    path = cache_dir() / record["file"]
    if not path.exists() or sha256_of(path) != record["sha256"]:
        raise SrganError(f"{path} changed since the download stage resolved it; run `dvc repro -f download`")
    return torch.load(path, map_location="cpu", weights_only=True)
