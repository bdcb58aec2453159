"""Model files: weights plus a plain description of the architecture, loadable with weights_only=True."""

from __future__ import annotations

from pathlib import Path

import torch

from srgan.atomic import write_torch
from srgan.errors import SrganError
from srgan.models.generator import Generator

FORMAT = "srgan-dvc/generator/v1"
ZIP_SIGNATURE = b"PK\x03\x04"  # torch.save's files are zip archives
PICKLE_SIGNATURE = b"\x80"  # a pickle of protocol 2 or later, as torch's legacy format writes
IMAGE_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")
ARCH_TYPES = {"scale": int, "blocks": int, "channels": int, "norm": str, "bicubic_skip": bool, "progressive": bool,
              "upsample": str}


class ImageGivenAsModel(SrganError):
    """An image where a model file was expected: the usual slip is the order of a command's arguments."""

    def __init__(self, path: Path):
        super().__init__(f"{path}: an image, not a model file; give a model written by this project, such as "
                         "models/srgan.pt")
        self.path = path


def save_generator(path: Path | str, generator: Generator, meta: dict | None = None) -> None:
    """Weights, the architecture they belong to (generator.arch) and free-form metadata."""
    state = {name: value.detach().cpu().contiguous() for name, value in generator.state_dict().items()}
    write_torch(path, {"format": FORMAT, "arch": dict(generator.arch), "state_dict": state, "meta": dict(meta or {})})


def load_generator(path: Path | str, device: torch.device | str = "cpu") -> tuple[Generator, dict]:
    """(generator in eval mode, meta). Never executes code from the file."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise SrganError(f"{path}: model file not found") from None
    except IsADirectoryError:
        raise SrganError(f"{path}: a folder, not a model file; give a model such as models/srgan.pt") from None
    except Exception as err:  # noqa: BLE001 - pickle, zip and unpickler errors all mean "not a model file"
        head = _head(path)
        if head.startswith(IMAGE_SIGNATURES):
            raise ImageGivenAsModel(path) from None
        raise SrganError(f"{path}: {_not_a_model(path, head, err)}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise SrganError(f"{path}: not an srgan-dvc generator file (expected format {FORMAT})")
    arch, state = payload.get("arch"), payload.get("state_dict")
    if not isinstance(arch, dict) or not isinstance(state, dict):
        raise SrganError(f"{path}: an srgan-dvc generator file without its "
                         f"{'architecture' if not isinstance(arch, dict) else 'weights'} (damaged?); "
                         "train it again (dvc repro) or use another model file")
    if arch.keys() - ARCH_TYPES.keys():
        raise SrganError(f"{path}: unknown architecture keys {sorted(arch.keys() - ARCH_TYPES.keys())}")
    mistyped = {key: value for key, value in arch.items() if type(value) is not ARCH_TYPES[key]}
    if mistyped:
        key, value = next(iter(mistyped.items()))
        raise SrganError(f"{path}: architecture key {key} is {value!r}, not a {ARCH_TYPES[key].__name__} (damaged or "
                         "hand-edited?); use a model file written by this project")
    try:
        _check_fits(arch, state)
        generator = Generator(**arch)
        generator.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError) as err:
        raise SrganError(f"{path}: the weights do not match the described architecture ({err})") from None
    broken = [name for name, value in state.items() if value.is_floating_point() and not torch.isfinite(value).all()]
    if broken:
        raise SrganError(f"{path}: {len(broken)} weight tensors hold NaN or infinite values (first {broken[0]}): the "
                         "training that wrote it diverged; train it again or use an earlier model file")
    return generator.to(device).eval(), payload.get("meta", {})


def _head(path: Path) -> bytes:
    """The first bytes of a file, empty when it is empty or cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read(16)
    except OSError:
        return b""


def _not_a_model(path: Path, head: bytes, err: Exception) -> str:
    """Why a file that starts with `head` is no model file, in a line: torch's own message (which suggests turning
    off the safe loading) is no advice to pass on."""
    if not head:
        reason = "the file is empty"
    elif path.suffix.lower() == ".onnx":
        reason = "an ONNX file, as srgan-export writes; give the .pt model it was exported from"
    elif head.startswith((ZIP_SIGNATURE, PICKLE_SIGNATURE)) and "Weights only load failed" in str(err):
        reason = ("a pickled Python object, such as a whole network or a checkpoint saved by other code: it is not "
                  "loaded, since unpickling can run any code")
    elif head.startswith(ZIP_SIGNATURE):
        reason = f"a damaged or partly copied model file ({type(err).__name__}); copy or download it again"
    elif _is_text(head):
        reason = "a text file (an HTML error page saved in place of a download? a Git LFS pointer?)"
    else:
        reason = "no PyTorch file: it starts with neither a zip nor a pickle header"
    return f"not a model file this project can read safely ({reason}); give a model written by this project"


def _is_text(head: bytes) -> bool:
    try:
        return all(char.isprintable() or char.isspace() for char in head.decode("utf-8"))
    except UnicodeDecodeError:  # also a character cut at the head's end: rare enough to call it binary
        return False


def _check_fits(arch: dict, state: dict) -> None:
    """Raise ValueError unless the described architecture has exactly the file's tensors, checked on the meta
    device (no memory), so a file cannot make us allocate more than its own weights. Each residual block has
    tensors of its own, so the file's tensor count bounds the blocks it can claim."""
    blocks = arch.get("blocks", 0)
    if not isinstance(blocks, int) or not 0 <= blocks <= len(state):
        raise ValueError(f"{blocks!r} blocks for {len(state)} tensors")
    with torch.device("meta"):
        expected = {name: tuple(value.shape) for name, value in Generator(**arch).state_dict().items()}
    found = {name: tuple(value.shape) if isinstance(value, torch.Tensor) else None for name, value in state.items()}
    if expected != found:
        wrong = sorted(name for name in expected.keys() | found.keys() if expected.get(name) != found.get(name))
        raise ValueError(f"{len(wrong)} tensors differ, first {wrong[0]}: described {expected.get(wrong[0])}, "
                         f"found {found.get(wrong[0])}")
