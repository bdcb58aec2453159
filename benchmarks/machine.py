"""What this machine computes natively, printed at the top of every benchmark, and the precision flag they share.

Numbers from a benchmark only mean something next to the machine that made them: bf16 is several times faster
than fp32 on a CPU with AMX, about twice as fast on AMD's Zen 4 (AVX512-BF16, no AMX), about half as fast on an Intel
CPU with AVX512-BF16 alone, and ~14x slower where it is emulated (AVX2).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from srgan import precision
from srgan.models.polyphase import PolyphaseConv2d

PRECISIONS = ("fp32", "bf16", "fp16")
# /proc/cpuinfo flag of each feature that decides how fast a precision runs.
FEATURES = {"AVX2": "avx2", "AVX-512F": "avx512f", "AVX512-BF16": "avx512_bf16", "AMX": "amx_bf16",
            "AVX512-FP16": "avx512_fp16"}


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The flags of the first CPU in `cpuinfo` (/proc/cpuinfo's text), or this machine's as srgan reads them."""
    if cpuinfo is None:
        return set(precision.cpu_flags())
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_features(flags: set[str] | None = None) -> dict[str, bool]:
    flags = cpu_flags() if flags is None else flags
    return {name: flag in flags for name, flag in FEATURES.items()}


def native_on_cpu(name: str, features: dict[str, bool] | None = None) -> bool:
    """Whether the CPU computes precision `name` in hardware (fp32 always; bf16 with AVX512-BF16 or AMX). This
    machine's bf16 (no `features` given) is judged as `auto` judges it, oneDNN asked too (ONEDNN_MAX_CPU_ISA can
    cap it)."""
    probe = features is None
    if probe and name == "bf16":
        return precision.native_bf16(torch.device("cpu"))[0]
    features = cpu_features() if probe else features
    if name == "bf16":
        return features["AVX512-BF16"] or features["AMX"]
    if name == "fp16":
        return features["AVX512-FP16"] and (not probe or torch.ops.mkldnn._is_mkldnn_fp16_supported())
    return True


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def gemm_peak(precision: str, size: int = 2048, repeats: int = 5) -> float | None:
    """GFLOP/s of a size x size matmul: the machine's practical ceiling; None where the CPU has no native unit
    for the precision (an emulated matmul is no ceiling, and takes minutes)."""
    if not native_on_cpu(precision):
        return None
    dtype = DTYPES[precision]
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    return 2 * size**3 / fastest(lambda: a @ b, repeats) / 1e9


def conv_rate(side: int = 256, channels: int = 64, repeats: int = 5) -> float:
    """G multiply-adds/s of one fp32 3x3 conv, channels to channels on a side x side image, channels-last, under
    inference mode: the bulk of an SRResNet's arithmetic at the best layout oneDNN has for it. Where torch's matmul
    is slow (MKL on an AMD CPU) this, not gemm_peak, is the practical fp32 ceiling of such a network."""
    conv = nn.Conv2d(channels, channels, 3, padding=1).to(memory_format=torch.channels_last)
    image = torch.rand(1, channels, side, side).to(memory_format=torch.channels_last)
    with torch.inference_mode():
        seconds = fastest(lambda: conv(image), repeats)
    return side * side * channels * channels * 9 / seconds / 1e9


def fastest(call, repeats: int) -> float:
    """Seconds of the fastest of `repeats` calls, after one warm-up call."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def describe_cpu(features: dict[str, bool] | None = None) -> str:
    """One line: the CPU features, torch's own capability, and which reduced precisions run natively."""
    emulated = [p for p in ("bf16", "fp16") if not native_on_cpu(p, features)]
    features = cpu_features() if features is None else features
    listed = ", ".join(f"{name} {'yes' if present else 'no'}" for name, present in features.items())
    note = "; ".join(f"no native {p} (emulated: slower than fp32)" for p in emulated) or "native bf16 and fp16"
    return (f"CPU: {listed} (torch: {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads); "
            f"{note}; precision auto resolves to {default_precision()}")


def default_precision() -> str:
    """What the project's `auto` resolves to on this CPU (bf16 with AMX or on an AMD CPU with AVX512-BF16, else
    fp32): what a run here uses."""
    return precision.resolve_precision("auto", torch.device("cpu")).name


def add_precision_flag(parser: argparse.ArgumentParser, default: str, what: str) -> None:
    parser.add_argument("--precision", choices=PRECISIONS, default=default,
                        help=f"precision of {what} (default: {default})")


def share_of_peak(gflops: float, peak: float | None, precision: str) -> str:
    """'N% of the <precision> GEMM peak', or why no share is printed: no native unit, or a peak the step beats
    (a matmul is then not the ceiling of this work, and a share above 100% would mislead)."""
    if peak is None:
        return f"no native {precision}"
    if gflops > peak:
        return f"above the {precision} GEMM peak of {peak:.0f} GFLOP/s (not a ceiling for this step)"
    return f"{gflops / peak:5.1%} of the {precision} GEMM peak"


def plain(network: nn.Module) -> nn.Module:
    """`network` computed as a plain reimplementation computes it, in place: its RGB convs as nn.Conv2d, where the
    project computes them through their polyphase components on the CPU (srgan.models.polyphase). Same weights."""
    for module in network.modules():
        if type(module) is PolyphaseConv2d:
            module.__class__ = nn.Conv2d
    return network
