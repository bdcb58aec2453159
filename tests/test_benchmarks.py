"""The benchmarks' shared machine report and precision flag, and that their output never misleads: no peak of
0, no share above 100%, and a GPU check without a GPU says so in one line. Timings are never asserted."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from machine import cpu_features, cpu_flags, describe_cpu, native_on_cpu, plain, share_of_peak  # noqa: E402

AVX2_CPUINFO = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu sse2 avx avx2 fma\n"
AMX_FLAGS = {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}


def test_an_avx2_cpu_has_no_native_bf16_and_says_so():
    features = cpu_features(cpu_flags(AVX2_CPUINFO))
    assert features == {"AVX2": True, "AVX-512F": False, "AVX512-BF16": False, "AMX": False, "AVX512-FP16": False}
    assert not native_on_cpu("bf16", features) and native_on_cpu("fp32", features)
    line = describe_cpu(features)
    assert line.startswith("CPU: AVX2 yes, AVX-512F no, AVX512-BF16 no, AMX no") and "no native bf16" in line


def test_a_cpu_with_amx_computes_bf16_natively():
    features = cpu_features(AMX_FLAGS)
    assert native_on_cpu("bf16", features) and not native_on_cpu("fp16", features)
    assert "no native bf16" not in describe_cpu(features)


def test_this_machines_bf16_is_not_native_when_onednn_declines_it(monkeypatch):
    """An AMX CPU under ONEDNN_MAX_CPU_ISA=AVX2 computes bf16 as an AVX2 one does: emulated."""
    import machine
    import torch

    from srgan import precision

    monkeypatch.setattr(machine, "cpu_features", lambda: cpu_features(AMX_FLAGS))
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    precision.resolve_precision.cache_clear()  # cached per process: neither take nor leave a resolution
    try:
        assert not native_on_cpu("bf16")
        assert "no native bf16" in describe_cpu()
    finally:
        precision.resolve_precision.cache_clear()
    assert native_on_cpu("bf16", cpu_features(AMX_FLAGS)), "a described CPU is judged by its flags alone"


def test_the_plain_reference_is_the_same_generator_computed_with_nn_conv2d_only():
    import torch
    from torch import nn

    from srgan.models.generator import Generator
    from srgan.models.polyphase import PolyphaseConv2d

    torch.manual_seed(0)
    generator = Generator(scale=8, blocks=1, channels=8, progressive=True).eval()
    lr = torch.rand(1, 3, 9, 7)
    with torch.no_grad():
        expected = generator(lr)
        reference = plain(generator)
        assert not any(isinstance(module, PolyphaseConv2d) for module in reference.modules())
        assert sum(type(module) is nn.Conv2d for module in reference.modules()) == 10
        torch.testing.assert_close(reference(lr), expected, rtol=1e-5, atol=1e-5)


def test_share_of_peak_is_never_above_100_percent_nor_of_a_missing_peak():
    assert share_of_peak(50.0, 200.0, "bf16") == "25.0% of the bf16 GEMM peak"
    assert share_of_peak(400.0, None, "bf16") == "no native bf16"
    above = share_of_peak(400.0, 30.7, "bf16")
    assert "%" not in above and "above the bf16 GEMM peak of 31 GFLOP/s" in above


def run(script: str, *args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, **(env or {}),
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCHMARKS.parent / "src"),
                                                               os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          env=environment, timeout=600, cwd=cwd)


def test_gpu_check_without_a_gpu_is_one_clear_line():
    result = run("gpu_check.py", "--quick", env={"CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("gpu_check: no CUDA GPU")
    assert result.stdout.startswith("CPU: AVX2 ")


def test_train_throughput_reports_the_machine_and_honest_shares():
    precision = "bf16"  # native or not, what is printed must hold
    result = run("train_throughput.py", "--sizes", "16", "--batch", "2", "--steps", "1", "--repeats", "1",
                 "--skip-gan", "--precision", precision, env={"CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("CPU: AVX2 ") and "(torch: " in lines[0]
    assert f"project in {precision}" in lines[1] and " 0 GFLOP/s" not in result.stdout
    project = next(line for line in lines if "project" in line and "img/s" in line)
    assert "of the bf16 GEMM peak" in project or "no native bf16" in project or "above the bf16" in project
    assert all(float(share) <= 100 for share in re.findall(r"([\d.]+)% of the", result.stdout))


def test_the_gan_robustness_matrix_trains_evaluates_and_saves_each_run(tiny_run, tmp_path):
    """On the tiny run's SRResNet and crops (read, not changed): a row per run, the verdict, the SR saved."""
    result = run("gan_robustness.py", "--seeds", "0", "1", "--precisions", "fp32", "--set", "gan.steps=2",
                 "--set", "gan.d_warmup_steps=1", "--set", "gan.log_every=1", "--save", str(tmp_path / "runs"),
                 "--compare", "models/srresnet.pt", "--blend", "0", "1", "--choose-alpha", "--soup", cwd=tiny_run.root,
                 env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if re.match(r"\| [01] \| fp32 \|", line)]
    assert len(rows) == 2 and "of 2 runs meet the bar" in result.stdout
    assert "training on bicubic LR; scored on skimage (3 images)" in result.stdout
    srresnet = re.search(r"SRResNet ([\d.]+ / [\d.]+ / [\d.]+)", result.stdout).group(1)
    compared = re.search(r"models/srresnet.pt: ([\d.]+ / [\d.]+ / [\d.]+)", result.stdout).group(1)
    assert compared == srresnet, "a compared model is scored as the matrix's own start is"
    assert "| beats models/srresnet.pt |" in result.stdout
    for row in rows:
        cells = row.split(" | ")
        psnr, ssim, niqe = (float(value) for value in cells[7].split(" / "))
        assert 10 < psnr < 60 and 0 < ssim <= 1 and niqe > 0, row
        assert cells[8] in ("yes", "no"), row
    for seed, row in enumerate(rows):
        blends = {alpha: next(line for line in result.stdout.splitlines()
                              if line.startswith(f"| {seed} | fp32, blend α={alpha} |")) for alpha in (0, 1)}
        assert blends[1].split(" | ")[7] == row.split(" | ")[7], "alpha 1 is the run itself"
        assert blends[0].split(" | ")[7] == srresnet, "alpha 0 is the SRResNet it started from"
        chosen = re.search(rf"\| {seed} \| fp32, blend α chosen on the other photos \(astronaut (\d), chelsea (\d), "
                           r"coffee (\d)\) \|.*", result.stdout)
        assert chosen, result.stdout
        if len(set(chosen.groups())) == 1:  # one alpha for every photo: that blend's own row
            assert chosen.group(0).split(" | ")[7] == blends[int(chosen.group(1))].split(" | ")[7]
    means = next(line for line in result.stdout.splitlines() if line.startswith("| mean | 2 runs |")).split(" | ")
    for column in (2, 3):  # the mean of the two runs' differences from SRResNet (each shown to 2 decimals)
        assert abs(float(means[column]) - sum(float(row.split(" | ")[column]) for row in rows) / 2) <= 0.006, means
    met = sum(row.split(" | ")[6] == "yes" for row in rows)
    assert means[6] == f"{met} of 2" and f"{met} of 2 runs meet the bar" in result.stdout
    soup = next(line for line in result.stdout.splitlines() if line.startswith("| soup | fp32, soup of seeds 0, 1 |"))
    assert float(soup.split(" | ")[7].split(" / ")[0]) > 10
    assert any(line.startswith("| soup | fp32, soup of seeds 0, 1, blend α chosen on the other photos (")
               for line in result.stdout.splitlines())
    assert "overrides: gan.steps=2 gan.d_warmup_steps=1 gan.log_every=1" in result.stdout
    for seed in (0, 1):
        assert sorted(path.name for path in (tmp_path / "runs" / f"seed{seed}-fp32").iterdir()), "no SR saved"


