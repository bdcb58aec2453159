"""Sources against a real HTTP server on 127.0.0.1: archives in the real datasets' layouts, built here."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srgan.data import sources
from srgan.data.crops import face_crop
from srgan.data.sources import check_source, images_of, is_faces, materialise, raw_name
from srgan.errors import SrganError


def png_bytes(seed: int, size=(24, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def tar_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def host(monkeypatch, server, name: str, files: dict[str, bytes]) -> None:
    """Serve `files` at the URLs of source `name`, with their real hashes recorded in its spec."""
    spec = sources.SOURCES[name]
    archives = []
    for archive in spec.archives:
        data = files[archive.file]
        (server.root / archive.file).write_bytes(data)
        archives.append(dataclasses.replace(archive, url=server.url(archive.file), size=len(data),
                                            sha256=hashlib.sha256(data).hexdigest(),
                                            md5=hashlib.md5(data).hexdigest()))
    monkeypatch.setitem(sources.SOURCES, name, dataclasses.replace(spec, archives=tuple(archives)))


@pytest.fixture
def benchmark(monkeypatch, server):
    tar = tar_of({f"benchmark/{folder}/HR/{image}.png": png_bytes(i)
                  for i, (folder, image) in enumerate([("Set5", "baby"), ("Set5", "bird"), ("Set14", "lenna")])})
    host(monkeypatch, server, "set5", {"benchmark.tar": tar})
    host(monkeypatch, server, "set14", {"benchmark.tar": tar})
    return server


def test_benchmark_sets_share_one_verified_download(benchmark, tmp_path):
    raw, downloads = tmp_path / "raw", tmp_path / "downloads"
    assert materialise("set5", ["eval"], raw, downloads, {}) == {"eval": 2}
    assert materialise("set14", ["eval"], raw, downloads, {}) == {"eval": 1}
    assert [p.name for p in images_of(raw, "set5", "eval")] == ["baby.png", "bird.png"]
    assert len(benchmark.requests) == 1  # the second set reused the verified archive
    assert (downloads / "benchmark.tar").exists() and not (downloads / "benchmark.tar.part").exists()


def test_a_corrupted_download_leaves_no_dataset(benchmark, tmp_path):
    (benchmark.root / "benchmark.tar").write_bytes(b"x" * 100)  # the server now sends something else
    with pytest.raises(SrganError, match="benchmark.tar"):
        materialise("set5", ["eval"], tmp_path / "raw", tmp_path / "downloads", {})
    assert not (tmp_path / "raw" / "set5").exists()
    assert not (tmp_path / "downloads" / "benchmark.tar").exists()


def test_local_archive_is_checked_against_the_same_hash(benchmark, tmp_path):
    good = tmp_path / "mine.tar"
    good.write_bytes((benchmark.root / "benchmark.tar").read_bytes())
    counts = materialise("set5", ["eval"], tmp_path / "raw", tmp_path / "dl", {"benchmark.tar": str(good)})
    assert counts == {"eval": 2} and benchmark.requests == []
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"not it")
    with pytest.raises(SrganError, match="bad.tar"):
        materialise("set5", ["eval"], tmp_path / "raw2", tmp_path / "dl2", {"benchmark.tar": str(bad)})


def test_mirror_url_is_used_and_verified(benchmark, tmp_path):
    (benchmark.root / "mirror.tar").write_bytes((benchmark.root / "benchmark.tar").read_bytes())
    materialise("set5", ["eval"], tmp_path / "raw", tmp_path / "dl", {"benchmark.tar": benchmark.url("mirror.tar")})
    assert [path for path, _ in benchmark.requests] == ["/mirror.tar"]


def test_celeba_uses_the_official_partition_and_is_faces(monkeypatch, server, tmp_path):
    names = [f"{i:06d}.jpg" for i in range(1, 7)]
    images = {f"img_align_celeba/{name}": png_bytes(i, (218, 178)) for i, name in enumerate(names)}
    partition = "\n".join(f"{name} {split}" for name, split in zip(names, "001122")).encode()
    host(monkeypatch, server, "celeba", {"img_align_celeba.zip": zip_of(images), "list_eval_partition.txt": partition})
    counts = materialise("celeba", ["train", "eval"], tmp_path / "raw", tmp_path / "dl", {})
    assert counts == {"train": 2, "eval": 2}
    assert [p.name for p in images_of(tmp_path / "raw", "celeba", "eval")] == ["000005.jpg", "000006.jpg"]
    assert is_faces("celeba") and not is_faces("div2k")


def test_max_images_caps_each_split(benchmark, tmp_path):
    assert materialise("set5", ["eval"], tmp_path / "raw", tmp_path / "dl", {}, max_images=1) == {"eval": 1}


def test_local_folder_source(tmp_path):
    folder = tmp_path / "plates"
    for i, sub in enumerate(["a", "b"]):
        (folder / sub).mkdir(parents=True)
        (folder / sub / "same.png").write_bytes(png_bytes(i))
    (folder / "notes.txt").write_text("ignored")
    source = f"folder:{folder}"
    assert raw_name(source) == "folder_plates"
    assert materialise(source, ["train", "eval"], tmp_path / "raw", tmp_path / "dl", {}) == {"train": 2, "eval": 2}
    assert sorted(p.name for p in images_of(tmp_path / "raw", source, "train")) == ["b_same.png", "same.png"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(SrganError, match="no images"):
        materialise(f"folder:{tmp_path / 'empty'}", ["train"], tmp_path / "raw", tmp_path / "dl", {})
    with pytest.raises(SrganError, match="not a folder"):
        materialise(f"folder:{tmp_path / 'missing'}", ["train"], tmp_path / "raw", tmp_path / "dl", {})


def test_skimage_split_is_fixed():
    raw = Path("unused")
    assert raw_name("skimage") == "skimage"
    with pytest.raises(SrganError, match="run the download stage"):
        images_of(raw, "skimage", "eval")


@pytest.mark.parametrize("name,split,message", [
    ("imagenet", "train", "unknown source 'imagenet'"),
    ("set5", "train", "set5 has no train split"),
    ("folder:", "train", "give the folder"),
])
def test_bad_source_names_the_key(name, split, message):
    with pytest.raises(SrganError, match=message) as err:
        check_source(name, "data.train", split)
    assert "data.train" in str(err.value)


def test_face_crop_is_the_centred_square_at_128():
    face = np.zeros((218, 178, 3), np.uint8)
    face[20:198] = 200  # the centred 178x178 square is uniform
    out = face_crop(face)
    assert out.shape == (128, 128, 3) and (out == 200).all()


def test_every_real_source_has_a_verifiable_archive():
    for spec in sources.SOURCES.values():
        for archive in spec.archives:
            assert archive.url.startswith("http")
            assert archive.sha256 or archive.md5 or spec.name == "bsds300", spec.name
