"""`srgan-export`: a trained generator as ONNX, with dynamic batch, height and width, to run outside PyTorch.

    srgan-export models/srgan.pt -o srgan.onnx
    srgan-export models/srgan.pt --blend models/srresnet.pt --alpha 0.5 -o srgan_half.onnx

Input `lr`: float32 (N, 3, h, w) RGB in [0, 1]; output `sr`: (N, 3, h*scale, w*scale), not clamped (clamp and
round to uint8 as `upscale` does). The bicubic skip of a bicubic_skip generator is rebuilt from convolutions,
since the MATLAB resize matrices depend on the image size, which ONNX leaves open; its padding needs inputs of at
least 3 pixels a side.
"""

from __future__ import annotations

import argparse
import copy
import errno
import io
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from srgan.atomic import atomic_path
from srgan.data.resize import resize_matrix
from srgan.errors import SrganError
from srgan.models.blend import load_blend
from srgan.models.generator import Generator
from srgan.models.io import load_generator

OPSET = 17
REACH = 3  # input pixels either side that MATLAB's bicubic upscale reads (taps at offsets -3..3 cover every phase)


def upscale_taps(scale: int) -> torch.Tensor:
    """(scale, 2*REACH + 1) weights of MATLAB's bicubic upscale: output pixel scale*k + phase reads inputs
    k - REACH .. k + REACH; taken from the interior rows of the exact resize matrix."""
    size = 4 * REACH
    matrix = resize_matrix(size, size * scale)
    k = size // 2
    rows = np.stack([matrix[k * scale + phase, k - REACH:k + REACH + 1] for phase in range(scale)])
    return torch.from_numpy(rows).float()


class BicubicUpscale(nn.Module):
    """MATLAB bicubic upscale by an integer factor, as convolutions over a symmetrically padded image: the same
    result as srgan.data.resize.upscale for images of at least REACH pixels a side, at any size."""

    def __init__(self, scale: int):
        super().__init__()
        self.scale = scale
        self.register_buffer("taps", upscale_taps(scale)[:, None, None, :])  # (scale, 1, 1, taps)

    def _along_width(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        padded = torch.cat([x[..., :REACH].flip(-1), x, x[..., -REACH:].flip(-1)], dim=-1)  # symmetric
        phases = F.conv2d(padded.reshape(n * c, 1, h, w + 2 * REACH), self.taps)  # (n*c, scale, h, w)
        return phases.permute(0, 2, 3, 1).reshape(n, c, h, w * self.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._along_width(x)
        return self._along_width(x.transpose(-1, -2)).transpose(-1, -2)


class Exportable(nn.Module):
    """A generator whose every operation ONNX can take with open height and width."""

    def __init__(self, generator: Generator):
        super().__init__()
        self.network = copy.deepcopy(generator).eval()
        for module in self.network.modules():  # spectral norm: bake W / sigma into the weight
            if parametrize.is_parametrized(module):
                for name in list(module.parametrizations):
                    parametrize.remove_parametrizations(module, name, leave_parametrized=True)
        self.skip = BicubicUpscale(generator.scale) if generator.bicubic_skip else None
        self.network.bicubic_skip = False

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        sr = self.network(lr)
        return sr + self.skip(lr) if self.skip is not None else sr


def export_onnx(generator: Generator, out: Path) -> None:
    """Write `generator` (on the CPU, fp32) as ONNX to `out`, atomically."""
    model = Exportable(generator.cpu().float()).eval()
    example = torch.rand(1, 3, 2 * REACH + 5, 2 * REACH + 7)
    axes = {"lr": {0: "batch", 2: "height", 3: "width"}, "sr": {0: "batch", 2: "out_height", 3: "out_width"}}
    with atomic_path(out) as tmp, torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter, deliberately: the dynamo one needs onnxscript and a trace per shape class. The
        # tracer's warnings concern Python values read from weight shapes, which are the same for every input.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = io.BytesIO()
        torch.onnx.export(model, (example,), traced, input_names=["lr"], output_names=["sr"], dynamic_axes=axes,
                          opset_version=OPSET, dynamo=False)
        exported = onnx.load_from_string(traced.getvalue())
        _declare_rgb_output(exported)
        onnx.save(exported, str(tmp))


def _declare_rgb_output(exported: onnx.ModelProto) -> None:
    """Say in the file that sr has 3 channels: the exporter leaves that dimension a symbol after the bicubic skip's
    add (its reshape's shape is computed from the input's), and tools that read shapes from the file need it."""
    dims = exported.graph.output[0].type.tensor_type.shape.dim
    if len(dims) == 4:
        dims[1].dim_value = 3


def check_out(out: Path, models: list[Path]) -> None:
    """Refuse an -o that names no file, or one of the models read (which the export would replace)."""
    if not out.name or out.is_dir():
        raise SrganError(f"-o {str(out) or repr('')}: give the ONNX file's name, e.g. -o srgan.onnx")
    for model in models:
        if os.path.realpath(out) == os.path.realpath(model):
            raise SrganError(f"-o {out} is the model {model} (or a link to it); pass -o another path, "
                             f"e.g. {Path(model).with_suffix('.onnx')}")


def _why_not_written(err: OSError) -> str:
    if err.errno in (errno.ENOTDIR, errno.EEXIST):
        return "part of that path is a file, not a folder"
    return err.strerror or str(err)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="srgan-export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="a trained generator, e.g. models/srgan.pt")
    parser.add_argument("-o", "--out", type=Path, required=True, help="the ONNX file to write, e.g. srgan.onnx")
    parser.add_argument("--blend", type=Path, help="export the blend with this model (see upscale --blend)")
    parser.add_argument("--alpha", type=float, help="with --blend, the weight of the model (default 0.5)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.alpha is not None and args.blend is None:
            raise SrganError("--alpha needs --blend: the model to blend with, e.g. --blend models/srresnet.pt")
        check_out(args.out, [path for path in (args.model, args.blend) if path])
        generator = load_blend(args.model, args.blend, 0.5 if args.alpha is None else args.alpha) if args.blend \
            else load_generator(args.model)[0]
        try:
            export_onnx(generator, args.out)
        except OSError as err:
            raise SrganError(f"cannot write {args.out}: {_why_not_written(err)}; pass -o another path") from None
    except SrganError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    least = f", H and W at least {REACH}" if generator.bicubic_skip else ""
    print(f"wrote {args.out} (x{generator.scale}, input lr: float32 N x 3 x H x W in [0, 1]{least})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
