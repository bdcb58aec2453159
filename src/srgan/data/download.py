"""Download files with resume and checksum verification, and extract archives safely.

Both take a lock (``fcntl.flock``) so that two processes sharing a downloads folder, e.g. two queued DVC
experiments, wait for each other instead of writing the same files at once.
"""

from __future__ import annotations

import fcntl
import gzip
import http.client
import os
import posixpath
import shutil
import stat
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from srgan.errors import SrganError
from srgan.hashing import digests_of, sha256_of

CHUNK = 1 << 20
MARKER = ".extracted"
ADVICE = (
    "Check your network connection and retry, or pass a mirror URL "
    "or an already downloaded copy of the file."
)
CORRUPT_ARCHIVE = (
    tarfile.TarError,
    zipfile.BadZipFile,
    gzip.BadGzipFile,
    EOFError,
    zlib.error,
)
# Bound on the bytes an archive may extract to when the caller knows no better (see default_max_bytes).
# The real archives hold PNG and JPEG images, which barely compress: DIV2K_train_HR.zip is 3.5 GB and
# extracts to about 3.5 GB, and the .tar/.tgz sets are close to 1:1 as well. 8x leaves room for archives
# that also hold text or raw images (2-5x), while a bomb expands 100x to 1000x and more. The 256 MiB floor
# keeps small archives usable, where a ratio says little (a 1 MB archive of text may well hold 20 MB).
BOMB_RATIO = 8
BOMB_FLOOR = 256 << 20


class CorruptArchiveError(SrganError):
    """The archive is damaged (truncated, bad checksum): downloading it again may help."""

    def __init__(self, archive: Path, reason: str):
        super().__init__(
            f"Archive {archive} is corrupt or truncated ({reason}). Delete it so that it is downloaded again."
        )
        self.reason = reason


def _mismatch(path: Path, sha256: str | None, md5: str | None, size: int | None) -> str | None:
    """Say how the file differs from what is expected, or None if it matches."""
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        return f"expected {size} bytes, got {actual_size}"
    expected = {name: value.lower() for name, value in (("sha256", sha256), ("md5", md5)) if value}
    actual = digests_of(path, tuple(expected))
    for name, want in expected.items():
        if actual[name] != want:
            return f"expected {name} {want}, got {actual[name]}"
    return None


def _sibling(path: Path, suffix: str) -> Path:
    """path with suffix appended to its name: a.tgz -> a.tgz.lock."""
    return path.with_name(path.name + suffix)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file path (created if needed) until the block ends, then remove it.

    The file is removed while the lock is still held, so that no empty lock file stays behind (to be tracked by
    `dvc add data/downloads`). A process that was waiting on the removed file finds, once it gets the lock, that
    the path no longer names the file it locked, and starts over on a new one: two processes never both hold
    the lock of one path.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"Waiting for another process that holds {path} ...", file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        if _names(path, fd):
            break
        os.close(fd)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)  # releases the lock


def _names(path: Path, fd: int) -> bool:
    """Whether path still names the open file fd (not removed, nor replaced by another process)."""
    try:
        return os.path.samestat(os.stat(path), os.fstat(fd))
    except FileNotFoundError:
        return False


def pin_first_hash(dest: Path, sha256: str | None = None) -> None:
    """Record the sha256 of dest in ``<dest>.sha256``, unless one is recorded already.

    For files with no published checksum: later fetches must match it. Call it only once dest is known to
    be whole (extract_verified does, after a clean extraction); sha256 saves hashing dest again.
    """
    dest = Path(dest)
    sidecar = _sibling(dest, ".sha256")
    if sidecar.exists():
        return
    tmp = _sibling(sidecar, f".{os.getpid()}.tmp")
    tmp.write_text((sha256 or sha256_of(dest)) + "\n")
    os.replace(tmp, sidecar)


# --------------------------------------------------------------------------- fetch


