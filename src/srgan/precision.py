"""Numeric precision by name (auto, fp32, bf16, fp16): what `auto` resolves to, and autocast for forward passes.

bf16 pays only where the hardware computes it fast. On a CPU without AVX512-BF16 or AMX, oneDNN emulates it and a
training step is about 14 times slower than in fp32 (measured on an AVX2 CPU). Where AVX512-BF16 is native, the
vendor decides (README, Speed): on a 2-core Intel Xeon VM that exposes AVX512-BF16 and AVX512-FP16 but not AMX, a
2048^2 matmul ran at 166 GFLOP/s in bf16 against 325 in fp32, and the default pipeline's steps at 0.4 to 0.5 times
their fp32 speed; there only AMX's tile units make bf16 faster (about 3 times the step). On a 2-core AMD EPYC
(Zen 4: AVX512-BF16, no AMX) the same matmul ran at 413 GFLOP/s in bf16 against 192 in fp32, and the paper's
training steps at 2.3 times a plain fp32 loop's speed. So `auto` is bf16 on CUDA devices that support it, on CPUs
with AMX-BF16 and on AMD CPUs with AVX512-BF16, and fp32 everywhere else (an Intel CPU with AVX512-BF16 alone
included); fp16 is never chosen automatically.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import platform
from dataclasses import dataclass
from typing import get_args

import torch

from srgan.config import Precision

log = logging.getLogger(__name__)

PRECISIONS = get_args(Precision)
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
CPU_FEATURES = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
ARM = ("aarch64", "arm64")
AMD = "AuthenticAMD"  # /proc/cpuinfo's vendor_id
EMULATED_BF16_SLOWDOWN = 14  # bf16 step time / fp32 step time on an AVX2 CPU (README, Speed)


@dataclass(frozen=True)
class Resolved:
    """The precision a run computes in, what was asked for, and why the two agree or differ."""
    name: str
    requested: str
    reason: str

    def record(self) -> dict:
        return {"requested": self.requested, "resolved": self.name, "reason": self.reason}


def cpuinfo_field(*names: str, path: str = "/proc/cpuinfo") -> str:
    """The value of the first line of /proc/cpuinfo (or `path`) that starts with one of `names` ("" where there is
    none, or no such file)."""
    try:
        with open(path) as info:
            for line in info:
                if line.startswith(names):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux reports them (empty elsewhere)."""
    return frozenset(cpuinfo_field("flags", "Features").split())


@functools.cache
def cpu_vendor() -> str:
    """The CPU's vendor as Linux reports it: GenuineIntel, AuthenticAMD, ... ("" elsewhere)."""
    return cpuinfo_field("vendor_id")


def cpu_features() -> dict[str, bool]:
    """The x86 features that decide which precision is fast: AVX2, AVX-512F, AVX512-BF16, AMX-BF16."""
    flags = cpu_flags()
    return {name: name in flags for name in CPU_FEATURES}


def describe_cpu() -> str:
    """One line naming the CPU's speed-relevant features, for logs and benchmark output."""
    features = cpu_features()
    present = [name for name, has in features.items() if has] or ["none of " + ", ".join(CPU_FEATURES)]
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads, features: {' '.join(present)}"


def native_bf16(device: torch.device) -> tuple[bool, str]:
    """Whether the device computes bf16 natively, and the evidence."""
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported(including_emulation=False)
        name = torch.cuda.get_device_name(device)
        return native, f"{name} {'supports' if native else 'does not support'} bf16"
    if device.type == "cpu":
        features = cpu_features()
        units = [name for name in ("avx512_bf16", "amx_bf16") if features[name]]
        if platform.machine() in ARM and "bf16" in cpu_flags():
            units.append("bf16")
        if not units:
            return False, "the CPU has no native bf16 (no AVX512-BF16 or AMX)"
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False, (f"the CPU has {', '.join(units)} but oneDNN does not compute bf16 with it, so no native "
                           "bf16 (is ONEDNN_MAX_CPU_ISA set below AVX512_CORE_BF16?)")
        return True, f"the CPU has native bf16 ({', '.join(units)})"
    return False, f"{device.type} devices are run in fp32"


def measured_cpu_bf16(device: torch.device) -> tuple[bool, str] | None:
    """On an x86 CPU without AMX, where the speed of native bf16 depends on the vendor: whether it is faster than
    fp32 there, and the measurement that says so. None elsewhere (native means fast)."""
    if device.type != "cpu" or platform.machine() in ARM or cpu_features()["amx_bf16"]:
        return None
    if cpu_vendor() == AMD:
        return True, ("the CPU has native bf16 (avx512_bf16), on an AMD CPU, where oneDNN computes bf16 at about twice "
                      "its fp32 speed")
    return False, ("the CPU has native bf16 (avx512_bf16) but no AMX and is not an AMD one; oneDNN computed bf16 at "
                   "about half its fp32 speed on such an Intel CPU")


@functools.cache
def resolve_precision(requested: str, device: torch.device) -> Resolved:
    """The precision to compute in. `auto` picks bf16 where it is faster than fp32 (native, and on an x86 CPU with
    AMX or made by AMD), else fp32; an explicit bf16 where it is slower still runs, with one warning. Logged once per
    process and device."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    native, evidence = native_bf16(device)
    fast, measured = native, measured_cpu_bf16(device) if native else None
    if measured:
        fast, evidence = measured
    if requested == "auto":
        resolved = Resolved("bf16" if fast else "fp32", requested, f"auto: {evidence}")
        log.info("precision auto -> %s on %s: %s", resolved.name, device.type, evidence)
        return resolved
    if requested == "bf16" and not fast:
        why = evidence if native else (f"{evidence}, so bf16 is emulated and runs about {EMULATED_BF16_SLOWDOWN} "
                                       "times slower than fp32 on an AVX2 CPU")
        log.warning("precision bf16 on %s: %s. Set precision to auto (or fp32) for the fast path here", device.type,
                    why)
        return Resolved(requested, requested, f"explicit; {'slower' if native else 'emulated'}: {evidence}")
    return Resolved(requested, requested, "explicit")


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast to a resolved precision (fp32: no autocast)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=AUTOCAST_DTYPES[precision])
