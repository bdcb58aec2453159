"""What every stage script shares: params loading, logging, clean errors, and starting training processes."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Callable

from srgan.config import DataParams, ExecutionParams, load_params
from srgan.errors import SrganError
from srgan.stages.paths import PARAMS, STAGE_OUTPUTS

log = logging.getLogger("srgan")
LAUNCHER = "SRGAN_LAUNCHER_PID"  # set for the torchrun workers a stage starts
DVC_STAGE = "DVC_STAGE"  # set by dvc for the commands of its stages
PR_SET_PDEATHSIG = 1
RESTORE = ("`dvc repro` removes a stage's outputs before it runs; `git checkout -- reports && dvc checkout` brings "
           "back the committed ones")


def read_params(*sections: str) -> dict:
    """The named sections, after every section of params.yaml has been validated."""
    return load_params(PARAMS, *sections)


def eval_set_name(data: DataParams) -> str:
    """The evaluation set a `<stage>@<set>` stage runs for (its argument), which data.eval must name."""
    name = sys.argv[1]
    if name not in data.eval:
        raise SrganError(f"params.yaml: data.eval has no set named {name!r}; run `dvc repro` to follow params.yaml")
    return name


def run(main: Callable[[], None], training: bool = False) -> None:
    """Run a stage: log to stderr, turn user errors into one message and exit status 1.

    A training stage with execution.nproc_per_node or nnodes above 1 starts its own processes with
    torchrun (torch.distributed.run), each of which runs this same stage.
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if DVC_STAGE in os.environ and LAUNCHER not in os.environ:
        _die_with(os.getppid(), signal.SIGTERM)  # a `kill -9` of dvc must not leave the stage training
    try:
        if training and _needs_launch():
            _launch(read_params("execution")["execution"])
        else:
            if LAUNCHER in os.environ:
                _die_with(int(os.environ[LAUNCHER]), signal.SIGKILL)
            main()
    except SrganError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    except FileNotFoundError as err:
        print(f"error: {_missing(err.filename)}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt as err:
        # Training loops say what they kept (srgan.train.loop); this stage's outputs are only written at its end.
        print(f"interrupted: {err or 'the stage did not finish; `dvc repro` runs it again'}. {RESTORE}",
              file=sys.stderr)
        sys.exit(130)


def _missing(filename) -> str:
    """Blame an earlier stage only for what a stage makes (a declared input); any other file is just missing."""
    path = Path(str(filename))
    if not path.is_absolute() and any(path == made or made in path.parents for made in STAGE_OUTPUTS):
        return f"{path}: missing; it is made by an earlier stage: `dvc pull` it, or run `dvc repro`"
    return f"{path}: no such file or folder"


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


def _needs_launch() -> bool:
    return "LOCAL_RANK" not in os.environ and read_params("execution")["execution"].world_size > 1


def _launch(execution: ExecutionParams) -> None:
    """Start execution.nproc_per_node processes of this stage on this machine (and join the other machines')."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.elastic.rendezvous.api import RendezvousError
    from torch.distributed.run import main as torchrun

    spec = sys.modules["__main__"].__spec__
    if spec is None:  # run by file path: torchrun could not start the same module in each process
        raise SrganError(f"{sys.argv[0]}: run a stage as a module (`python -m srgan.stages.<stage>`, as dvc.yaml "
                         "does) to start it on several processes")
    module = spec.name
    stage = module.rsplit(".", 1)[1]
    if execution.nnodes > 1:
        where = ["--nnodes", str(execution.nnodes), "--rdzv-backend", "c10d", "--rdzv-endpoint",
                 execution.rdzv_endpoint, "--rdzv-id", f"srgan-{stage}"]
    else:
        where = ["--standalone"]
    log.info("%s: starting %d process(es) on this machine with torchrun", stage, execution.nproc_per_node)
    os.environ[LAUNCHER] = str(os.getpid())
    try:
        torchrun([*where, "--nproc-per-node", str(execution.nproc_per_node), "-m", module])
    except ChildFailedError:
        raise SrganError(f"{stage}: a training process failed; its message is above") from None
    except RendezvousError as err:
        raise SrganError(f"params.yaml: execution.rdzv_endpoint {execution.rdzv_endpoint}: the {execution.nnodes} "
                         f"machines could not meet there ({type(err).__name__}: {err}); start the stage on the "
                         "first machine, check that the host resolves and the port is open") from None
    except SignalException as err:  # Ctrl-C or a kill reached torchrun: its processes said what they kept
        raise KeyboardInterrupt(f"{stage}: stopped by {signal.Signals(err.sigval).name}; what its processes kept "
                                "is said above") from None