def fetch(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    size: int | None = None,
    mirror: str | None = None,
    local_file: Path | None = None,
    timeout: float = 30.0,
    progress: bool = True,
) -> Path:
    """Put a verified copy of url (or mirror, or local_file) at dest and return dest.

    Without sha256 and md5, dest must match the sha256 recorded in ``<dest>.sha256`` if there is one.
    fetch never records it: the caller does (pin_first_hash, or extract_verified with pin_hash=True) once
    the file has proved whole, since a download the server did not confirm the length of may be cut short.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _locked(_sibling(dest, ".lock")):
        sidecar = _sibling(dest, ".sha256")
        hint = ""
        if sha256 is None and md5 is None and sidecar.exists():
            sha256 = sidecar.read_text().strip()
            hint = (
                f" The expected sha256 was recorded in {sidecar} on first download;"
                " delete it if the file legitimately changed."
            )
        if dest.exists():
            if _mismatch(dest, sha256, md5, size) is None:
                return dest
            dest.unlink()

        part = _sibling(dest, ".part")
        if local_file is not None:
            _copy_verified(Path(local_file), part, sha256, md5, size, hint)
        else:
            _download_verified(mirror or url, part, sha256, md5, size, timeout, progress, hint)
        os.replace(part, dest)
        return dest


def _copy_verified(
    src: Path, part: Path, sha256: str | None, md5: str | None, size: int | None, hint: str
) -> None:
    """Check a user-supplied file, then copy it to part."""
    if not src.is_file():
        raise SrganError(f"Local file {src} does not exist (looked for {src.absolute()}); give an absolute path: "
                         "`dvc exp run --temp` and queued experiments run in a copy of the project.")
    problem = _mismatch(src, sha256, md5, size)
    if problem:
        raise SrganError(
            f"Local file {src} is not the expected file ({problem}). "
            f"Use the original, complete download, or leave it unset to download instead.{hint}"
        )
    shutil.copyfile(src, part)


def _download_verified(
    url: str, part: Path, sha256: str | None, md5: str | None, size: int | None,
    timeout: float, progress: bool, hint: str,
) -> None:
    """Download url into part and check it; a corrupt part is deleted, a short one kept to resume."""
    confirmed = _download(url, part, timeout, progress)
    if not confirmed and size is not None and part.stat().st_size < size:
        raise _interrupted(url, part, f"expected {size} bytes")
    problem = _mismatch(part, sha256, md5, size)
    if problem:
        part.unlink()
        raise SrganError(
            f"Download of {url} is corrupt ({problem}) and was deleted. "
            f"Run again to retry, or pass a mirror URL or an already downloaded copy.{hint}"
        )


def _download(url: str, part: Path, timeout: float, progress: bool) -> bool:
    """Download url into part, resuming what part already holds; return whether the server confirmed its size.

    Raises when part is known to be short. Unconfirmed means the server sent the body without a length and
    could not tell the size afterwards: then only a hash, or an archive's own checks, can accept it.
    """
    start = _size(part)
    answer = _get(url, start, timeout)
    if _is_416(answer):  # part is at least as long as the file
        if answer not in (None, start):
            part.unlink()  # part is longer than the file: start over
            return _download(url, part, timeout, progress)
        return answer == start
    with answer:
        _refuse_a_web_page(url, answer)
        try:
            if _save_body(url, answer, part, progress):
                return True
        except SrganError:
            if start and answer.status != 206:
                raise _cannot_resume(url, part) from None
            raise
    return _confirm_end(url, part, timeout, progress)


def _cannot_resume(url: str, part: Path) -> SrganError:
    """A server that answers a resume (a Range request) with the whole file, and then breaks off again: the partial
    file is worth nothing to it, and a server whose stated length is wrong breaks off at the same byte every time."""
    size = _size(part)
    part.unlink(missing_ok=True)
    return SrganError(
        f"Download of {url} broke off again, after {size} bytes, and this server cannot resume (it answered the "
        f"request for the rest with the whole file), so the partial file was deleted. Run again to start over; if "
        "it breaks off at the same size every time, the server states a wrong length: download the file in a "
        "browser and pass that copy, or pass a mirror URL."
    )


def _refuse_a_web_page(url: str, response) -> None:
    """A server that sends a web page where a file was asked for (Google Drive's virus-scan or quota page for a
    large file, a login page) will send it again however often one retries: say so, and how to get the file."""
    if response.headers.get("Content-Type", "").split(";")[0].strip().lower() == "text/html":
        raise SrganError(f"{url} answered with a web page, not the file (a download page, a quota or login page). "
                         "Download it in a browser and pass that copy, or a mirror URL.")


def _confirm_end(url: str, part: Path, timeout: float, progress: bool) -> bool:
    """After a body without a length, ask for the bytes past its end; return whether part is confirmed whole.

    Such a body ends when the connection closes, which is also what a cut connection looks like. A 416
    naming our size confirms it; a 206 means there was more, which is appended; anything else (a 200 from
    a server ignoring Range, an error) leaves it unconfirmed.
    """
    while True:
        have = _size(part)
        try:
            answer = _get(url, have, timeout)
        except SrganError:
            return False
        if _is_416(answer):
            if answer not in (None, have):
                raise _interrupted(url, part, f"the server reports {answer} bytes")
            return answer == have
        with answer:
            if answer.status != 206:
                return False
            if _save_body(url, answer, part, progress):
                return True
        if _size(part) == have:  # an empty 206: no progress to be made
            return False


def _is_416(answer: object) -> bool:
    return answer is None or isinstance(answer, int)


def _get(url: str, start: int, timeout: float):
    """GET url from byte start: the response, or for a 416 the total size it names (None if it names none)."""
    request = urllib.request.Request(url, headers={"User-Agent": "srgan-dvc"})
    if start:
        request.add_header("Range", f"bytes={start}-")
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416 and start:
            return _range_total(e.headers.get("Content-Range", ""))
        raise SrganError(f"Could not download {url}: HTTP {e.code} {e.reason}. {ADVICE}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", None) or e
        raise SrganError(f"Could not download {url}: {reason}. {ADVICE}") from None


def _range_total(content_range: str) -> int | None:
    """The total size in a Content-Range header like 'bytes */1234', if given."""
    total = content_range.rpartition("/")[2].strip()
    return int(total) if total.isdigit() else None


def _save_body(url: str, response, part: Path, progress: bool) -> bool:
    """Stream the body into part (appended after a 206); return whether its length was known.

    Raises when the body is known to be short.
    """
    start = _size(part) if response.status == 206 else 0  # otherwise the server ignored Range
    length = response.headers.get("Content-Length", "")
    end = start + int(length) if length.isdigit() else None
    with (
        open(part, "ab" if start else "wb") as out,
        tqdm(
            total=end,
            initial=start,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=url.rsplit("/", 1)[-1],
            disable=not progress,
        ) as bar,
    ):
        while True:
            try:
                chunk = response.read1(CHUNK)  # what has arrived: a timed-out read loses none of it
            except (OSError, http.client.HTTPException) as e:  # includes a cut chunked body
                out.flush()
                raise _interrupted(url, part, str(e) or type(e).__name__) from None
            if not chunk:
                break
            out.write(chunk)
            bar.update(len(chunk))
    # http.client returns b"" instead of raising when the server closes early
    if end is not None and part.stat().st_size < end:
        raise _interrupted(url, part, "connection closed early")
    return end is not None or getattr(response, "chunked", False)


def _interrupted(url: str, part: Path, reason: str) -> SrganError:
    return SrganError(
        f"Download of {url} was interrupted ({reason}) after {part.stat().st_size} bytes. "
        f"The partial file {part} is kept; run again to resume. {ADVICE}"
    )


# --------------------------------------------------------------------------- extract


def default_max_bytes(archive_size: int) -> int:
    """The most an archive of this size may extract to when its caller gives no bound."""
    return max(BOMB_RATIO * archive_size, archive_size + BOMB_FLOOR)


def extract_verified(
    archive: Path, target: Path, *, pin_hash: bool, max_bytes: int | None = None, url: str | None = None
) -> Path:
    """Extract a fetched archive into target (see safe_extract) and return target.

    A corrupt or truncated archive is deleted, so that the next run downloads it again. With pin_hash
    (for archives with no published checksum), its sha256 is recorded (pin_first_hash) only once it has
    extracted cleanly. url, where it came from, is named in the error.
    """
    archive, target = Path(archive), Path(target)
    with _locked(_sibling(archive, ".lock")):
        origin = f" (from {url})" if url else ""
        try:
            safe_extract(archive, target, max_bytes=max_bytes)
        except CorruptArchiveError as e:
            forget_archive(archive)
            raise SrganError(
                f"Archive {archive}{origin} is corrupt or truncated ({e.reason}) and was deleted. "
                f"Run again to download it again. {ADVICE}"
            ) from None
        except SrganError as e:  # an unsafe member, a bomb, a file where a folder goes: this file will never do
            if not archive.exists():
                raise
            forget_archive(archive)
            raise SrganError(f"{e} The archive{origin} was deleted: check that the URL or copy given for it is the "
                             "archive this dataset publishes, then run again.") from None
        if pin_hash:
            pin_first_hash(archive, (target / MARKER).read_text().strip())
    return target


def safe_extract(archive: Path, target: Path, *, max_bytes: int | None = None) -> list[Path]:
    """Extract a .zip, .tar, .tar.gz or .tgz into target; return the extracted files, sorted.

    Links, devices, FIFOs, absolute paths, paths escaping target and members that are both a file and
    a folder are refused, and so is extracting more than max_bytes in all (default: default_max_bytes).
    Nothing is left in target unless all went well. A target already extracted from the same archive
    (same sha256) is left as it is.
    """
    archive, target = Path(archive), Path(target)
    if not archive.is_file():
        raise SrganError(f"Archive {archive} does not exist.")
    limit = default_max_bytes(archive.stat().st_size) if max_bytes is None else max_bytes
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(_sibling(target, ".lock")):
        digest = sha256_of(archive)
        marker = target / MARKER
        if marker.is_file() and marker.read_text().strip() == digest:
            return _files(target)
        tmp = _sibling(target, ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            if archive.name.lower().endswith(".zip"):
                _extract_zip(archive, tmp, limit)
            else:
                _extract_tar(archive, tmp, limit)
            (tmp / MARKER).write_text(digest + "\n")
        except CORRUPT_ARCHIVE as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise CorruptArchiveError(archive, str(e) or type(e).__name__) from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        return _files(target)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != MARKER)


def _member_path(archive: Path, name: str, root: Path) -> Path:
    """Where a member goes under root; refuse names that are absolute or leave root."""
    normal = posixpath.normpath(name.replace("\\", "/"))
    if posixpath.isabs(normal) or normal == ".." or normal.startswith("../"):
        raise _refuse(archive, name, "absolute path or path outside the target")
    return root / normal


def forget_archive(archive: Path) -> None:
    """Delete a downloaded archive and the sha256 pinned for it, so that the next run fetches it afresh (a hash
    pinned for an archive found wrong would refuse the right one)."""
    archive.unlink(missing_ok=True)
    _sibling(archive, ".sha256").unlink(missing_ok=True)


def _refuse(archive: Path, name: str, kind: str) -> SrganError:
    return SrganError(
        f"Archive {archive} has an unsafe member {name!r} ({kind}); refusing to extract it."
    )


def _too_big(archive: Path, name: str, limit: int) -> SrganError:
    return SrganError(
        f"Archive {archive} would extract to more than {limit:,} bytes (the bound for it) at member {name!r}; "
        "refusing to extract it. It is not the expected file, or an archive bomb: delete it and download it again."
    )


def _conflict(archive: Path, name: str) -> SrganError:
    return SrganError(
        f"Archive {archive} has conflicting members: {name!r} is both a file and a folder; "
        "refusing to extract it. Delete it and download it again."
    )


def _make_dir(archive: Path, name: str, path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise _conflict(archive, name) from None


def _write_file(archive: Path, name: str, path: Path, src: BinaryIO, written: int, limit: int) -> int:
    """Copy a member's data to path, counting the bytes actually written against limit; return the new count.

    The count does not trust the sizes the archive declares: a zip can lie about them.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        out = open(path, "wb")
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        raise _conflict(archive, name) from None
    with out:
        while chunk := src.read(CHUNK):
            written += len(chunk)
            if written > limit:
                raise _too_big(archive, name, limit)
            out.write(chunk)
    return written


