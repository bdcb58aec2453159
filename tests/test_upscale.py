"""The upscale command on real files: folders, progress, clear errors, safe model loading."""

import errno
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tests.conftest import bomb_png

import srgan.upscale
from srgan.imageio import DEFAULT_MAX_PIXELS, read_image, write_png
from srgan.models.generator import Generator
from srgan.models.io import save_generator
from srgan.upscale import main, output_names


def model_file(tmp_path, scale=2):
    torch.manual_seed(0)
    path = tmp_path / "g.pt"
    save_generator(path, Generator(scale, blocks=1, channels=8, bicubic_skip=True).eval())
    return path


def test_upscales_files_and_folders(tmp_path):
    rng = np.random.default_rng(0)
    write_png(tmp_path / "in" / "a.png", rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    write_png(tmp_path / "in" / "sub" / "b.png", rng.integers(0, 256, (10, 12, 3), dtype=np.uint8))
    assert main([str(model_file(tmp_path)), str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--tile", "16",
                 "--overlap", "4"]) == 0
    assert read_image(tmp_path / "out" / "a_x2.png").shape == (40, 60, 3)
    assert read_image(tmp_path / "out" / "b_x2.png").shape == (20, 24, 3)


def test_unreadable_input_is_named_and_others_still_run(tmp_path, capsys):
    write_png(tmp_path / "good.png", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "bad.png").write_text("not an image")
    code = main([str(model_file(tmp_path)), str(tmp_path / "good.png"), str(tmp_path / "bad.png"),
                 "-o", str(tmp_path / "out")])
    assert code == 1
    assert "bad.png" in capsys.readouterr().err
    assert (tmp_path / "out" / "good_x2.png").exists()


def test_not_a_model_and_missing_input(tmp_path, capsys):
    (tmp_path / "fake.pt").write_bytes(b"\x00" * 100)
    write_png(tmp_path / "x.png", np.zeros((8, 8, 3), np.uint8))
    assert main([str(tmp_path / "fake.pt"), str(tmp_path / "x.png")]) == 1
    assert "fake.pt" in capsys.readouterr().err
    assert main([str(model_file(tmp_path)), str(tmp_path / "missing.png")]) == 1
    assert "missing.png: no such file" in capsys.readouterr().err


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_model_file_runs_no_code(tmp_path, capsys):
    marker = tmp_path / "pwned"
    torch.save({"format": "srgan-dvc/generator/v1", "arch": Payload(marker)}, tmp_path / "evil.pt",
               pickle_protocol=pickle.HIGHEST_PROTOCOL)
    write_png(tmp_path / "x.png", np.zeros((8, 8, 3), np.uint8))
    assert main([str(tmp_path / "evil.pt"), str(tmp_path / "x.png")]) == 1
    assert not marker.exists()
    assert "evil.pt" in capsys.readouterr().err


def tiny_model(tmp_path):
    path = tmp_path / "g4.pt"
    save_generator(path, Generator(scale=4, blocks=1, channels=8))
    return path


def image(path, height, width):
    write_png(path, np.random.default_rng(height * width).integers(0, 256, (height, width, 3), dtype=np.uint8))
    return path


def upscale(capsys, *args):
    """(exit status, stdout, the error lines of stderr) of one run, which must not end in a traceback."""
    code = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, [line for line in err.splitlines() if line.startswith("error:")]


def test_a_folder_s_files_that_are_no_images_are_named_and_the_rest_upscaled(tmp_path, capsys):
    """A damaged AVIF (Pillow's decoder raises RuntimeError) fails alone; notes.txt and a hidden file are left out
    with a line each; a name no encoding reads (a Latin-1 name from an old zip) is upscaled like any other."""
    folder = tmp_path / "photos"
    image(folder / "good.png", 8, 8)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "photo.avif")
    data = bytearray((folder / "photo.avif").read_bytes())
    (folder / "broken.avif").write_bytes(bytes(data[:len(data) // 2]) + b"\xbf" * (len(data) - len(data) // 2))
    (folder / "notes.txt").write_text("not an image")
    image(folder / ".hidden.png", 8, 8)
    latin1 = os.fsdecode(b"caf\xe9.png")
    image(folder / latin1, 8, 8)
    main([str(tiny_model(tmp_path)), str(folder), "-o", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert f"left out {folder / 'notes.txt'}: not an image type this reads (.txt)" in err
    assert f"left out {folder / '.hidden.png'}: a hidden file" in err
    assert f"error: {folder / 'broken.avif'}: cannot read this image" in err
    assert sorted(os.listdir(tmp_path / "out")) == sorted([os.fsdecode(b"caf\xe9_x4.png"), "good_x4.png",
                                                           "photo_x4.png"])


@pytest.mark.parametrize("batch", [0, -3])
def test_a_batch_below_one_is_refused(tmp_path, capsys, batch):
    code, _, errors = upscale(capsys, tiny_model(tmp_path), image(tmp_path / "x.png", 8, 8), "--batch", batch,
                              "-o", tmp_path / "out")
    assert code == 1 and errors == [f"error: --batch {batch} must be at least 1 tile per forward pass"]


def test_an_over_limit_input_fails_alone(tmp_path, capsys):
    good, bomb = image(tmp_path / "good.png", 8, 8), bomb_png(tmp_path / "bomb.png")
    code, out, errors = upscale(capsys, tiny_model(tmp_path), good, bomb, "-o", tmp_path / "out")
    assert code == 1
    assert len(errors) == 1
    for part in ("bomb.png", "900000000", str(DEFAULT_MAX_PIXELS), "--max-pixels"):
        assert part in errors[0]
    assert "wrote 1 image(s)" in out and "1 failed" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good_x4.png"]


def test_max_pixels_refuses_a_larger_image_and_writes_nothing(tmp_path, capsys):
    model, source, out = tiny_model(tmp_path), image(tmp_path / "x.png", 20, 30), tmp_path / "out"
    code, _, errors = upscale(capsys, model, source, "-o", out, "--max-pixels", 599)
    assert code == 1 and "600 pixels" in errors[0] and "limit of 599" in errors[0]
    assert not (out / "x_x4.png").exists()
    assert upscale(capsys, model, source, "-o", out, "--max-pixels", 0)[0] == 0  # 0: no limit
    assert read_image(out / "x_x4.png").shape == (80, 120, 3)
    code, _, errors = upscale(capsys, model, source, "-o", out, "--max-pixels", -1)
    assert code == 1 and errors == ["error: --max-pixels -1 must be a number of pixels, or 0 for no limit"]


@pytest.mark.parametrize("options, message", [
    (["--overlap", "-1"], "--overlap -1 must be at least 0"),
    (["--tile", "8", "--overlap", "2"], "--tile 8 is too small: use at least 16"),
    (["--tile", "16", "--overlap", "16"], "--overlap 16 must be at least 0 and smaller than --tile 16"),
])
def test_bad_tiling_is_refused_before_loading_anything(tmp_path, capsys, options, message):
    code, _, errors = upscale(capsys, tmp_path / "no-model.pt", tmp_path / "no-image.png", "-o", tmp_path / "out",
                              *options)
    assert code == 1
    assert len(errors) == 1 and message in errors[0]
    assert not (tmp_path / "out").exists()


def test_inputs_sharing_a_stem_get_distinct_outputs(tmp_path, capsys):
    inputs = [image(tmp_path / "photo.png", 8, 8), image(tmp_path / "photo.jpg", 10, 10),
              image(tmp_path / "other.png", 12, 12)]
    code, out, _ = upscale(capsys, tiny_model(tmp_path), *inputs, "-o", tmp_path / "out")
    assert code == 0 and "wrote 3 image(s)" in out
    sizes = {p.name: read_image(p).shape[0] for p in (tmp_path / "out").iterdir()}
    assert sizes == {"photo_png_x4.png": 32, "photo_jpg_x4.png": 40, "other_x4.png": 48}


def test_same_names_in_different_folders_get_the_folder_name(tmp_path, capsys):
    image(tmp_path / "in" / "a" / "photo.png", 8, 8)
    image(tmp_path / "in" / "b" / "photo.png", 10, 10)
    code, out, _ = upscale(capsys, tiny_model(tmp_path), tmp_path / "in", "-o", tmp_path / "out")
    assert code == 0 and "wrote 2 image(s)" in out
    sizes = {p.name: read_image(p).shape[0] for p in (tmp_path / "out").iterdir()}
    assert sizes == {"a_photo_png_x4.png": 32, "b_photo_png_x4.png": 40}


def test_output_names_are_unique_and_predictable():
    names = output_names([Path("x/a/photo.png"), Path("y/a/photo.png"), Path("solo.jpg"), Path("c/Photo.png"),
                          Path("d/photo.png")], 4)
    assert list(names.values()) == ["a_photo_png_x4.png", "a_photo_png_2_x4.png", "solo_x4.png",
                                    "c_Photo_png_x4.png", "d_photo_png_x4.png"]
    assert output_names([Path("photo.png"), Path("photo.png.png"), Path("photo.jpg")], 2) == {
        Path("photo.png"): "photo_png_x2.png", Path("photo.png.png"): "photo.png_x2.png",
        Path("photo.jpg"): "photo_jpg_x2.png"}


def test_an_input_is_never_overwritten(tmp_path, capsys):
    image(tmp_path / "photo.png", 8, 8)
    original = image(tmp_path / "photo_x4.png", 32, 32).read_bytes()
    code, _, errors = upscale(capsys, tiny_model(tmp_path), tmp_path / "photo.png", tmp_path / "photo_x4.png",
                              "-o", tmp_path)
    assert code == 1 and "photo_x4.png would overwrite that input image" in errors[0]
    assert (tmp_path / "photo_x4.png").read_bytes() == original


def test_the_input_folder_as_the_output_folder_is_refused_before_it_can_feed_a_later_run(tmp_path, capsys):
    """Written there, a first run's results would be the inputs of the next (or be refused as inputs it would
    overwrite): the same folder is refused the first time, naming a subfolder, which runs leave out."""
    image(tmp_path / "photo.png", 8, 8)
    code, _, errors = upscale(capsys, tiny_model(tmp_path), tmp_path, "-o", tmp_path)
    assert code == 1 and errors == [f"error: -o {tmp_path} is the input folder {tmp_path}: a later run would take "
                                    f"this run's results for inputs; pass -o another folder, e.g. "
                                    f"{tmp_path / 'upscaled'} (left out of {tmp_path})"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g4.pt", "photo.png"]


def test_output_that_is_a_file(tmp_path, capsys):
    model, source, taken = tiny_model(tmp_path), image(tmp_path / "x.png", 8, 8), tmp_path / "taken"
    taken.write_text("keep me")
    code, _, errors = upscale(capsys, model, source, "-o", taken)
    assert code == 1 and errors == [f"error: {taken} is a file, not a folder; pass -o a folder for the upscaled images"]
    code, _, errors = upscale(capsys, model, source, "-o", taken / "sub")
    assert code == 1 and errors[0].startswith(f"error: cannot create {taken / 'sub'}: part of that path is a file")
    assert taken.read_text() == "keep me"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="permission bits do not bind root")
def test_a_read_only_output_folder_is_an_error(tmp_path, capsys):
    model, source, locked = tiny_model(tmp_path), image(tmp_path / "x.png", 8, 8), tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        for out in (locked, locked / "sub"):
            code, _, errors = upscale(capsys, model, source, "-o", out)
            assert code == 1 and len(errors) == 1
            assert errors[0].startswith(f"error: cannot write to {out}: permission denied")
    finally:
        locked.chmod(0o755)
    assert list(locked.iterdir()) == []


def test_full_disk_is_one_clear_error(tmp_path, capsys, monkeypatch):
    def full_disk(path, image):  # the only mock: a full disk cannot be produced here
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(srgan.upscale, "write_png", full_disk)
    out = tmp_path / "out"
    code, _, errors = upscale(capsys, tiny_model(tmp_path), image(tmp_path / "x.png", 8, 8), "-o", out)
    assert code == 1
    assert errors == [f"error: no space left on {out / 'x_x4.png'}; "
                      f"free some space or pass -o a folder on another disk"]


def test_bad_device_is_one_clear_error(tmp_path, capsys):
    model, source, out = tiny_model(tmp_path), image(tmp_path / "x.png", 8, 8), tmp_path / "out"
    code, _, errors = upscale(capsys, model, source, "-o", out, "--device", "foo")
    assert code == 1 and errors == ["error: --device: expected auto, cpu, cuda or cuda:N, got 'foo'"]
    if not torch.cuda.is_available():
        code, _, errors = upscale(capsys, model, source, "-o", out, "--device", "cuda")
        assert code == 1 and len(errors) == 1 and "CUDA is not available" in errors[0]
    assert not out.exists()


def test_outputs_get_normal_permissions(tmp_path, capsys):
    old = os.umask(0o022)
    try:
        assert upscale(capsys, tiny_model(tmp_path), image(tmp_path / "x.png", 8, 8), "-o", tmp_path / "out")[0] == 0
    finally:
        os.umask(old)
    assert (tmp_path / "out" / "x_x4.png").stat().st_mode & 0o777 == 0o666 & ~0o022


def test_an_input_is_never_overwritten_through_a_linked_folder(tmp_path, capsys):
    folder = tmp_path / "photos"
    image(folder / "photo.png", 8, 8)
    original = image(folder / "photo_x4.png", 32, 32).read_bytes()
    (tmp_path / "link").symlink_to(folder, target_is_directory=True)
    code, _, errors = upscale(capsys, tiny_model(tmp_path), folder / "photo.png", folder / "photo_x4.png",
                              "-o", tmp_path / "link")
    assert code == 1 and "photo_x4.png would overwrite that input image" in errors[0]
    code, _, errors = upscale(capsys, tiny_model(tmp_path), folder, "-o", tmp_path / "link")
    assert code == 1 and "is the input folder" in errors[0]
    assert (folder / "photo_x4.png").read_bytes() == original


def test_a_second_run_leaves_out_the_first_runs_outputs_in_the_input_folder(tmp_path, capsys, monkeypatch):
    """`upscale model .` writes to ./upscaled: the next run over `.` upscales the photos again, not their results."""
    image(tmp_path / "cat.png", 8, 8)
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        code, out, errors = upscale(capsys, tiny_model(tmp_path), ".")
        assert (code, errors) == (0, []) and "wrote 1 image(s) to upscaled" in out
    assert sorted(path.name for path in (tmp_path / "upscaled").iterdir()) == ["cat_x4.png"]


def test_an_output_name_taken_by_a_folder_or_too_long_fails_alone(tmp_path, capsys):
    """Errors of one output file (a folder has its name; the name is longer than the file system allows) do not
    stop the other images, and every error is reported with the count."""
    inputs = tmp_path / "in"
    for name in ("a", "b", "c", "x" * 250):  # x...x_x4.png: 257 bytes
        image(inputs / f"{name}.png", 8, 8)
    (inputs / "unreadable.png").write_text("not an image")
    (tmp_path / "out" / "b_x4.png").mkdir(parents=True)
    code, out, errors = upscale(capsys, tiny_model(tmp_path), inputs, "-o", tmp_path / "out")
    assert code == 1 and "wrote 2 image(s)" in out and "; 3 failed" in out
    assert any("b_x4.png: a folder has that name" in error for error in errors)
    assert any("the name is too long for this file system" in error for error in errors)
    assert any("unreadable.png: cannot read this image" in error for error in errors)
    assert {path.name for path in (tmp_path / "out").iterdir()} == {"a_x4.png", "b_x4.png", "c_x4.png"}


def test_a_name_that_fits_the_file_system_is_written_though_its_temp_file_would_not_fit(tmp_path, capsys):
    source = image(tmp_path / f"{'y' * 240}.png", 8, 8)  # output: 247 bytes; its temp file once took 14 more
    code, out, errors = upscale(capsys, tiny_model(tmp_path), source, "-o", tmp_path / "out")
    assert (code, errors) == (0, []) and read_image(tmp_path / "out" / f"{'y' * 240}_x4.png").shape == (32, 32, 3)


def test_a_full_disk_stops_the_run_and_still_reports_every_error(tmp_path, capsys, monkeypatch):
    written = []

    def fills_up(path, pixels):  # the only mock: a full disk cannot be produced here
        if written:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        write_png(path, pixels)
        written.append(path)

    monkeypatch.setattr(srgan.upscale, "write_png", fills_up)
    inputs = tmp_path / "in"
    (inputs / "0_unreadable.png").parent.mkdir()
    (inputs / "0_unreadable.png").write_text("not an image")
    for name in ("a", "b", "c", "d"):
        image(inputs / f"{name}.png", 8, 8)
    code, out, errors = upscale(capsys, tiny_model(tmp_path), inputs, "-o", tmp_path / "out")
    assert code == 1 and "wrote 1 image(s)" in out and "; 2 failed" in out
    assert "0_unreadable.png" in errors[0]
    assert errors[1] == (f"error: no space left on {tmp_path / 'out' / 'b_x4.png'}; free some space or pass -o a "
                         f"folder on another disk; stopped there, 2 more image(s) not upscaled")


def test_a_small_tile_gets_a_small_overlap_by_default(tmp_path, capsys):
    code, _, errors = upscale(capsys, tiny_model(tmp_path), image(tmp_path / "x.png", 40, 36), "-o", tmp_path / "out",
                              "--tile", "16")
    assert (code, errors) == (0, []) and read_image(tmp_path / "out" / "x_x4.png").shape == (160, 144, 3)


def test_an_image_given_as_the_model_is_named_as_such(tmp_path, capsys):
    photo = image(tmp_path / "cat.png", 8, 8)
    code, _, errors = upscale(capsys, photo, image(tmp_path / "dog.png", 8, 8), "-o", tmp_path / "out")
    assert code == 1 and errors == [f"error: {photo}: an image, not a model file; give a model written by this "
                                    "project, such as models/srgan.pt; the model comes first: upscale "
                                    "models/srgan.pt cat.png -o upscaled/"]
    assert not (tmp_path / "out").exists()
    code, _, errors = upscale(capsys, tiny_model(tmp_path), photo, "-o", tmp_path / "out", "--blend", photo)
    assert code == 1 and errors == [f"error: {photo}: an image, not a model file; give a model written by this "
                                    "project, such as models/srgan.pt"], "--blend takes a model, but not first"


def test_a_model_with_nan_weights_is_refused_before_any_image(tmp_path, capsys):
    generator = Generator(scale=4, blocks=1, channels=8)
    with torch.no_grad():
        generator.tail.weight[0, 0, 0, 0] = float("nan")
    save_generator(tmp_path / "diverged.pt", generator)
    code, _, errors = upscale(capsys, tmp_path / "diverged.pt", image(tmp_path / "x.png", 8, 8), "-o", tmp_path / "o")
    assert code == 1 and len(errors) == 1 and "hold NaN or infinite values (first tail.weight)" in errors[0]
    assert "train it again or use an earlier model file" in errors[0] and not (tmp_path / "o").exists()
