"""Precision `auto`: bf16 only where the device computes it faster than fp32 (CUDA with bf16, a CPU with AMX, an AMD
CPU with AVX512-BF16), fp32 elsewhere; an explicit bf16 that is emulated or slower runs with one warning. The CPU
probe is forced both ways, so these hold on any CPU."""

import logging

import pytest
import torch

from srgan import precision
from srgan.inference import upscale_tensor
from srgan.models.generator import Generator

CPU = torch.device("cpu")
AMX_CPU = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16"})
AVX2_CPU = frozenset({"avx2", "fma"})


@pytest.fixture
def cpu_with(monkeypatch):
    """Make the probe see a CPU with the given flags and vendor (and oneDNN agree that bf16 runs)."""
    def force(flags: frozenset, vendor: str = "GenuineIntel") -> None:
        monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
        monkeypatch.setattr(precision, "cpu_vendor", lambda: vendor)
        monkeypatch.setattr(precision.platform, "machine", lambda: "x86_64")
        monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
        precision.resolve_precision.cache_clear()
    yield force
    precision.resolve_precision.cache_clear()


def test_auto_is_bf16_on_a_cpu_with_native_bf16(cpu_with):
    cpu_with(AMX_CPU)
    resolved = precision.resolve_precision("auto", CPU)
    assert resolved.name == "bf16"
    assert resolved.record() == {"requested": "auto", "resolved": "bf16",
                                 "reason": "auto: the CPU has native bf16 (avx512_bf16, amx_bf16)"}


def test_auto_is_fp32_on_an_avx2_cpu_and_never_fp16(cpu_with):
    cpu_with(AVX2_CPU)
    resolved = precision.resolve_precision("auto", CPU)
    assert resolved.name == "fp32"
    assert "no native bf16" in resolved.reason


def test_a_bf16_cpu_whose_onednn_declines_bf16_resolves_to_fp32_and_says_why(cpu_with, monkeypatch):
    """ONEDNN_MAX_CPU_ISA=AVX2 on an AMX CPU: oneDNN computes bf16 by emulation, as on an AVX2 laptop."""
    cpu_with(AMX_CPU)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    resolved = precision.resolve_precision("auto", CPU)
    assert resolved.name == "fp32"
    assert "avx512_bf16, amx_bf16 but oneDNN does not compute bf16" in resolved.reason
    assert "no native bf16" in resolved.reason and "ONEDNN_MAX_CPU_ISA" in resolved.reason


def test_avx512_bf16_without_amx_is_native_but_auto_keeps_fp32_and_bf16_warns(cpu_with, caplog):
    """There oneDNN computes bf16 at about half its fp32 speed (README, Speed): native, not emulated, yet slower."""
    cpu_with(frozenset({"avx2", "avx512f", "avx512_bf16", "avx512_fp16"}))
    assert precision.native_bf16(CPU)[0]
    resolved = precision.resolve_precision("auto", CPU)
    assert resolved.name == "fp32" and "no AMX" in resolved.reason and "not an AMD one" in resolved.reason
    with caplog.at_level(logging.WARNING, logger="srgan.precision"):
        explicit = precision.resolve_precision("bf16", CPU)
    assert explicit.name == "bf16" and explicit.reason.startswith("explicit; slower:")
    [warning] = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert "no AMX" in warning and "emulated" not in warning and "auto (or fp32)" in warning


def test_avx512_bf16_on_an_amd_cpu_is_fast_so_auto_is_bf16_and_bf16_says_nothing(cpu_with, caplog):
    """AMD's Zen 4 computes bf16 at about twice its fp32 speed without AMX (README, Speed)."""
    cpu_with(frozenset({"avx2", "avx512f", "avx512_bf16"}), vendor="AuthenticAMD")
    with caplog.at_level(logging.INFO, logger="srgan.precision"):
        resolved = precision.resolve_precision("auto", CPU)
        explicit = precision.resolve_precision("bf16", CPU)
    assert resolved.name == "bf16" and "AMD CPU" in resolved.reason and "twice its fp32 speed" in resolved.reason
    assert explicit.record() == {"requested": "bf16", "resolved": "bf16", "reason": "explicit"}
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


def test_an_amd_cpu_without_avx512_bf16_stays_fp32(cpu_with):
    cpu_with(AVX2_CPU, vendor="AuthenticAMD")
    resolved = precision.resolve_precision("auto", CPU)
    assert resolved.name == "fp32" and "no native bf16" in resolved.reason and "AMD" not in resolved.reason


def test_the_vendor_and_flags_are_read_from_cpuinfo_and_missing_ones_are_empty(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nflags\t\t: fpu avx2 avx512_bf16\n"
                    "\nprocessor\t: 1\nvendor_id\t: AuthenticAMD\n")
    assert precision.cpuinfo_field("vendor_id", path=str(info)) == "AuthenticAMD"
    assert precision.cpuinfo_field("flags", "Features", path=str(info)).split() == ["fpu", "avx2", "avx512_bf16"]
    assert precision.cpuinfo_field("Features", path=str(info)) == ""
    assert precision.cpuinfo_field("vendor_id", path=str(tmp_path / "absent")) == ""


def test_explicit_bf16_without_native_support_runs_with_one_warning(cpu_with, caplog):
    cpu_with(AVX2_CPU)
    with caplog.at_level(logging.WARNING, logger="srgan.precision"):
        first = precision.resolve_precision("bf16", CPU)
        precision.resolve_precision("bf16", CPU)
    assert first.name == "bf16" and "emulated" in first.reason
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "14 times slower" in warnings[0] and "auto (or fp32)" in warnings[0]


def test_explicit_bf16_on_a_native_cpu_and_fp32_say_nothing(cpu_with, caplog):
    cpu_with(AMX_CPU)
    with caplog.at_level(logging.WARNING, logger="srgan.precision"):
        assert precision.resolve_precision("bf16", CPU).name == "bf16"
        assert precision.resolve_precision("fp32", CPU).name == "fp32"
    assert not caplog.records


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="auto, fp32, bf16, fp16"):
        precision.resolve_precision("fp8", CPU)


def test_inference_with_auto_on_an_avx2_cpu_is_exactly_fp32(cpu_with):
    cpu_with(AVX2_CPU)
    torch.manual_seed(0)
    generator = Generator(scale=2, blocks=1, channels=8).eval()
    image = torch.rand(1, 3, 12, 12)
    assert torch.equal(upscale_tensor(generator, image, precision="auto"),
                       upscale_tensor(generator, image, precision="fp32"))


def test_describe_cpu_names_the_features(cpu_with):
    cpu_with(AMX_CPU)
    line = precision.describe_cpu()
    assert "avx512_bf16" in line and "amx_bf16" in line and "threads" in line
