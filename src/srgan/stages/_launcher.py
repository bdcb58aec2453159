"""Starting a training stage on several processes with torchrun; only the training stages import this."""

from __future__ import annotations

import os
import signal
import sys
from typing import Callable

from srgan.config import ExecutionParams
from srgan.errors import SrganError
from srgan.stages._stage import LAUNCHER, log, read_params, run


def run_training(main: Callable[[], None]) -> None:
    """Run a training stage (srgan.stages._stage.run). With execution.nproc_per_node or nnodes above 1 this
    process starts torchrun (torch.distributed.run), each of whose processes runs this same stage."""
    def launch_or_main() -> None:
        if needs_launch():
            launch(read_params("execution")["execution"])
        else:
            main()

    run(launch_or_main)


def needs_launch() -> bool:
    return "LOCAL_RANK" not in os.environ and read_params("execution")["execution"].world_size > 1


def launch(execution: ExecutionParams) -> None:
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
