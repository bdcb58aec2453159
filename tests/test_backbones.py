"""Tests for srgan.backbones: resolving pretrained weights in a private $TORCH_HOME, offline and from a local server."""

from __future__ import annotations

import functools
import hashlib
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from srgan import backbones
from srgan.backbones import Weights, cache_dir, describe, export, load_state_dict, resolve, resolve_all
from srgan.errors import SrganError
from srgan.hashing import sha256_of


@pytest.fixture(autouse=True)
def torch_home(tmp_path, monkeypatch):
    """A private, empty torch.hub cache: $TORCH_HOME/hub/checkpoints under tmp_path."""
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # get_dir() honours TORCH_HOME only when unset
    assert cache_dir() == home / "hub" / "checkpoints"
    return home


@pytest.fixture
def tiny_weights(tmp_path):
    """A torch.save'd small state dict, and the torchvision-style file name that embeds its sha256 prefix."""
    source = tmp_path / "source"
    source.mkdir()
    state = {"features.0.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3), "features.0.bias": torch.ones(2)}
    raw = source / "raw.pth"
    torch.save(state, raw)
    digest = hashlib.sha256(raw.read_bytes()).hexdigest()
    name = f"tiny-{digest[:8]}.pth"
    raw.rename(source / name)
    return source, name, digest, state


def _use(monkeypatch, name: str, url: str) -> None:
    monkeypatch.setattr(backbones, "BACKBONES", {"tiny": Weights(name, url)})


def test_a_weights_file_name_gives_its_hash_prefix():
    assert backbones.BACKBONES["vgg19"].hash_prefix == "dcbb9e9d"
    assert backbones.BACKBONES["alexnet"].hash_prefix == "7be5be79"
    assert Weights("alexnet-owt-7be5be79.pth", "u").hash_prefix == "7be5be79"


def test_missing_without_fetch_is_unavailable(torch_home):
    record = resolve("vgg19", fetch=False)
    assert record["status"] == "unavailable"
    assert record["name"] == "vgg19" and record["file"] == "vgg19-dcbb9e9d.pth"
    assert "fetch_weights" in record["reason"]
    assert "sha256" not in record
    line = describe(record)
    assert line.startswith("vgg19: UNAVAILABLE") and "fetch_weights" in line
    assert not (torch_home / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth").exists()


def test_resolve_all_covers_both_backbones():
    records = resolve_all(fetch=False)
    assert set(records) == {"vgg19", "alexnet"}
    assert all(r["status"] == "unavailable" for r in records.values())


def test_wrong_contents_fail_the_hash_check():
    path = cache_dir() / "alexnet-owt-7be5be79.pth"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not the weights")
    record = resolve("alexnet", fetch=True)  # present: no download is attempted
    assert record["status"] == "unavailable"
    assert "hash" in record["reason"] and "delete" in record["reason"]
    assert hashlib.sha256(b"not the weights").hexdigest()[:12] in record["reason"]
    assert path.read_bytes() == b"not the weights"  # left for the user to inspect and delete
    with pytest.raises(SrganError, match="alexnet"):
        load_state_dict(record, cache_dir())
    assert str(cache_dir()) not in record["reason"], "records hold no machine-specific path"


def test_matching_file_is_available(monkeypatch, tiny_weights):
    source, name, digest, state = tiny_weights
    _use(monkeypatch, name, "http://127.0.0.1:9/unused")
    cache_dir().mkdir(parents=True)
    (source / name).rename(cache_dir() / name)
    record = resolve("tiny", fetch=False)
    assert record == {"name": "tiny", "file": name, "status": "available", "sha256": digest}
    assert describe(record) == f"tiny: pretrained ImageNet weights ({name})"
    exported = cache_dir().parent / "exported"
    export(record, exported)
    loaded = load_state_dict(record, exported)
    assert set(loaded) == set(state)
    for key in state:
        assert torch.equal(loaded[key], state[key])


def test_a_pulled_copy_is_available_offline_and_a_changed_one_is_not(monkeypatch, tiny_weights, tmp_path):
    """A machine without internet has the weights only in the tracked folder (`dvc pull`): a rerun of the stage
    must find them there, not record them unavailable and retrain without them."""
    source, name, digest, _ = tiny_weights
    _use(monkeypatch, name, "http://127.0.0.1:9/unreachable")
    tracked = tmp_path / "data" / "backbones"
    tracked.mkdir(parents=True)
    (source / name).rename(tracked / name)
    assert resolve("tiny", fetch=True, tracked=tracked) == {"name": "tiny", "file": name, "status": "available",
                                                            "sha256": digest}
    assert sha256_of(cache_dir() / name) == digest
    (cache_dir() / name).unlink()
    (tracked / name).write_bytes(b"changed")
    record = resolve("tiny", fetch=False, tracked=tracked)
    assert record["status"] == "unavailable" and "nor pulled" in record["reason"]
    assert not (cache_dir() / name).exists()


def test_changed_file_after_resolve_is_refused(monkeypatch, tiny_weights):
    source, name, _, _ = tiny_weights
    _use(monkeypatch, name, "http://127.0.0.1:9/unused")
    cache_dir().mkdir(parents=True)
    (source / name).rename(cache_dir() / name)
    record = resolve("tiny", fetch=False)
    (cache_dir() / name).write_bytes(b"tampered")
    with pytest.raises(SrganError, match="changed"):
        load_state_dict(record, cache_dir())
    (cache_dir() / name).unlink()
    with pytest.raises(SrganError, match="missing"):
        load_state_dict(record, cache_dir())


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def server(tiny_weights):
    source = tiny_weights[0]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(source)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_fetch_downloads_into_the_cache(monkeypatch, tiny_weights, server, torch_home):
    source, name, digest, state = tiny_weights
    _use(monkeypatch, name, f"{server}/{name}")
    assert not (cache_dir() / name).exists()
    record = resolve("tiny", fetch=True)
    assert record["status"] == "available", record
    assert record["sha256"] == digest
    cached = torch_home / "hub" / "checkpoints" / name
    assert cached.is_file() and sha256_of(cached) == digest
    assert sorted(p.name for p in cached.parent.iterdir()) == [name]  # no partial download left
    assert torch.equal(load_state_dict(record, cache_dir())["features.0.weight"], state["features.0.weight"])


def test_fetch_of_a_file_with_the_wrong_hash_is_unavailable(monkeypatch, tiny_weights, server):
    source, name, _, _ = tiny_weights
    wrong = "tiny-00000000.pth"
    (source / wrong).write_bytes((source / name).read_bytes())
    _use(monkeypatch, wrong, f"{server}/{wrong}")
    record = resolve("tiny", fetch=True)
    assert record["status"] == "unavailable"
    assert f"{server}/{wrong}" in record["reason"]
    assert not (cache_dir() / wrong).exists()
    assert list(cache_dir().iterdir()) == []


def test_fetch_with_nothing_listening_is_unavailable(monkeypatch, tiny_weights):
    _, name, _, _ = tiny_weights
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{name}"
    _use(monkeypatch, name, url)
    record = resolve("tiny", fetch=True)
    assert record["status"] == "unavailable"
    assert url in record["reason"] and "download" in record["reason"]
    assert describe(record) == f"tiny: UNAVAILABLE: {record['reason']}"
    assert not (cache_dir() / name).exists()
    with pytest.raises(SrganError, match="tiny is unavailable"):
        load_state_dict(record, cache_dir())
