"""Tests for srgan.data.download against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import socket
import stat
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from srgan.data.download import (
    default_max_bytes,
    extract_verified,
    fetch,
    pin_first_hash,
    safe_extract,
)
from srgan.errors import SrganError
from srgan.hashing import md5_of, sha256_of


def serve(state, name: str, data: bytes) -> str:
    """Put data on the server and return its sha256."""
    (state.root / name).write_bytes(data)
    return sha256_of_bytes(data)


def sha256_of_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


DATA = os.urandom(300_000)


# ----------------------------------------------------------------------------- fetch


def test_a_fetch_writes_the_verified_file_and_no_part_file(server, tmp_path: Path) -> None:
    digest = serve(server, "a.bin", DATA)
    dest = tmp_path / "out" / "a.bin"
    assert fetch(server.url("a.bin"), dest, sha256=digest, size=len(DATA), progress=False) == dest
    assert dest.read_bytes() == DATA
    assert not dest.with_name("a.bin.part").exists()
    assert sha256_of(dest) == digest
    assert md5_of(dest) == hashlib.md5(DATA).hexdigest()


def test_fetch_verifies_a_file_with_only_an_md5(server, tmp_path: Path) -> None:
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


def test_a_server_that_cannot_resume_and_breaks_off_again_says_so_and_keeps_no_useless_part(server, tmp_path):
    """A server that states a wrong length (or keeps breaking off) and ignores Range: resuming cannot work, so the
    second failure deletes the partial file and says what to do instead of "run again to resume" forever."""
    digest = serve(server, "a.bin", DATA)
    dest, part, url = tmp_path / "a.bin", tmp_path / "a.bin.part", server.url("a.bin")
    server.ranges, server.sends_only = False, 100_000
    with pytest.raises(SrganError, match="interrupted.*resume"):  # a first break: the server may yet resume
        fetch(url, dest, sha256=digest, progress=False)
    assert part.stat().st_size == 100_000
    with pytest.raises(SrganError, match="after 100000 bytes.*cannot resume.*deleted.*same size.*browser") as info:
        fetch(url, dest, sha256=digest, progress=False)
    assert url in str(info.value) and server.requests[1][1] == "bytes=100000-"
    assert not part.exists() and not dest.exists()

    server.sends_only = None
    assert fetch(url, dest, sha256=digest, progress=False).read_bytes() == DATA


def test_a_read_that_times_out_keeps_every_byte_that_arrived(server, tmp_path):
    """The body comes in pieces smaller than a read asks for; a timeout keeps what came, and the resume asks for
    the rest from there."""
    digest = serve(server, "a.bin", DATA)
    dest, part, url = tmp_path / "a.bin", tmp_path / "a.bin.part", server.url("a.bin")
    server.trickle = (100_000, 30.0)  # 100 kB, then a pause far longer than the timeout (teardown ends it)
    with pytest.raises(SrganError, match="interrupted.*resume"):
        fetch(url, dest, sha256=digest, progress=False, timeout=2)
    assert part.stat().st_size == 100_000
    server.trickle = None
    fetch(url, dest, sha256=digest, progress=False)
    assert server.requests[-1][1] == "bytes=100000-" and dest.read_bytes() == DATA


def test_fetch_complete_part_answered_416(server, tmp_path: Path) -> None:
    digest = serve(server, "a.bin", DATA)
    dest = tmp_path / "a.bin"
    (tmp_path / "a.bin.part").write_bytes(DATA)
    fetch(server.url("a.bin"), dest, sha256=digest, progress=False)
    assert server.requests[0][1] == f"bytes={len(DATA)}-"
    assert dest.read_bytes() == DATA


def test_a_wrong_hash_is_an_error_and_leaves_no_file(server, tmp_path: Path) -> None:
    serve(server, "a.bin", DATA)
    dest = tmp_path / "a.bin"
    url = server.url("a.bin")
    with pytest.raises(SrganError) as info:
        fetch(url, dest, sha256="0" * 64, progress=False)
    message = str(info.value)
    assert url in message and "0" * 64 in message and sha256_of_bytes(DATA) in message
    assert not dest.exists()
    assert not (tmp_path / "a.bin.part").exists()


def test_a_wrong_size_is_an_error_naming_the_expected_size(server, tmp_path: Path) -> None:
    serve(server, "a.bin", DATA)
    dest = tmp_path / "a.bin"
    with pytest.raises(SrganError, match="expected 5 bytes"):
        fetch(server.url("a.bin"), dest, size=5, progress=False)
    assert not dest.exists()


def test_a_404_is_an_error_naming_the_url_and_leaves_no_file(server, tmp_path: Path) -> None:
    url = server.url("missing.bin")
    with pytest.raises(SrganError, match="404") as info:
        fetch(url, tmp_path / "m.bin", sha256="0" * 64, progress=False)
    assert url in str(info.value)
    assert not (tmp_path / "m.bin").exists()


def test_a_refused_connection_is_an_error_naming_the_url(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/a.bin"
    with pytest.raises(SrganError, match="mirror") as info:
        fetch(url, tmp_path / "a.bin", progress=False, timeout=2)
    assert url in str(info.value)


def test_a_server_that_does_not_answer_times_out_naming_the_url(server, tmp_path: Path) -> None:
    serve(server, "a.bin", DATA)
    server.delay = 5
    url = server.url("a.bin")
    with pytest.raises(SrganError, match="timed out") as info:
        fetch(url, tmp_path / "a.bin", timeout=0.5, progress=False)
    assert url in str(info.value)
    assert not (tmp_path / "a.bin").exists()


def test_fetch_downloads_from_the_mirror_when_given(server, tmp_path: Path) -> None:
    digest = serve(server, "mirror.bin", DATA)
    dest = tmp_path / "a.bin"
    fetch(server.url("main.bin"), dest, sha256=digest, mirror=server.url("mirror.bin"), progress=False)
    assert [path for path, _ in server.requests] == ["/mirror.bin"]
    assert dest.read_bytes() == DATA


def test_fetch_copies_a_verified_local_file_without_downloading(server, tmp_path: Path) -> None:
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


def test_fetch_never_pins_but_checks_a_pinned_hash(server, tmp_path: Path) -> None:
    digest = serve(server, "a.bin", DATA)
    dest = tmp_path / "a.bin"
    sidecar = tmp_path / "a.bin.sha256"
    fetch(server.url("a.bin"), dest, progress=False)
    assert not sidecar.exists()  # pinned by the caller once the file proved whole
    pin_first_hash(dest)
    assert sidecar.read_text().strip() == digest
    pin_first_hash(dest, "f" * 64)  # already pinned: kept
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


def test_a_truncated_tar_gz_is_called_corrupt(tmp_path: Path) -> None:
    good = make_tar(tmp_path / "good.tar.gz", {"big.bin": os.urandom(200_000)})
    archive = tmp_path / "data.tar.gz"
    archive.write_bytes(good.read_bytes()[:100_000])
    with pytest.raises(SrganError, match="corrupt.*[Dd]elete") as info:
        safe_extract(archive, tmp_path / "out")
    assert str(archive) in str(info.value)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "out.tmp").exists()


def test_extract_calls_a_garbage_zip_corrupt(tmp_path: Path) -> None:
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


def test_extract_says_a_missing_archive_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(SrganError, match="does not exist"):
        safe_extract(tmp_path / "nope.tar.gz", tmp_path / "out")


def test_extract_verified_names_a_missing_archive(tmp_path: Path) -> None:
    with pytest.raises(SrganError, match="does not exist") as info:
        extract_verified(tmp_path / "nope.tgz", tmp_path / "out", pin_hash=True)
    assert str(tmp_path / "nope.tgz") in str(info.value)


# ----------------------------------------------------------------------------- bodies without a length


def test_fetch_without_length_confirms_the_end(server, tmp_path: Path) -> None:
    serve(server, "a.bin", DATA)
    server.content_length = False
    dest = tmp_path / "a.bin"
    fetch(server.url("a.bin"), dest, progress=False)
    assert dest.read_bytes() == DATA
    assert server.requests == [("/a.bin", None), ("/a.bin", f"bytes={len(DATA)}-")]  # answered 416 */len


def test_fetch_without_length_resumes_a_cut_body(server, tmp_path: Path) -> None:
    serve(server, "a.bin", DATA)
    server.content_length = False
    server.cut_after = 100_000
    dest = tmp_path / "a.bin"
    fetch(server.url("a.bin"), dest, progress=False)  # no hash: only the follow-up request shows the cut
    assert dest.read_bytes() == DATA
    assert server.requests[1] == ("/a.bin", "bytes=100000-")
    assert not (tmp_path / "a.bin.part").exists()


def test_fetch_without_length_known_short_is_kept_to_resume(server, tmp_path: Path) -> None:
    serve(server, "a.bin", DATA)
    server.content_length = False
    server.ranges = False  # the follow-up request gets a 200: the end cannot be confirmed
    server.cut_after = 100_000
    dest, part, url = tmp_path / "a.bin", tmp_path / "a.bin.part", server.url("a.bin")
    with pytest.raises(SrganError, match="interrupted.*is kept; run again to resume") as info:
        fetch(url, dest, size=len(DATA), progress=False)
    assert url in str(info.value)
    assert part.stat().st_size == 100_000
    assert not dest.exists()

    fetch(url, dest, size=len(DATA), progress=False)
    assert dest.read_bytes() == DATA


# ----------------------------------------------------------------------------- first-seen hashes


@pytest.mark.parametrize("how", ["served-truncated", "cut-unconfirmed"])
def test_extract_verified_pins_only_an_archive_that_extracts(server, tmp_path: Path, how: str) -> None:
    good = make_tar(tmp_path / "good.tgz", {"big.bin": os.urandom(200_000)}).read_bytes()
    server.content_length = False
    if how == "served-truncated":  # the server's copy is short (the 416 confirms its size)
        serve(server, "a.tgz", good[:100_000])
    else:  # the connection is cut and the server ignores Range: nothing can confirm the size
        serve(server, "a.tgz", good)
        server.cut_after, server.ranges = 100_000, False
    url, dest, target = server.url("a.tgz"), tmp_path / "downloads" / "a.tgz", tmp_path / "downloads" / "a"
    sidecar = dest.with_name("a.tgz.sha256")

    fetch(url, dest, progress=False)
    assert not sidecar.exists()
    with pytest.raises(SrganError, match="corrupt or truncated.*was deleted.*[Rr]un again") as info:
        extract_verified(dest, target, pin_hash=True, url=url)
    assert str(dest) in str(info.value) and url in str(info.value)
    assert not dest.exists() and not sidecar.exists() and not target.exists()

    serve(server, "a.tgz", good)
    fetch(url, dest, progress=False)
    assert extract_verified(dest, target, pin_hash=True, url=url) == target
    assert sidecar.read_text().strip() == sha256_of_bytes(good)
    assert extracted(target).keys() == {"big.bin"}


def test_extract_verified_pins_nothing_for_a_known_hash(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "a.tgz", FILES)
    extract_verified(archive, tmp_path / "a", pin_hash=False)
    assert extracted(tmp_path / "a") == FILES
    assert not (tmp_path / "a.tgz.sha256").exists()


# ----------------------------------------------------------------------------- bounds

MiB = 1 << 20


def make_zip_deflated(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("name", ["bomb.tar.gz", "bomb.zip"])
def test_extract_refuses_a_bomb(tmp_path: Path, name: str) -> None:
    files = {"readme.txt": b"hi", "zeros.bin": bytes(5 * MiB)}
    archive = (make_zip_deflated if name.endswith(".zip") else make_tar)(tmp_path / name, files)
    assert archive.stat().st_size < 50_000
    with pytest.raises(SrganError, match="more than 1,048,576 bytes") as info:
        safe_extract(archive, tmp_path / "out", max_bytes=MiB)
    assert str(archive) in str(info.value) and "zeros.bin" in str(info.value)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "out.tmp").exists()


def test_extract_stops_at_the_bound_and_removes_what_it_wrote(tmp_path: Path) -> None:
    files = {f"{i}.bin": bytes(400_000) for i in range(4)}
    archive = make_tar(tmp_path / "data.tar.gz", files)
    with pytest.raises(SrganError, match="'2.bin'"):  # 0.bin and 1.bin were written first
        safe_extract(archive, tmp_path / "out", max_bytes=MiB)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "out.tmp").exists()


def test_extract_refuses_a_member_over_the_default_size_bound(tmp_path: Path) -> None:
    info = tarfile.TarInfo("huge.bin")
    info.size = 300 * MiB  # declared only: the check comes before any data is read
    archive = tmp_path / "data.tar"
    archive.write_bytes(info.tobuf())
    with pytest.raises(SrganError, match=f"more than {default_max_bytes(512):,} bytes.*huge.bin"):
        safe_extract(archive, tmp_path / "out")
    assert default_max_bytes(512) == 512 + 256 * MiB
    assert default_max_bytes(100 * MiB) == 800 * MiB
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- conflicting members


def tar_conflict(path: Path, dir_first: bool) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        if dir_first:
            tar.addfile(tar_member("a", tarfile.DIRTYPE))
        else:
            tar.addfile(tarfile.TarInfo("a"), io.BytesIO())
        info = tarfile.TarInfo("a" if dir_first else "a/b")
        tar.addfile(info, io.BytesIO())
    return path


def zip_conflict(path: Path, dir_first: bool) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a/" if dir_first else "a", b"")
        zf.writestr("a" if dir_first else "a/b", b"x")
    return path


@pytest.mark.parametrize("kind", ["tar", "zip"])
@pytest.mark.parametrize("dir_first", [False, True], ids=["file-then-dir", "dir-then-file"])
def test_extract_refuses_conflicting_members(tmp_path: Path, kind: str, dir_first: bool) -> None:
    make = zip_conflict if kind == "zip" else tar_conflict
    archive = make(tmp_path / ("data.zip" if kind == "zip" else "data.tgz"), dir_first)
    with pytest.raises(SrganError, match="conflicting members") as info:
        safe_extract(archive, tmp_path / "out")
    assert str(archive) in str(info.value)
    assert ("'a'" if dir_first else "'a/b'") in str(info.value)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "out.tmp").exists()


# ----------------------------------------------------------------------------- locks

CHILD = """
import sys
from pathlib import Path
from srgan.data.download import fetch
url, dest, digest, ready = sys.argv[1:]
Path(ready).touch()
fetch(url, Path(dest), sha256=digest, progress=False)
"""


def wait_for(condition, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_concurrent_fetches_wait_for_each_other(server, tmp_path: Path) -> None:
    digest = serve(server, "a.bin", DATA)
    server.delay = 30  # every answer waits for server.release
    dest = tmp_path / "downloads" / "a.bin"
    children, logs = [], []
    for i in range(2):
        logs.append(tmp_path / f"child{i}.log")
        with open(logs[-1], "w") as log:
            children.append(subprocess.Popen(
                [sys.executable, "-c", CHILD, server.url("a.bin"), str(dest), digest, str(tmp_path / f"ready{i}")],
                stdout=log, stderr=subprocess.STDOUT))
    try:
        # one child is held by the server; the other must be waiting on the lock, not downloading
        # (the holder may not have sent its request yet when the other starts waiting: wait for both)
        waiting = wait_for(lambda: any("Waiting for another process" in log.read_text() for log in logs)
                           and len(server.requests) > 0)
        time.sleep(0.2)  # a second download, if the lock let one through, would show in the requests by now
        requests_before_release = len(server.requests)
    finally:
        server.release.set()
        codes = [child.wait(timeout=30) for child in children]
    assert codes == [0, 0], [log.read_text() for log in logs]
    assert waiting and requests_before_release == 1
    assert len(server.requests) == 1  # the second found the first one's verified file
    assert sha256_of(dest) == digest
    assert sorted(p.name for p in dest.parent.iterdir()) == ["a.bin"], "no lock file is left behind"


def test_a_failed_fetch_leaves_no_lock_file(server, tmp_path: Path) -> None:
    dest = tmp_path / "downloads" / "missing.tgz"
    with pytest.raises(SrganError):
        fetch(server.url("missing.tgz"), dest, progress=False)
    assert list(dest.parent.iterdir()) == []


def test_a_waiter_on_a_removed_lock_file_locks_the_new_one(tmp_path: Path) -> None:
    """The holder removes its lock file on release; a process still waiting on that file must then wait on the
    file a third process created at the same path, never run beside it."""
    from srgan.data.download import _locked

    path = tmp_path / "a.bin.lock"
    entered = threading.Event()

    def wait_and_enter() -> None:
        with _locked(path):
            entered.set()

    first = open(path, "w")
    fcntl.flock(first, fcntl.LOCK_EX)  # the holder
    thread = threading.Thread(target=wait_and_enter)
    thread.start()
    time.sleep(0.3)
    path.unlink()  # the holder finishes: removes its file, then releases it
    third = open(path, "w")
    fcntl.flock(third, fcntl.LOCK_EX)  # a third process locks a new file at the path
    first.close()
    time.sleep(0.3)
    assert not entered.is_set(), "the waiter got the removed file's lock and ran beside the third process"
    third.close()
    thread.join(10)
    assert entered.is_set() and not path.exists()


def test_extract_waits_for_the_target_lock(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "data.tgz", FILES)
    target = tmp_path / "out"
    errors: list[BaseException] = []

    def extract() -> None:
        try:
            safe_extract(archive, target)
        except BaseException as e:  # reported by the assertion below
            errors.append(e)

    with open(tmp_path / "out.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as another process extracting into target would
        thread = threading.Thread(target=extract)
        thread.start()
        time.sleep(0.3)
        assert thread.is_alive() and not target.exists() and not (tmp_path / "out.tmp").exists()
    thread.join(10)
    assert not errors and extracted(target) == FILES


# ----------------------------------------------------------------------------- permissions


def test_created_files_get_umask_permissions(server, tmp_path: Path) -> None:
    digest = serve(server, "a.bin", DATA)
    serve(server, "a.tgz", make_tar(tmp_path / "src.tgz", FILES).read_bytes())
    old = os.umask(0o027)
    try:
        downloaded = fetch(server.url("a.bin"), tmp_path / "d" / "a.bin", sha256=digest, progress=False)
        archive = fetch(server.url("a.tgz"), tmp_path / "d" / "a.tgz", progress=False)
        extract_verified(archive, tmp_path / "d" / "a", pin_hash=True)
    finally:
        os.umask(old)
    created = [downloaded, archive, tmp_path / "d" / "a.tgz.sha256", tmp_path / "d" / "a" / "images" / "a.png"]
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in created} == {p.name: 0o640 for p in created}
    assert stat.S_IMODE((tmp_path / "d" / "a" / "images").stat().st_mode) == 0o750


def test_a_web_page_served_for_a_file_is_named_as_such_and_not_kept(server, tmp_path: Path) -> None:
    """Google Drive answers a large file's link with a virus-scan or quota page: retrying cannot help."""
    (server.root / "img_align_celeba.zip").write_text("<html><body>Google Drive can't scan this file</body></html>")
    server.content_type = "text/html; charset=utf-8"
    dest = tmp_path / "dl" / "img_align_celeba.zip"
    with pytest.raises(SrganError, match="answered with a web page, not the file .* Download it in a browser"):
        fetch(server.url("img_align_celeba.zip"), dest, size=1443490838, progress=False)
    assert sorted(path.name for path in dest.parent.iterdir()) == []


@pytest.mark.parametrize("case", ["symlink", "dotdot"])
def test_a_refused_archive_is_deleted_with_its_pinned_hash(tmp_path: Path, case: str) -> None:
    """Its hash pinned or not, an archive with an unsafe member will never extract: kept, it would be refused
    again on every run, whatever URL the user then gives."""
    (tmp_path / "dl").mkdir()
    archive = make_tar(tmp_path / "dl" / "BSDS300-images.tgz", FILES, MALICIOUS_TARS[case])
    pin_first_hash(archive)
    with pytest.raises(SrganError, match=r"unsafe member .* \(from http://example.org/b.tgz\) was deleted: check"):
        extract_verified(archive, tmp_path / "dl" / "BSDS300", pin_hash=True, url="http://example.org/b.tgz")
    assert sorted(path.name for path in archive.parent.iterdir()) == []


def test_a_missing_local_copy_says_where_it_was_looked_for(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SrganError, match=r"Local file mirror/b.tar does not exist \(looked for .*/mirror/b.tar\); "
                                         r"give an absolute path"):
        fetch("http://127.0.0.1:9/b.tar", tmp_path / "dl" / "b.tar", local_file=Path("mirror/b.tar"), progress=False)
