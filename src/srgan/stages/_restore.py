"""Put back the outputs `dvc repro` removed when the stage it runs stops before finishing (Ctrl-C, an error).

`dvc repro` removes a stage's outputs before running its command and records new ones in dvc.lock only when the
command succeeds. A stage that stops early would leave the workspace without the outputs dvc.lock still records: the
models and images in DVC's cache, the curves and summaries committed to git. Each is put back with the content
dvc.lock records for the stage (env DVC_STAGE), from DVC's cache or from git (the index, else HEAD), checked against
that hash, so `dvc status` and `git status` say what they said before the run.

Nothing this run wrote is replaced: dvc removed every output before the run, so an output found is this run's; then
none is put back (a mix of two runs' outputs would mislead) and the message says how to put them back by hand.
Reads dvc.lock and DVC's cache layout (DVC 3: .dvc/cache/files/md5/); imports no DVC code.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from srgan.hashing import md5_of

DVC_STAGE = "DVC_STAGE"  # set by dvc for the commands of its stages
LOCK = Path("dvc.lock")
DIR = ".dir"


@dataclass
class Output:
    path: Path
    md5: str  # as dvc.lock records it; a folder's ends with .dir
    files: dict[str, bytes | Path] = field(default_factory=dict)  # relpath ("" for a file) -> content or cache file
    source: str = ""  # where its committed content was found: "DVC's cache", "git"


def put_back() -> None:
    """When dvc runs this stage (the process it started, not a torchrun worker): put its outputs back as dvc.lock
    records them and say so on stderr. Never raises: the stage's own message has been printed already."""
    stage = os.environ.get(DVC_STAGE)
    if not stage or "LOCAL_RANK" in os.environ:
        return
    try:
        note = restore(stage.rsplit(":", 1)[-1])  # dvc.lock's key: `sub/dvc.yaml:name` is `name` there
    except BaseException as err:  # a second Ctrl-C included: the interruption is what matters
        reason = "interrupted" if isinstance(err, KeyboardInterrupt) else f"{type(err).__name__}: {err}"
        note = (f"{stage}: its outputs, which `dvc repro` removed before running it, were not put back ({reason}): "
                f"{_by_hand(stage)}")
    if note:
        print(note, file=sys.stderr)


def restore(stage: str, root: Path = Path(".")) -> str:
    """Put back `stage`'s outputs recorded in root/dvc.lock that are missing; what was done, in one line ("" when
    dvc.lock records no output of the stage)."""
    outputs = _recorded(stage, root)
    if not outputs:
        return ""
    missing, written = [], []
    for out in outputs:
        target = root / out.path
        if not target.exists() or (target.is_dir() and not any(target.iterdir())):
            missing.append(out)
        elif _digest(target) != out.md5:
            written.append(out)
    if written:
        return (f"{stage}: this run had already written {_names(written)}; its other outputs were not put back, "
                f"so as not to mix two runs' outputs: {_by_hand(stage)}")
    if not missing:
        return ""
    found, lost = [], []
    for out in missing:
        (found if _find(out, root) else lost).append(out)
    for out in found:
        _write(out, root)
    parts = []
    if found:
        sources = sorted({out.source for out in found})
        which = "its outputs" if len(found) == len(outputs) else _names(found)
        parts.append(f"{which}, which `dvc repro` removed before running it, are back as dvc.lock records them "
                     f"(from {' and '.join(sources)})")
    if lost:
        parts.append(f"{_names(lost)} could not be put back, being neither in DVC's cache nor committed to git as "
                     f"dvc.lock records them (`dvc pull {stage}` fetches what a remote has)")
    return f"{stage}: " + "; ".join(parts)


def _by_hand(stage: str) -> str:
    return f"`dvc checkout {stage}` puts back those in DVC's cache, `git checkout -- <path>` those committed to git"


def _names(outputs: list[Output]) -> str:
    return ", ".join(out.path.as_posix() for out in outputs)


def _recorded(stage: str, root: Path) -> list[Output]:
    try:
        lock = yaml.safe_load((root / LOCK).read_text()) or {}
    except FileNotFoundError:
        return []
    entry = (lock.get("stages") or {}).get(stage) or {}
    outputs = []
    for out in entry.get("outs") or []:
        if out.get("hash") != "md5" or not out.get("md5"):
            raise ValueError(f"dvc.lock: {out.get('path')}: a hash this cannot check ({out.get('hash')})")
        outputs.append(Output(Path(out["path"]), out["md5"]))
    return outputs