def _extract_tar(archive: Path, root: Path, limit: int) -> None:
    if not archive.name.lower().endswith((".tar", ".tar.gz", ".tgz")):
        raise SrganError(f"Archive {archive} is not a .zip, .tar, .tar.gz or .tgz file.")
    written = 0
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            path = _member_path(archive, member.name, root)
            if member.issym() or member.islnk():
                raise _refuse(archive, member.name, f"link to {member.linkname!r}")
            if member.isdir():
                _make_dir(archive, member.name, path)
            elif member.isfile():
                if written + member.size > limit:  # a tar lists its members as it goes: check each before
                    raise _too_big(archive, member.name, limit)
                with tar.extractfile(member) as src:
                    written = _write_file(archive, member.name, path, src, written, limit)
            else:
                raise _refuse(archive, member.name, "device, FIFO or other special file")


def _extract_zip(archive: Path, root: Path, limit: int) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        declared = 0
        for info in infos:  # a zip lists all its members up front: check them before writing anything
            declared += info.file_size
            if declared > limit:
                raise _too_big(archive, info.filename, limit)
        written = 0
        for info in infos:
            path = _member_path(archive, info.filename, root)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise _refuse(archive, info.filename, "symbolic link")
            if info.is_dir():
                _make_dir(archive, info.filename, path)
            elif stat.S_IFMT(mode) in (0, stat.S_IFREG):  # 0: written without Unix modes
                with zf.open(info) as src:
                    written = _write_file(archive, info.filename, path, src, written, limit)
            else:
                raise _refuse(archive, info.filename, "device, FIFO or other special file")
