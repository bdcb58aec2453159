"""Tests for srgan.data.download against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import stat
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from srgan.data.download import fetch, md5_of, safe_extract, sha256_of
from srgan.errors import SrganError


def serve(state, name: str, data: bytes) -> str:
    """Put data on the server and return its sha256."""
    (state.root / name).write_bytes(data)
    return sha256_of_bytes(data)


def sha256_of_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


DATA = os.urandom(300_000)


# ----------------------------------------------------------------------------- fetch


def test_fetch_success(server, tmp_path: Path) -> None:
    digest = serve(server, "a.bin", DATA)
    dest = tmp_path / "out" / "a.bin"
    assert fetch(server.url("a.bin"), dest, sha256=digest, size=len(DATA), progress=False) == dest
    assert dest.read_bytes() == DATA
    assert not dest.with_name("a.bin.part").exists()
    assert sha256_of(dest) == digest
    assert md5_of(dest) == hashlib.md5(DATA).hexdigest()


def test_fetch_md5_only(server, tmp_path: Path) -> None:
    serve(server, "a.bin", DATA)
    dest = tmp_path / "a.bin"
    fetch(server.url("a.bin"), dest, md5=hashlib.md5(DATA).hexdigest(), progress=False)
    assert dest.read_bytes() == DATA


def test_fetch_already_present_makes_no_request(server, tmp_path: Path) -> None:
    digest = serve(server, "a.bin", DATA)
    dest = tmp_path / "a.bin"
    fetch(server.url("a.bin"), dest, sha256=digest, progress=False)
    fetch(server.url("a.bin"), dest, sha256=digest, progress=False)
    assert len(server.requests) == 1


def test_fetch_replaces_corrupt_dest(server, tmp_path: Path) -> None:
    digest = serve(server, "a.bin", DATA)
    dest = tmp_path / "a.bin"
    dest.write_bytes(b"not it")
    fetch(server.url("a.bin"), dest, sha256=digest, progress=False)
    assert dest.read_bytes() == DATA
    assert len(server.requests) == 1


def test_fetch_resumes_after_cut_connection(server, tmp_path: Path) -> None:
    digest = serve(server, "a.bin", DATA)
    dest = tmp_path / "a.bin"
    part = tmp_path / "a.bin.part"
    server.cut_after = 100_000
    with pytest.raises(SrganError, match="interrupted.*resume"):
        fetch(server.url("a.bin"), dest, sha256=digest, progress=False)
    assert part.stat().st_size == 100_000
    assert not dest.exists()

    fetch(server.url("a.bin"), dest, sha256=digest, progress=False)
    assert server.requests[1][1] == "bytes=100000-"
    assert sha256_of(dest) == digest
    assert not part.exists()


def test_fetch_restarts_when_server_ignores_range(server, tmp_path: Path) -> None:
    digest = serve(server, "a.bin", DATA)
    dest = tmp_path / "a.bin"
    (tmp_path / "a.bin.part").write_bytes(b"x" * 1000)
    server.ranges = False
    fetch(server.url("a.bin"), dest, sha256=digest, progress=False)
    assert server.requests[0][1] == "bytes=1000-"
    assert dest.read_bytes() == DATA


def test_fetch_complete_part_answered_416(server, tmp_path: Path) -> None:
    digest = serve(server, "a.bin", DATA)
    dest = tmp_path / "a.bin"
    (tmp_path / "a.bin.part").write_bytes(DATA)
    fetch(server.url("a.bin"), dest, sha256=digest, progress=False)
    assert server.requests[0][1] == f"bytes={len(DATA)}-"
    assert dest.read_bytes() == DATA


def test_fetch_wrong_hash(server, tmp_path: Path) -> None:
    serve(server, "a.bin", DATA)
    dest = tmp_path / "a.bin"
    url = server.url("a.bin")
    with pytest.raises(SrganError) as info:
        fetch(url, dest, sha256="0" * 64, progress=False)
    message = str(info.value)
    assert url in message and "0" * 64 in message and sha256_of_bytes(DATA) in message
    assert not dest.exists()
    assert not (tmp_path / "a.bin.part").exists()


def test_fetch_wrong_size(server, tmp_path: Path) -> None:
    serve(server, "a.bin", DATA)
    dest = tmp_path / "a.bin"
    with pytest.raises(SrganError, match="expected 5 bytes"):
        fetch(server.url("a.bin"), dest, size=5, progress=False)
    assert not dest.exists()


def test_fetch_404(server, tmp_path: Path) -> None:
    url = server.url("missing.bin")
    with pytest.raises(SrganError, match="404") as info:
        fetch(url, tmp_path / "m.bin", sha256="0" * 64, progress=False)
    assert url in str(info.value)
    assert not (tmp_path / "m.bin").exists()


def test_fetch_connection_refused(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/a.bin"
    with pytest.raises(SrganError, match="mirror") as info:
        fetch(url, tmp_path / "a.bin", progress=False, timeout=2)
    assert url in str(info.value)


def test_fetch_timeout(server, tmp_path: Path) -> None:
    serve(server, "a.bin", DATA)
    server.delay = 5
    url = server.url("a.bin")
    with pytest.raises(SrganError, match="timed out") as info:
        fetch(url, tmp_path / "a.bin", timeout=0.5, progress=False)
    assert url in str(info.value)
    assert not (tmp_path / "a.bin").exists()


def test_fetch_uses_mirror(server, tmp_path: Path) -> None:
    digest = serve(server, "mirror.bin", DATA)
    dest = tmp_path / "a.bin"
    fetch(server.url("main.bin"), dest, sha256=digest, mirror=server.url("mirror.bin"), progress=False)
    assert [path for path, _ in server.requests] == ["/mirror.bin"]
    assert dest.read_bytes() == DATA


def test_fetch_local_file(server, tmp_path: Path) -> None:
    local = tmp_path / "local.bin"
    local.write_bytes(DATA)
    dest = tmp_path / "out" / "a.bin"
    fetch(server.url("a.bin"), dest, sha256=sha256_of_bytes(DATA), local_file=local, progress=False)
    assert dest.read_bytes() == DATA
    assert local.exists()
    assert server.requests == []


def test_fetch_local_file_wrong_hash(server, tmp_path: Path) -> None:
    local = tmp_path / "local.bin"
    local.write_bytes(b"something else")
    dest = tmp_path / "a.bin"
    with pytest.raises(SrganError) as info:
        fetch(server.url("a.bin"), dest, sha256=sha256_of_bytes(DATA), local_file=local, progress=False)
    assert str(local) in str(info.value)
    assert not dest.exists()
    assert not (tmp_path / "a.bin.part").exists()
    assert server.requests == []


def test_fetch_trust_on_first_use(server, tmp_path: Path) -> None:
    digest = serve(server, "a.bin", DATA)
    dest = tmp_path / "a.bin"
    sidecar = tmp_path / "a.bin.sha256"
    fetch(server.url("a.bin"), dest, progress=False)
    assert sidecar.read_text().strip() == digest

    dest.write_bytes(b"tampered")  # re-downloaded and checked against the sidecar
    fetch(server.url("a.bin"), dest, progress=False)
    assert dest.read_bytes() == DATA

    dest.unlink()
    serve(server, "a.bin", b"changed upstream")
    with pytest.raises(SrganError, match="sha256") as info:
        fetch(server.url("a.bin"), dest, progress=False)
    assert str(sidecar) in str(info.value)
    assert not dest.exists()


# ----------------------------------------------------------------------------- archives

FILES = {"images/a.png": b"a" * 100, "images/sub/b.png": b"b" * 200, "readme.txt": b"hello"}


def make_tar(path: Path, files: dict[str, bytes], extra: Sequence[tarfile.TarInfo] = ()) -> Path:
    mode = "w:gz" if path.name.endswith((".tar.gz", ".tgz")) else "w"
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return path


def make_zip(path: Path, files: dict[str, bytes], extra: Sequence[zipfile.ZipInfo] = ()) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        for info in extra:
            zf.writestr(info, b"x")
    return path


def tar_member(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def extracted(target: Path) -> dict[str, bytes]:
    """Contents of the files under target, without the marker."""
    files = (p for p in target.rglob("*") if p.is_file() and p.name != ".extracted")
    return {p.relative_to(target).as_posix(): p.read_bytes() for p in files}


@pytest.mark.parametrize("name", ["data.tar.gz", "data.tgz", "data.tar", "data.zip"])
def test_extract_and_skip_second_time(tmp_path: Path, name: str) -> None:
    archive = tmp_path / name
    (make_zip if name.endswith(".zip") else make_tar)(archive, FILES)
    target = tmp_path / "out"
    files = safe_extract(archive, target)
    assert files == sorted(target / n for n in FILES)
    assert extracted(target) == FILES
    assert not (tmp_path / "out.tmp").exists()

    (target / "readme.txt").write_bytes(b"edited")  # survives only if extraction is skipped
    assert safe_extract(archive, target) == files
    assert (target / "readme.txt").read_bytes() == b"edited"


def test_extract_again_when_archive_changes(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "data.tar.gz", FILES)
    target = tmp_path / "out"
    safe_extract(archive, target)
    make_tar(archive, {"other.txt": b"new"})
    safe_extract(archive, target)
    assert extracted(target) == {"other.txt": b"new"}


def test_extract_removes_stale_tmp(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "data.tar.gz", FILES)
    stale = tmp_path / "out.tmp"
    stale.mkdir()
    (stale / "junk").write_bytes(b"junk")
    safe_extract(archive, tmp_path / "out")
    assert extracted(tmp_path / "out") == FILES
    assert not stale.exists()


def test_extract_truncated_tar_gz(tmp_path: Path) -> None:
    good = make_tar(tmp_path / "good.tar.gz", {"big.bin": os.urandom(200_000)})
    archive = tmp_path / "data.tar.gz"
    archive.write_bytes(good.read_bytes()[:100_000])
    with pytest.raises(SrganError, match="corrupt.*[Dd]elete") as info:
        safe_extract(archive, tmp_path / "out")
    assert str(archive) in str(info.value)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "out.tmp").exists()


def test_extract_garbage_zip(tmp_path: Path) -> None:
    archive = tmp_path / "data.zip"
    archive.write_bytes(os.urandom(5000))
    with pytest.raises(SrganError, match="corrupt") as info:
        safe_extract(archive, tmp_path / "out")
    assert str(archive) in str(info.value)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "out.tmp").exists()


def device(name: str, kind: bytes) -> tarfile.TarInfo:
    info = tar_member(name, kind)
    info.devmajor, info.devminor = 1, 3
    return info


MALICIOUS_TARS = {
    "absolute": [tar_member("/tmp/evil.txt", tarfile.REGTYPE)],
    "dotdot": [tar_member("../evil.txt", tarfile.REGTYPE)],
    "nested-dotdot": [tar_member("images/../../evil.txt", tarfile.REGTYPE)],
    "symlink": [tar_member("images/link", tarfile.SYMTYPE, "/etc/passwd")],
    "hardlink": [tar_member("images/hard", tarfile.LNKTYPE, "readme.txt")],
    "char-device": [device("null", tarfile.CHRTYPE)],
    "block-device": [device("disk", tarfile.BLKTYPE)],
    "fifo": [tar_member("pipe", tarfile.FIFOTYPE)],
}


@pytest.mark.parametrize("case", MALICIOUS_TARS)
def test_extract_refuses_malicious_tar(tmp_path: Path, case: str) -> None:
    bad = MALICIOUS_TARS[case]
    archive = make_tar(tmp_path / "data.tar.gz", FILES, bad)
    with pytest.raises(SrganError, match="unsafe member") as info:
        safe_extract(archive, tmp_path / "out")
    assert str(archive) in str(info.value) and bad[0].name in str(info.value)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "out.tmp").exists()
    assert not (tmp_path / "evil.txt").exists()


def zip_symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


MALICIOUS_ZIPS = {
    "dotdot": zipfile.ZipInfo("../evil.txt"),
    "absolute": zipfile.ZipInfo("/tmp/evil.txt"),
    "symlink": zip_symlink("images/link"),
}


@pytest.mark.parametrize("case", MALICIOUS_ZIPS)
def test_extract_refuses_malicious_zip(tmp_path: Path, case: str) -> None:
    bad = MALICIOUS_ZIPS[case]
    archive = make_zip(tmp_path / "data.zip", FILES, [bad])
    with pytest.raises(SrganError, match="unsafe member") as info:
        safe_extract(archive, tmp_path / "out")
    assert str(archive) in str(info.value) and bad.filename in str(info.value)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "out.tmp").exists()
    assert not (tmp_path / "evil.txt").exists()


def test_extract_missing_archive(tmp_path: Path) -> None:
    with pytest.raises(SrganError, match="does not exist"):
        safe_extract(tmp_path / "nope.tar.gz", tmp_path / "out")