# ----------------------------------------------------------------------------- hashes, as DVC computes them

def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _dir_md5(files: dict[str, str]) -> str:
    """DVC's hash of a folder: the md5 of its sorted list of {md5, relpath} as JSON (dvc_data's Tree.as_bytes)."""
    listing = [{"md5": md5, "relpath": relpath} for relpath, md5 in sorted(files.items())]
    return _md5(json.dumps(listing, sort_keys=True).encode()) + DIR


def _digest(path: Path) -> str:
    if path.is_dir():
        return _dir_md5({item.relative_to(path).as_posix(): md5_of(item)
                         for item in path.rglob("*") if item.is_file()})
    return md5_of(path)


# ----------------------------------------------------------------------------- where committed content is

def _find(out: Output, root: Path) -> bool:
    """Fill out.files from DVC's cache, else from git; False when neither has the content dvc.lock records."""
    cache = _cache(root)
    if out.md5.endswith(DIR):
        listing = _object(cache, out.md5)
        if listing is not None:
            entries = json.loads(listing.read_text())
            files = {entry["relpath"]: _object(cache, entry["md5"]) for entry in entries}
            if all(files.values()):
                out.files, out.source = files, "DVC's cache"
                return True
    elif (cached := _object(cache, out.md5)) is not None:
        out.files, out.source = {"": cached}, "DVC's cache"
        return True
    for revision in ("", "HEAD"):  # the index, then the last commit
        files = _from_git(out, revision, root)
        if files is not None:
            out.files, out.source = files, "git"
            return True
    return False


def _cache(root: Path) -> Path:
    """DVC's local cache folder: cache.dir of .dvc/config.local or .dvc/config (relative to .dvc/), else .dvc/cache."""
    for name in ("config.local", "config"):
        config = configparser.ConfigParser()
        try:
            config.read(root / ".dvc" / name)
        except configparser.Error:
            continue
        if config.has_option("cache", "dir"):
            return root / ".dvc" / config.get("cache", "dir")
    return root / ".dvc" / "cache"


def _object(cache: Path, md5: str) -> Path | None:
    path = cache / "files" / "md5" / md5[:2] / md5[2:]
    return path if path.is_file() else None


def _git(root: Path, *args: str) -> bytes | None:
    try:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def _from_git(out: Output, revision: str, root: Path) -> dict[str, bytes] | None:
    """{relpath: content} of `out` as git has it at `revision` ("": the index), when it hashes to what dvc.lock
    records; only files git tracks there."""
    path = out.path.as_posix()
    if revision:
        listed = _git(root, "ls-tree", "-r", "-z", "--name-only", revision, "--", path)
    else:
        listed = _git(root, "ls-files", "-z", "--cached", "--", path)
    if listed is None:
        return None
    names = [name for name in listed.decode().split("\0") if name]
    if not out.md5.endswith(DIR):
        names = [name for name in names if name == path]
    if not names and not out.md5.endswith(DIR):
        return None
    files = {}
    for name in names:  # as checked out: with the worktree's filters (line endings) applied
        content = _git(root, "cat-file", "--filters", f"{revision}:./{name}")
        if content is None:
            return None
        files["" if name == path else Path(name).relative_to(path).as_posix()] = content
    if out.md5.endswith(DIR):
        if _dir_md5({relpath: _md5(content) for relpath, content in files.items()}) != out.md5:
            return None
    elif _md5(files[""]) != out.md5:
        return None
    return files


# ----------------------------------------------------------------------------- writing

def _write(out: Output, root: Path) -> None:
    """Write out.files at out.path in one rename: a file, or a folder built beside it."""
    target = root / out.path
    target.parent.mkdir(parents=True, exist_ok=True)
    if out.md5.endswith(DIR):
        if target.is_dir():
            target.rmdir()  # empty: checked by restore
        building = Path(tempfile.mkdtemp(prefix=f".{target.name}.restoring-", dir=target.parent))
        try:
            os.chmod(building, 0o777 & ~_umask())
            for relpath, content in out.files.items():
                _put(building / relpath, content)
            os.rename(building, target)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
    else:
        _put(target, out.files[""])


def _put(path: Path, content: bytes | Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            if isinstance(content, Path):
                with open(content, "rb") as source:
                    shutil.copyfileobj(source, file, 1 << 20)
            else:
                file.write(content)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
