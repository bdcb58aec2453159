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
from srgan.data.sources import check_source, is_faces, materialise, unique_names
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


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_benchmark_sets_share_one_verified_download(benchmark, tmp_path):
    raw, downloads = tmp_path / "raw", tmp_path / "downloads"
    assert materialise("set5", "eval", raw / "set5", downloads, {}) == 2
    assert materialise("set14", "eval", raw / "set14", downloads, {}) == 1
    assert names(raw / "set5") == ["baby.png", "bird.png"]
    assert len(benchmark.requests) == 1  # the second set reused the verified archive
    assert (downloads / "benchmark.tar").exists() and not (downloads / "benchmark.tar.part").exists()


def test_a_corrupted_download_leaves_no_dataset(benchmark, tmp_path):
    (benchmark.root / "benchmark.tar").write_bytes(b"x" * 100)  # the server now sends something else
    with pytest.raises(SrganError, match="benchmark.tar"):
        materialise("set5", "eval", tmp_path / "raw", tmp_path / "downloads", {})
    assert not list((tmp_path / "raw").glob("*"))
    assert not (tmp_path / "downloads" / "benchmark.tar").exists()


def test_local_archive_is_checked_against_the_same_hash(benchmark, tmp_path):
    good = tmp_path / "mine.tar"
    good.write_bytes((benchmark.root / "benchmark.tar").read_bytes())
    assert materialise("set5", "eval", tmp_path / "raw", tmp_path / "dl", {"benchmark.tar": str(good)}) == 2
    assert benchmark.requests == []
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"not it")
    with pytest.raises(SrganError, match="bad.tar"):
        materialise("set5", "eval", tmp_path / "raw2", tmp_path / "dl2", {"benchmark.tar": str(bad)})


def test_mirror_url_is_used_and_verified(benchmark, tmp_path):
    (benchmark.root / "mirror.tar").write_bytes((benchmark.root / "benchmark.tar").read_bytes())
    materialise("set5", "eval", tmp_path / "raw", tmp_path / "dl", {"benchmark.tar": benchmark.url("mirror.tar")})
    assert [path for path, _ in benchmark.requests] == ["/mirror.tar"]


def test_celeba_uses_the_official_partition_and_is_faces(monkeypatch, server, tmp_path):
    files = [f"{i:06d}.jpg" for i in range(1, 7)]
    images = {f"img_align_celeba/{name}": png_bytes(i, (218, 178)) for i, name in enumerate(files)}
    partition = "\n".join(f"{name} {split}" for name, split in zip(files, "001122")).encode()
    host(monkeypatch, server, "celeba", {"img_align_celeba.zip": zip_of(images), "list_eval_partition.txt": partition})
    assert materialise("celeba", "train", tmp_path / "train", tmp_path / "dl", {}) == 2
    assert materialise("celeba", "eval", tmp_path / "eval", tmp_path / "dl", {}) == 2
    assert names(tmp_path / "eval") == ["000005.jpg", "000006.jpg"]
    assert is_faces("celeba") and not is_faces("div2k")


def test_max_images_caps_each_split(benchmark, tmp_path):
    assert materialise("set5", "eval", tmp_path / "raw", tmp_path / "dl", {}, max_images=1) == 1


def test_a_local_folder_source_lists_its_images(tmp_path):
    folder = tmp_path / "plates"
    for i, sub in enumerate(["a", "b"]):
        (folder / sub).mkdir(parents=True)
        (folder / sub / "same.png").write_bytes(png_bytes(i))
    (folder / "notes.heic").write_text("a photo this cannot read")
    source = f"folder: {folder}"  # the space a command line puts after the colon
    left_out = {}
    assert materialise(source, "train", tmp_path / "raw", tmp_path / "dl", {}, left_out=left_out) == 2
    assert names(tmp_path / "raw") == ["a__same.png", "b__same.png"]
    assert list(left_out) == [str(folder / "notes.heic")] and "(.heic)" in left_out[str(folder / "notes.heic")]
    (tmp_path / "empty").mkdir()
    with pytest.raises(SrganError, match="no images"):
        materialise(f"folder:{tmp_path / 'empty'}", "train", tmp_path / "raw", tmp_path / "dl", {})
    phone = tmp_path / "phone"
    phone.mkdir()
    for index in range(5):
        (phone / f"IMG_{index}.heic").write_bytes(b"x")
    with pytest.raises(SrganError, match=r"phone: no images in this folder .*; left out .*IMG_0\.heic, .*IMG_1\.heic, "
                                         r".*IMG_2\.heic and 2 more: not an image type this reads \(\.heic\)"):
        materialise(f"folder:{phone}", "train", tmp_path / "raw", tmp_path / "dl", {})
    with pytest.raises(SrganError, match="not a folder"):
        materialise(f"folder:{tmp_path / 'missing'}", "train", tmp_path / "raw", tmp_path / "dl", {})