def test_the_gan_robustness_matrix_refuses_a_blend_outside_0_to_1(tiny_run):
    result = run("gan_robustness.py", "--blend", "0.5", "1.5", cwd=tiny_run.root)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--blend 1.5 must lie in [0, 1]" in result.stderr


def test_choosing_the_blend_on_the_other_photos_never_sees_the_photo_it_scores():
    """Two photos of two draws each: on `a` the sharp blend beats the rival on every measure, on `b` only the faithful
    one does. Left out, `a` is scored at the alpha chosen on `b` and `b` at the one chosen on `a`: the worse pair."""
    from gan_robustness import leave_one_photo_out, photos

    good, bad = {"psnr": 30.0, "ssim": 0.9, "niqe": 4.0}, {"psnr": 20.0, "ssim": 0.5, "niqe": 9.0}
    rival = {name: {"psnr": 25.0, "ssim": 0.7, "niqe": 6.0} for name in ("a", "a_draw1", "b", "b_draw1")}
    blends = {0.5: {"a": bad, "a_draw1": bad, "b": good, "b_draw1": good},
              0.9: {"a": good, "a_draw1": good, "b": bad, "b_draw1": bad}}
    held_out, chosen = leave_one_photo_out(blends, rival)
    assert chosen == {"a": 0.5, "b": 0.9}
    assert held_out == {name: bad for name in rival}
    assert photos(["a", "a_draw12", "my_draw", "x_draw1"]) == {"a": "a", "a_draw12": "a", "my_draw": "my_draw",
                                                              "x_draw1": "x_draw1"}, "a draw of a photo in the set"
    tie = {alpha: {name: dict(rival[name]) for name in rival} for alpha in (0.2, 0.7)}
    assert leave_one_photo_out(tie, rival)[1] == {"a": 0.7, "b": 0.7}, "on a tie, the sharper alpha"


