"""Download files with resume and checksum verification, and extract archives safely."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import posixpath
import shutil
import stat
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

from tqdm import tqdm

from srgan.errors import SrganError

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


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    return _digests(Path(path), ("sha256",))["sha256"]


def md5_of(path: Path) -> str:
    """Hex md5 of a file."""
    return _digests(Path(path), ("md5",))["md5"]


def _digests(path: Path, names: tuple[str, ...]) -> dict[str, str]:
    """Hash a file once for all the algorithms named."""
    hashes = {name: hashlib.new(name, usedforsecurity=False) for name in names}
    if not hashes:
        return {}
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            for h in hashes.values():
                h.update(chunk)
    return {name: h.hexdigest() for name, h in hashes.items()}


def _mismatch(path: Path, sha256: str | None, md5: str | None, size: int | None) -> str | None:
    """Say how the file differs from what is expected, or None if it matches."""
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        return f"expected {size} bytes, got {actual_size}"
    expected = {name: value.lower() for name, value in (("sha256", sha256), ("md5", md5)) if value}
    actual = _digests(path, tuple(expected))
    for name, want in expected.items():
        if actual[name] != want:
            return f"expected {name} {want}, got {actual[name]}"
    return None


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

    Without sha256 and md5, the sha256 of the first download is recorded next to dest
    (``<dest>.sha256``) and later copies must match it.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    sidecar = dest.with_name(dest.name + ".sha256")
    first_use = sha256 is None and md5 is None
    hint = ""
    if first_use and sidecar.exists():
        sha256 = sidecar.read_text().strip()
        hint = (
            f" The expected sha256 was recorded in {sidecar} on first download;"
            " delete it if the file legitimately changed."
        )
    if dest.exists():
        if _mismatch(dest, sha256, md5, size) is None:
            if first_use and not sidecar.exists():
                sidecar.write_text(sha256_of(dest) + "\n")
            return dest
        dest.unlink()

    part = dest.with_name(dest.name + ".part")
    if local_file is not None:
        _copy_verified(Path(local_file), part, sha256, md5, size, hint)
    else:
        source = mirror or url
        _download(source, part, timeout, progress)
        problem = _mismatch(part, sha256, md5, size)
        if problem:
            part.unlink()
            raise SrganError(
                f"Download of {source} is corrupt ({problem}) and was deleted. "
                f"Run again to retry, or pass a mirror URL or an already downloaded copy.{hint}"
            )
    if first_use and not sidecar.exists():
        sidecar.write_text(sha256_of(part) + "\n")
    os.replace(part, dest)
    return dest


def _copy_verified(
    src: Path, part: Path, sha256: str | None, md5: str | None, size: int | None, hint: str
) -> None:
    """Check a user-supplied file, then copy it to part."""
    if not src.is_file():
        raise SrganError(f"Local file {src} does not exist.")
    problem = _mismatch(src, sha256, md5, size)
    if problem:
        raise SrganError(
            f"Local file {src} is not the expected file ({problem}). "
            f"Use the original, complete download, or leave it unset to download instead.{hint}"
        )
    shutil.copyfile(src, part)


def _download(url: str, part: Path, timeout: float, progress: bool) -> None:
    """Download url into part, resuming what part already holds."""
    start = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "srgan-dvc"})
    if start:
        request.add_header("Range", f"bytes={start}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416 and start:
            if _range_total(e.headers.get("Content-Range", "")) in (None, start):
                return  # part is already complete: verification decides
            part.unlink()  # part is longer than the file: start over
            return _download(url, part, timeout, progress)
        raise SrganError(f"Could not download {url}: HTTP {e.code} {e.reason}. {ADVICE}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", None) or e
        raise SrganError(f"Could not download {url}: {reason}. {ADVICE}") from None
    with response:
        if response.status != 206:
            start = 0  # server ignored the Range header
        _save_body(url, response, part, start, progress)


def _range_total(content_range: str) -> int | None:
    """The total size in a Content-Range header like 'bytes */1234', if given."""
    total = content_range.rpartition("/")[2].strip()
    return int(total) if total.isdigit() else None


def _save_body(url: str, response, part: Path, start: int, progress: bool) -> None:
    """Stream the response body into part (appending from start)."""
    length = response.headers.get("Content-Length", "")
    remaining = int(length) if length.isdigit() else None
    total = start + remaining if remaining is not None else None
    received = 0
    with (
        open(part, "ab" if start else "wb") as out,
        tqdm(
            total=total,
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
                chunk = response.read(CHUNK)
            except (OSError, http.client.HTTPException) as e:
                out.flush()
                raise _interrupted(url, part, str(e) or type(e).__name__) from None
            if not chunk:
                break
            out.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    # http.client returns b"" instead of raising when the server closes early
    if remaining is not None and received < remaining:
        raise _interrupted(url, part, "connection closed early")


def _interrupted(url: str, part: Path, reason: str) -> SrganError:
    return SrganError(
        f"Download of {url} was interrupted ({reason}) after {part.stat().st_size} bytes. "
        f"The partial file {part} is kept; run again to resume. {ADVICE}"
    )


# --------------------------------------------------------------------------- extract


def safe_extract(archive: Path, target: Path) -> list[Path]:
    """Extract a .zip, .tar, .tar.gz or .tgz into target; return the extracted files, sorted.

    Links, devices, FIFOs, absolute paths and paths escaping target are refused.
    A target already extracted from the same archive (same sha256) is left as it is.
    """
    archive, target = Path(archive), Path(target)
    if not archive.is_file():
        raise SrganError(f"Archive {archive} does not exist.")
    digest = sha256_of(archive)
    marker = target / MARKER
    if marker.is_file() and marker.read_text().strip() == digest:
        return _files(target)

    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if archive.name.lower().endswith(".zip"):
            _extract_zip(archive, tmp)
        else:
            _extract_tar(archive, tmp)
        (tmp / MARKER).write_text(digest + "\n")
    except CORRUPT_ARCHIVE as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SrganError(
            f"Archive {archive} is corrupt or truncated ({e}). Delete it so that it is downloaded again."
        ) from None
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


def _refuse(archive: Path, name: str, kind: str) -> SrganError:
    return SrganError(
        f"Archive {archive} has an unsafe member {name!r} ({kind}); refusing to extract it."
    )


def _extract_tar(archive: Path, root: Path) -> None:
    if not archive.name.lower().endswith((".tar", ".tar.gz", ".tgz")):
        raise SrganError(f"Archive {archive} is not a .zip, .tar, .tar.gz or .tgz file.")
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            path = _member_path(archive, member.name, root)
            if member.issym() or member.islnk():
                raise _refuse(archive, member.name, f"link to {member.linkname!r}")
            if member.isdir():
                path.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                path.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(path, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
            else:
                raise _refuse(archive, member.name, "device, FIFO or other special file")


def _extract_zip(archive: Path, root: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            path = _member_path(archive, info.filename, root)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise _refuse(archive, info.filename, "symbolic link")
            if info.is_dir():
                path.mkdir(parents=True, exist_ok=True)
            elif stat.S_IFMT(mode) in (0, stat.S_IFREG):  # 0: written without Unix modes
                path.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(path, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
            else:
                raise _refuse(archive, info.filename, "device, FIFO or other special file")