def test_a_users_folder_is_never_written_to_whatever_its_layout(tmp_path):
    """Three different images at x/y/a.png, w/y/a.png and z/y/a.png (red-team case): all three arrive, under
    distinct names, and the user's files keep their content, their inode and their permissions."""
    folder = tmp_path / "photos"
    originals = {}
    for i, top in enumerate(["x", "w", "z"]):
        path = folder / top / "y" / "a.png"
        path.parent.mkdir(parents=True)
        path.write_bytes(png_bytes(i))
        originals[path] = (path.read_bytes(), path.stat().st_ino, path.stat().st_mode)
    target = tmp_path / "raw"
    for _ in range(2):  # a rerun over the previous output changes nothing either
        assert materialise(f"folder:{folder}", "eval", target, tmp_path / "dl", {}) == 3
    assert names(target) == ["w__y__a.png", "x__y__a.png", "z__y__a.png"]
    assert {(target / name).read_bytes() for name in names(target)} == {data for data, _, _ in originals.values()}
    for path, (data, inode, mode) in originals.items():
        assert path.read_bytes() == data and path.stat().st_mode == mode
        assert path.stat().st_nlink == 1, "a user's file must not be hard-linked into the pipeline's outputs"
        assert path.stat().st_ino == inode


def test_unique_names_keep_stems_apart(tmp_path):
    root = tmp_path
    paths = [root / "photo.png", root / "photo.jpg", root / "a" / "b.png", root / "c" / "b.png", root / "one.png"]
    result = unique_names(paths, root)
    assert result[root / "one.png"] == "one.png"
    assert result[root / "photo.png"] == "photo_png.png" and result[root / "photo.jpg"] == "photo_jpg.jpg"
    assert result[root / "a" / "b.png"] == "a__b.png" and result[root / "c" / "b.png"] == "c__b.png"
    stems = [name.rsplit(".", 1)[0] for name in result.values()]
    assert len(set(stems)) == len(stems)


def test_skimage_split_is_fixed(tmp_path):
    assert materialise("skimage", "eval", tmp_path / "eval", tmp_path / "dl", {}) == 3
    assert names(tmp_path / "eval") == ["astronaut.png", "chelsea.png", "coffee.png"]


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


def test_a_misspelt_archive_name_is_named_with_the_one_meant():
    sources.check_archives({"benchmark.tar": "/x/benchmark.tar", "DIV2K_train_HR.zip": "/x/a.zip"})
    with pytest.raises(SrganError, match=r"data.archives: no source downloads an archive named 'benchmark.tar.gz'; "
                                         r"did you mean 'benchmark.tar'\? the archives are .*BSDS300-images.tgz"):
        sources.check_archives({"benchmark.tar.gz": "/x/benchmark.tar"})


def test_an_unhashed_archive_of_the_wrong_layout_is_forgotten_so_the_right_one_can_come(tmp_path):
    """BSDS300 publishes no hash: the first archive that extracts is pinned. One that extracts but holds the images
    elsewhere must not stay pinned, or the right archive would be refused as corrupt."""
    images = {f"BSDS300/images/{split}/{index}.jpg": png_bytes(index) for split in ("train", "test")
              for index in range(2)}
    wrong, right = tmp_path / "wrong.tgz", tmp_path / "right.tgz"
    wrong.write_bytes(tar_of({f"extra/{name}": data for name, data in images.items()}))
    right.write_bytes(tar_of(images))
    downloads = tmp_path / "downloads"
    with pytest.raises(SrganError, match="does not have the expected layout, so it was deleted: check that "
                                         "data.archives.BSDS300-images.tgz"):
        materialise("bsds300", "train", tmp_path / "raw", downloads, {"BSDS300-images.tgz": str(wrong)})
    assert not (downloads / "BSDS300-images.tgz").exists() and not (downloads / "BSDS300-images.tgz.sha256").exists()
    assert materialise("bsds300", "train", tmp_path / "raw", downloads, {"BSDS300-images.tgz": str(right)}) == 2