def test_a_soup_of_one_start_s_fine_tunes_is_their_average():
    import torch
    from gan_robustness import soup

    from srgan.models.generator import Generator

    start = Generator(4, blocks=1, channels=4)
    runs = [Generator(4, blocks=1, channels=4) for _ in range(3)]
    for run in runs:
        run.load_state_dict({name: value + torch.randn_like(value) if value.is_floating_point() else value
                             for name, value in start.state_dict().items()})
    averaged = soup(runs).state_dict()
    for name, value in start.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(averaged[name], sum(run.state_dict()[name] for run in runs) / 3)


@pytest.mark.parametrize("flags", [["--compare", "models/srresnet.pt"], ["--blend", "0.5"]])
def test_choosing_the_blend_needs_blends_and_a_model_to_beat(flags, monkeypatch, capsys):
    import gan_robustness

    monkeypatch.setattr(sys, "argv", ["gan_robustness.py", "--choose-alpha", *flags])
    with pytest.raises(SystemExit) as stopped:
        gan_robustness.main()
    assert stopped.value.code == 2 and "--choose-alpha picks one of the --blend alphas" in capsys.readouterr().err


def test_choosing_the_blend_needs_two_photos_to_leave_one_out(tiny_run, tmp_path, monkeypatch, capsys):
    import gan_robustness
    import numpy as np

    from srgan.data.crops import write_eval_images
    from srgan.imageio import write_png

    write_png(tmp_path / "only.png", np.zeros((32, 32, 3), np.uint8))
    write_eval_images([tmp_path / "only.png"], tmp_path / "data/prepared/eval/one/images.npz", scale=4, draws=2)
    (tmp_path / "params.yaml").write_text((tiny_run.root / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["gan_robustness.py", "--eval-set", "one", "--choose-alpha", "--blend", "0.5",
                                      "--compare", "models/srresnet.pt"])
    with pytest.raises(SystemExit) as stopped:
        gan_robustness.main()
    assert stopped.value.code == 2 and "--choose-alpha leaves one photo out at a time: one has only one" in \
        capsys.readouterr().err


def test_the_gan_robustness_matrix_names_an_unprepared_evaluation_set_and_the_command_to_prepare_it(tiny_run):
    result = run("gan_robustness.py", "--eval-set", "set14", cwd=tiny_run.root, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "--eval-set set14" in result.stderr and "dvc repro prepare_eval@set14" in result.stderr


def test_the_realistic_training_probe_prints_a_row_per_mode_and_evaluation(tiny_run):
    """On the tiny run's downloaded images (read, not changed): every mode trains and is scored against bicubic."""
    result = run("realistic_training.py", "--steps", "2", "--evals", "1", "--draws", "1", "--margin", "4",
                 cwd=tiny_run.root, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split(" | ") for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert [row[0] for row in rows[1:]] == ["| bicubic", "| once", "| fresh", "| margin"]
    for row in rows[1:]:
        assert row[1] == "2" and row[6] in ("0/3", "1/3", "2/3", "3/3")
        assert all(15 < float(value) < 60 for value in row[2:6]), row
    assert result.stdout.startswith("bicubic interpolation: clean ")


def test_the_realistic_training_probe_starts_from_a_model_file_and_scores_the_start(tiny_run, tmp_path):
    result = run("realistic_training.py", "--modes", "margin", "--steps", "1", "--evals", "1", "--draws", "1",
                 "--margin", "4", "--init", "models/srresnet.pt", cwd=tiny_run.root, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split(" | ") for line in result.stdout.splitlines() if line.startswith("| margin")]
    assert [row[1] for row in rows] == ["0", "1"]
    evaluation = json.loads((tiny_run.root / "reports/evaluate/skimage/metrics.json").read_text())
    assert float(rows[0][2]) == pytest.approx(evaluation["srresnet"]["psnr_y"], abs=0.01), "step 0 is the file"
    (tmp_path / "not_a_model.pt").write_bytes(b"not a model")
    refused = run("realistic_training.py", "--init", str(tmp_path / "not_a_model.pt"), cwd=tiny_run.root)
    assert refused.returncode == 1 and "--init: " in refused.stderr and "not a model file" in refused.stderr


def test_the_realistic_training_probe_refuses_a_margin_off_the_scale(tiny_run):
    result = run("realistic_training.py", "--margin", "3", cwd=tiny_run.root)
    assert result.returncode == 2 and "--margin 3 must be a multiple of data.scale (4)" in result.stderr


def test_tiled_inference_times_every_side_and_onnxruntime_gives_the_reference_output():
    result = run("tiled_inference.py", "--size", "40", "--tile", "32", "--precision", "bf16", "--repeats", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("CPU:")
    for side in ("reference", "project fp32", "project bf16", "onnxruntime fp32"):
        assert any(re.match(rf"{side} +[0-9.]+ s +x[0-9.]+ +peak", line) for line in lines), side
    onnx = re.search(r"onnxruntime output against the reference's: ([0-9.inf]+) dB", result.stdout)
    assert onnx and float(onnx.group(1)) > 60
    assert re.search(r"PSNR of the bf16 output against the fp32 output: [0-9.]+ dB", result.stdout)
    work = re.search(r"arithmetic: ([0-9.]+) T multiply-adds; .* matmul ([0-9.]+) G/s .* conv on a 256-px tile "
                     r"([0-9.]+) G/s: .* would be x([0-9.]+) the reference", result.stdout)
    assert work and min(float(work.group(n)) for n in (2, 3, 4)) > 0, result.stdout
    assert float(work.group(1)) == pytest.approx(2.218e6 * 40 * 40 / 1e12, abs=1e-4), "the paper's 2.218 M per pixel"
