"""What every stage script shares: params loading, logging, clean errors, and dying with the process that started it.

Training stages start through srgan.stages._launcher, which can start them on several processes."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from srgan.allocator import keep_freed_memory
from srgan.config import DataParams, load_params
from srgan.errors import SrganError, grouped
from srgan.stages._restore import DVC_STAGE, put_back
from srgan.stages.paths import PARAMS, STAGE_OUTPUTS

log = logging.getLogger("srgan")
LAUNCHER = "SRGAN_LAUNCHER_PID"  # set for the torchrun workers a stage starts
PR_SET_PDEATHSIG = 1


def read_params(*sections: str) -> dict:
    """The named sections, after every section of params.yaml has been validated."""
    return load_params(PARAMS, *sections)


def log_skipped(skipped: dict[str, str], part: str = "") -> None:
    """A warning for the files left out for each reason, naming them and why."""
    for line in grouped(skipped):
        log.warning("%sskipped %s", f"{part}: " if part else "", line)


def eval_set_name(data: DataParams) -> str:
    """The evaluation set a `<stage>@<set>` stage runs for (its argument), which data.eval must name."""
    name = sys.argv[1]
    if name not in data.eval:
        raise SrganError(f"params.yaml: data.eval has no set named {name!r}; run `dvc repro` to follow params.yaml")
    return name


def run(main: Callable[[], None]) -> None:
    """Run a stage: log to stderr, turn user errors into one message and exit status 1. A stage run by dvc that
    does not finish (an error, Ctrl-C) puts back the outputs `dvc repro` removed before running it
    (srgan.stages._restore)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    keep_freed_memory()
    if DVC_STAGE in os.environ and LAUNCHER not in os.environ:
        _end_with_dvc()  # a `kill -9` of dvc must not leave the stage training
    try:
        if LAUNCHER in os.environ:  # a torchrun worker of a training stage (srgan.stages._launcher)
            _die_with(int(os.environ[LAUNCHER]), signal.SIGKILL)
        main()
    except SrganError as err:
        print(f"error: {err}", file=sys.stderr)
        put_back()
        sys.exit(1)
    except FileNotFoundError as err:
        print(f"error: {_missing(err.filename)}", file=sys.stderr)
        put_back()
        sys.exit(1)
    except KeyboardInterrupt as err:
        # Training loops say what they kept (srgan.train.loop); this stage's outputs are only written at its end.
        print(f"interrupted: {err or 'the stage did not finish; `dvc repro` runs it again'}", file=sys.stderr)
        put_back()
        sys.exit(130)
    except Exception:
        put_back()
        raise


def _missing(filename) -> str:
    """Blame an earlier stage only for what a stage makes (a declared input); any other file is just missing."""
    path = Path(str(filename))
    if not path.is_absolute() and any(path == made or made in path.parents for made in STAGE_OUTPUTS):
        return f"{path}: missing; it is made by an earlier stage: `dvc pull` it, or run `dvc repro`"
    return f"{path}: no such file or folder"


def _end_with_dvc() -> None:
    """End this stage (SIGTERM) when the dvc that runs it dies. dvc runs a stage's cmd through `$SHELL -c`, or
    `/bin/sh -c` where SHELL is unset (as under many CI runners). bash replaces itself with the command, so dvc is
    the parent; dash (Debian's /bin/sh) does not, so the parent is a shell that outlives dvc's death, and the
    stage watches that shell's parent instead."""
    parent = os.getppid()
    _die_with(parent, signal.SIGTERM)
    if _is_command_shell(parent):
        dvc = _parent_of(parent)
        if dvc is not None:
            threading.Thread(target=_end_when_reparented, args=(parent, dvc), daemon=True).start()


def _is_command_shell(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    name = os.path.basename(argv[0]).decode(errors="replace")
    return (name.endswith("sh") or name == "fish") and b"-c" in argv[1:]


def _parent_of(pid: int) -> int | None:
    try:  # /proc/<pid>/stat: "pid (comm) state ppid ...", comm may hold spaces and parentheses
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _end_when_reparented(shell: int, dvc: int) -> None:
    """The kernel gives an orphan a new parent: once the shell's parent is no longer dvc, dvc is gone."""
    while _parent_of(shell) == dvc:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)


def _die_with(parent: int, how: signal.Signals) -> None:
    """Receive `how` when `parent`, the process that started this one, dies. torchrun starts its workers in
    sessions of their own, and `dvc` does not end its stage when it is killed, so a `kill -9` would otherwise
    leave them training (and writing checkpoints) as orphans beside the next run. A stage gets SIGTERM (torchrun
    then ends its workers), a worker SIGKILL. Linux only (prctl); elsewhere torchrun's own handling."""
    if not sys.platform.startswith("linux"):
        return
    if signal.getsignal(how) == signal.SIG_IGN:  # inherited from whatever started dvc; it would void the line below
        signal.signal(how, signal.SIG_DFL)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, how)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)
