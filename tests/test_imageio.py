"""Tests for srgan.imageio: every kind of image a user has becomes RGB uint8; PNGs are written atomically."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from srgan.errors import SrganError
from srgan.imageio import DEFAULT_MAX_PIXELS, image_size, list_images, read_image, write_png


def _check_rgb8(image: np.ndarray, height: int, width: int) -> None:
    assert image.dtype == np.uint8
    assert image.shape == (height, width, 3)


def test_grayscale_l_is_repeated_to_rgb(tmp_path):
    gray = np.arange(12 * 10, dtype=np.uint8).reshape(12, 10)
    path = tmp_path / "gray.png"
    Image.fromarray(gray, mode="L").save(path)
    image = read_image(path)
    _check_rgb8(image, 12, 10)
    for channel in range(3):
        np.testing.assert_array_equal(image[..., channel], gray)


def test_rgb_png_reads_back_exactly(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, size=(7, 9, 3), dtype=np.uint8)
    path = tmp_path / "rgb.png"
    Image.fromarray(rgb).save(path)
    np.testing.assert_array_equal(read_image(str(path)), rgb)


def test_la_alpha_is_composited_on_white(tmp_path):
    data = np.zeros((2, 2, 2), dtype=np.uint8)
    data[..., 0] = 100
    data[0, 0, 1] = 255  # opaque
    data[0, 1, 1] = 0  # transparent
    data[1, :, 1] = 128  # half
    path = tmp_path / "la.png"
    Image.fromarray(data, mode="LA").save(path)
    image = read_image(path)
    _check_rgb8(image, 2, 2)
    np.testing.assert_array_equal(image[0, 0], [100, 100, 100])
    np.testing.assert_array_equal(image[0, 1], [255, 255, 255])
    expected = 100 * 128 / 255 + 255 * (1 - 128 / 255)  # ~177.5
    assert np.all(np.abs(image[1].astype(float) - expected) <= 1)


def test_rgba_alpha_is_composited_on_white(tmp_path):
    data = np.zeros((2, 3, 4), dtype=np.uint8)
    data[0, 0] = (10, 20, 30, 255)
    data[0, 1] = (10, 20, 30, 0)  # fully transparent: white, whatever its colour
    data[0, 2] = (0, 0, 0, 0)
    data[1, :] = (0, 0, 0, 128)  # half-transparent black: mid grey
    path = tmp_path / "rgba.png"
    Image.fromarray(data, mode="RGBA").save(path)
    image = read_image(path)
    _check_rgb8(image, 2, 3)
    np.testing.assert_array_equal(image[0, 0], [10, 20, 30])
    np.testing.assert_array_equal(image[0, 1], [255, 255, 255])
    np.testing.assert_array_equal(image[0, 2], [255, 255, 255])
    assert np.all(np.abs(image[1].astype(int) - 127) <= 1)


def _palette_image() -> Image.Image:
    image = Image.new("P", (4, 2))
    palette = [255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 8, 7] + [0] * (256 * 3 - 12)
    image.putpalette(palette)
    image.putdata([0, 1, 2, 3, 3, 2, 1, 0])
    return image


def test_a_palette_image_is_expanded_to_rgb(tmp_path):
    path = tmp_path / "palette.png"
    _palette_image().save(path)
    with Image.open(path) as check:
        assert check.mode == "P"
    image = read_image(path)
    _check_rgb8(image, 2, 4)
    np.testing.assert_array_equal(image[0], [[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 8, 7]])
    np.testing.assert_array_equal(image[1], [[9, 8, 7], [0, 0, 255], [0, 255, 0], [255, 0, 0]])


def test_palette_with_transparency_is_composited_on_white(tmp_path):
    path = tmp_path / "palette_t.png"
    _palette_image().save(path, transparency=1)  # index 1 (green) is transparent
    with Image.open(path) as check:
        assert check.mode == "P" and "transparency" in check.info
    image = read_image(path)
    np.testing.assert_array_equal(image[0], [[255, 0, 0], [255, 255, 255], [0, 0, 255], [9, 8, 7]])
    np.testing.assert_array_equal(image[1, 2], [255, 255, 255])


def test_16_bit_png_is_scaled_to_8_bits(tmp_path):
    data = np.array([[65535, 0, 257 * 100], [257, 32768, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(data).save(path)
    with Image.open(path) as check:
        assert check.mode.startswith("I")
    image = read_image(path)
    _check_rgb8(image, 2, 3)
    np.testing.assert_array_equal(image[..., 0], [[255, 0, 100], [1, 128, 255]])
    np.testing.assert_array_equal(image[..., 0], image[..., 2])


def test_a_32_bit_integer_tiff_is_scaled_and_clipped_to_8_bits(tmp_path):
    data = np.array([[0, 65535, 257 * 100, 100_000, -5]], dtype=np.int32)
    path = tmp_path / "int32.tif"
    Image.fromarray(data, mode="I").save(path)
    with Image.open(path) as check:
        assert check.mode == "I"
    image = read_image(path)
    _check_rgb8(image, 1, 5)
    np.testing.assert_array_equal(image[0, :, 1], [0, 255, 100, 255, 0])


def test_a_32_bit_integer_tiff_of_8_bit_values_reads_as_8_bits_not_black(tmp_path):
    data = np.array([[0, 17, 128, 255]], dtype=np.int32)
    Image.fromarray(data, mode="I").save(tmp_path / "int32.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "int32.tif")[0, :, 0], [0, 17, 128, 255])


def test_a_dark_16_bit_pgm_stays_dark(tmp_path):
    """Pillow reads a PGM of more than 8 bits as 32-bit integers scaled to 0..65535: 16-bit values, however dark."""
    (tmp_path / "dark.pgm").write_bytes(b"P5\n4 1\n65535\n" + np.array([0, 100, 200, 257 * 2], ">u2").tobytes())
    with Image.open(tmp_path / "dark.pgm") as check:
        assert check.mode == "I"
    np.testing.assert_array_equal(read_image(tmp_path / "dark.pgm")[0, :, 0], [0, 0, 1, 2])


def test_float_tiff_in_unit_range(tmp_path):
    """Overshoot by resampling's ringing is clipped."""
    data = np.array([[0.0, 1.0, 0.2, 1.05, -0.05]], dtype=np.float32)
    path = tmp_path / "float.tif"
    Image.fromarray(data, mode="F").save(path)
    with Image.open(path) as check:
        assert check.mode == "F"
    image = read_image(path)
    _check_rgb8(image, 1, 5)
    np.testing.assert_array_equal(image[0, :, 0], [0, 255, 51, 255, 0])


@pytest.mark.parametrize("values", [[0.0, 12.0, 255.0], [0.0, float("nan"), 1.0], [-40.0, 0.0, 1.0], [0.0, 1.9],
                                    [-0.5, 1.0]])
def test_a_float_tiff_outside_0_to_1_is_refused_naming_its_range(tmp_path, values):
    """A float image holding 0..255, or linear light up to 1.9, would otherwise come out white in part or whole
    without a word."""
    path = tmp_path / "counts.tif"
    Image.fromarray(np.array([values], dtype=np.float32), mode="F").save(path)
    with pytest.raises(SrganError, match=r"counts.tif: a floating-point image with values from .* rescale it to 0..1"):
        read_image(path)


def test_an_animation_s_first_frame_is_read_and_the_others_are_said(tmp_path, caplog):
    frames = [Image.new("RGB", (4, 4), (value, value, value)) for value in (0, 128, 255)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert read_image(path).max() == 0
    assert "anim.gif: 3 frames (an animation or a multi-page file): only the first is read" in caplog.text


def test_a_corrupt_exif_block_is_ignored_without_a_warning(tmp_path):
    """Pillow warns of a cut IFD entry without naming the file, in the middle of upscale's progress bar."""
    path = tmp_path / "photo.jpg"
    ifd_entry_cut_short = b"\x00\x01" + b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06"  # 10 of its 12 bytes
    Image.new("RGB", (4, 2)).save(path, exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08" + ifd_entry_cut_short)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(path).shape == (2, 4, 3)


def test_cmyk_jpeg_is_converted(tmp_path):
    cmyk = Image.new("CMYK", (16, 8), (0, 0, 0, 0))  # white
    cmyk.paste((0, 255, 255, 0), (0, 0, 8, 8))  # left half red
    path = tmp_path / "cmyk.jpg"
    cmyk.save(path, quality=95)
    with Image.open(path) as check:
        assert check.mode == "CMYK"
    image = read_image(path)
    _check_rgb8(image, 8, 16)
    assert np.all(np.abs(image[:, :6].astype(int) - [255, 0, 0]) <= 12)
    assert np.all(np.abs(image[:, 10:].astype(int) - [255, 255, 255]) <= 12)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_turns_the_image_as_pillow_does(tmp_path, orientation):
    rgb = np.random.default_rng(orientation).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "turned.png"
    Image.fromarray(rgb).save(path, exif=exif)
    with Image.open(path) as image:
        expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    np.testing.assert_array_equal(read_image(path), expected)
    assert image_size(path) == expected.shape[:2]


def test_a_photo_with_a_broken_exif_tag_is_read_and_turned(tmp_path):
    """A tag of the wrong type in the EXIF block (Pillow fails to write such a block back: struct.error) says
    nothing about the pixels, nor about the orientation tag beside it."""
    image = Image.new("RGB", (12, 10), (200, 100, 50))
    exif = image.getexif()
    exif[0x0112], exif[0x010F] = 6, "Canon"
    encoded = io.BytesIO()
    image.save(encoded, "JPEG", exif=exif.tobytes(), quality=95)
    data = bytearray(encoded.getvalue())
    make = data.find(b"Exif\0\0\x4d\x4d") + 6 + 10  # the first entry of a big-endian IFD: Make (0x010f), ASCII
    assert data[make:make + 2] == b"\x01\x0f"
    data[make + 1] = 0x03  # now tag 0x0103 (Compression), still typed ASCII
    path = tmp_path / "broken_exif.jpg"
    path.write_bytes(bytes(data))
    with Image.open(path) as opened, pytest.raises(struct.error):
        ImageOps.exif_transpose(opened)
    pixels = read_image(path)
    assert pixels.shape == (12, 10, 3) and image_size(path) == (12, 10)
    assert np.abs(pixels.astype(int) - (200, 100, 50)).max() < 8


def _matrix_profile(description: str, red, green, blue, gamma: float = 2.2) -> bytes:
    """A minimal ICC v2 display profile: three primaries (XYZ, D50) and one gamma for all three channels."""
    def fixed(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    text = description.encode() + b"\0"
    tags = {b"desc": b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + bytes(4 + 4 + 2 + 1 + 67),
            b"wtpt": b"XYZ \0\0\0\0" + b"".join(map(fixed, (0.9642, 1.0, 0.8249)))}
    for name, primary in ((b"rXYZ", red), (b"gXYZ", green), (b"bXYZ", blue)):
        tags[name] = b"XYZ \0\0\0\0" + b"".join(map(fixed, primary))
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags.update({b"rTRC": curve, b"gTRC": curve, b"bTRC": curve})
    table, body, offset = b"", b"", 128 + 4 + 12 * len(tags)
    for name, data in tags.items():
        data += bytes(-len(data) % 4)
        table += name + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I", size) + bytes(4) + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ " + bytes(12) + b"acsp"
              + bytes(4 + 4 + 4 + 4 + 8 + 4) + b"".join(map(fixed, (0.9642, 1.0, 0.8249))) + bytes(4 + 16 + 28))
    return header + struct.pack(">I", len(tags)) + table + body


DISPLAY_P3 = _matrix_profile("Wide gamut test profile", (0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419),
                             (0.1571, 0.0666, 0.7841))


def test_a_wide_gamut_photo_is_converted_to_srgb(tmp_path):
    """A phone's Display P3 red is redder than any sRGB value with the same numbers: read as sRGB it would come
    out dull, and every output is sRGB."""
    path = tmp_path / "p3.jpg"
    Image.new("RGB", (12, 10), (230, 40, 40)).save(path, icc_profile=DISPLAY_P3, quality=95)
    red, green, blue = read_image(path)[5, 6].astype(int)
    assert red > 245 and green < 20 and blue < 25, (red, green, blue)


def test_an_srgb_profile_and_a_broken_profile_leave_the_pixels_as_stored(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for name, profile in (("srgb.png", srgb), ("broken.png", b"not a profile at all")):
        Image.fromarray(pixels).save(tmp_path / name, icc_profile=profile)
        np.testing.assert_array_equal(read_image(tmp_path / name), pixels)


def test_exif_orientation_is_applied(tmp_path):
    rgb = np.zeros((8, 16, 3), dtype=np.uint8)
    rgb[:, :8] = (255, 0, 0)  # left half red
    rgb[:, 8:] = (0, 0, 255)  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    path = tmp_path / "rotated.jpg"
    Image.fromarray(rgb).save(path, exif=exif, quality=95)
    with Image.open(path) as check:
        assert check.size == (16, 8)
    image = read_image(path)
    _check_rgb8(image, 16, 8)  # width and height swapped
    # Turning clockwise brings the left (red) half to the top.
    assert np.all(np.abs(image[:6].astype(int) - [255, 0, 0]) <= 40)
    assert np.all(np.abs(image[10:].astype(int) - [0, 0, 255]) <= 40)


def test_truncated_png_names_the_file(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    good = tmp_path / "good.png"
    Image.fromarray(rgb).save(good)
    path = tmp_path / "truncated.png"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(SrganError, match="truncated.png"):
        read_image(path)


def test_text_file_named_png_names_the_file(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n")
    with pytest.raises(SrganError, match="notes.png") as info:
        read_image(path)
    assert "cannot read" in str(info.value)


def test_reading_a_missing_file_says_it_was_not_found(tmp_path):
    with pytest.raises(SrganError, match="missing.png.*not found"):
        read_image(tmp_path / "missing.png")


def test_write_png_round_trips_and_leaves_no_temp_file(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, size=(13, 11, 3), dtype=np.uint8)
    out = tmp_path / "sub" / "out.png"
    write_png(out, rgb)
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.png"]
    with Image.open(out) as check:
        assert check.format == "PNG"
    np.testing.assert_array_equal(read_image(out), rgb)
    # Overwriting replaces the content, still without leftovers.
    write_png(out, rgb[::-1].copy())
    np.testing.assert_array_equal(read_image(out), rgb[::-1])
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.png"]


def test_write_png_failure_leaves_nothing(tmp_path):
    with pytest.raises(Exception):
        write_png(tmp_path / "bad.png", np.zeros((4, 4, 7), dtype=np.uint8))  # no such PNG mode
    assert list(tmp_path.iterdir()) == []


def test_list_images_recursive_sorted_and_filtered(tmp_path):
    tiny = Image.new("RGB", (2, 2))
    for rel in ["b.png", "a.jpg", "sub/c.PNG", "sub/deeper/d.webp", "z.tif"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        tiny.save(tmp_path / rel, format="PNG")
    (tmp_path / "readme.txt").write_text("x")
    (tmp_path / "sub" / "data.npy").write_bytes(b"x")
    (tmp_path / "folder.png").mkdir()  # a directory with an image suffix is not an image
    found = list_images(tmp_path)
    assert found == sorted(found)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a.jpg", "b.png", "sub/c.PNG", "sub/deeper/d.webp", "z.tif"]


def test_list_images_leaves_out_hidden_things_and_says_what_it_left_out(tmp_path):
    """A phone's or a Mac's folder: .jfif and .avif photos are taken; thumbnails under .thumbnails, macOS's
    ._photo.jpg and __MACOSX are no photos of the set; a .heic and a link to a folder are named, not lost unseen."""
    tiny = Image.new("RGB", (2, 2))
    for rel in ["a.jfif", "b.avif", "c.pbm", ".thumbnails/a.jpg", "__MACOSX/x.png", "._a.jpg", "elsewhere/d.png"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        tiny.save(tmp_path / rel, format="PNG")
    (tmp_path / "e.heic").write_bytes(b"x")
    (tmp_path / ".DS_Store").write_bytes(b"x")
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (photos / "gone.png").symlink_to(tmp_path / "missing.png")
    left_out = {}
    assert [p.name for p in list_images(tmp_path, left_out)] == ["a.jfif", "b.avif", "c.pbm", "d.png"]
    assert {Path(path).relative_to(tmp_path).as_posix(): why.split(",")[0].split(";")[0]
            for path, why in left_out.items()} == {
        ".thumbnails": "a hidden or system folder", "__MACOSX": "a hidden or system folder",
        "._a.jpg": "a hidden file", "e.heic": "not an image type this reads (.heic)",
        "photos/linked": "a link to a folder", "photos/gone.png": "a broken link"}


def test_listing_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(SrganError, match="nowhere"):
        list_images(tmp_path / "nowhere")
    afile = tmp_path / "file.png"
    afile.write_bytes(b"")
    with pytest.raises(SrganError):
        list_images(afile)


def test_an_empty_folder_lists_no_images(tmp_path):
    assert list_images(tmp_path) == []


def test_read_image_accepts_path_and_str(tmp_path: Path):
    path = tmp_path / "x.png"
    Image.new("RGB", (3, 2), (1, 2, 3)).save(path)
    np.testing.assert_array_equal(read_image(path), read_image(str(path)))


def write_bomb_png(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A tiny valid PNG whose header claims width x height: a decompression bomb, a few bytes on disk."""
    Image.new("RGB", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def test_default_limit_is_pillows_error_threshold():
    assert DEFAULT_MAX_PIXELS == 2 * 89478485


def test_decompression_bomb_is_a_clear_error_naming_file_size_limit_and_fix(tmp_path):
    path = write_bomb_png(tmp_path / "bomb.png")
    with pytest.raises(SrganError) as info:
        read_image(path)
    message = str(info.value)
    for part in ("bomb.png", "900000000", str(DEFAULT_MAX_PIXELS), "data.max_pixels", "--max-pixels"):
        assert part in message


def test_pixel_limit_is_checked_before_decoding(tmp_path):
    path = tmp_path / "small.png"
    Image.new("RGB", (10, 10)).save(path)
    assert read_image(path, max_pixels=100).shape == (10, 10, 3)
    with pytest.raises(SrganError, match="small.png.*100 pixels.*limit of 99"):
        read_image(path, max_pixels=99)
    for no_limit in (0, None):
        assert read_image(path, max_pixels=no_limit).shape == (10, 10, 3)


def test_image_size_reads_height_and_width_from_the_header(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (10, 12)).save(path)
    assert image_size(path) == (12, 10) == read_image(path).shape[:2]
    assert image_size(str(path)) == (12, 10)


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_image_size_applies_exif_rotation_like_read_image(tmp_path, suffix):
    exif = Image.Exif()
    exif[0x0112] = 6  # turned 90 degrees: width and height swap
    path = tmp_path / f"rotated{suffix}"
    Image.new("RGB", (16, 8)).save(path, exif=exif)
    assert image_size(path) == (16, 8) == read_image(path).shape[:2]


def test_image_size_refuses_a_bomb_without_decoding_it(tmp_path):
    path = write_bomb_png(tmp_path / "bomb.png")
    with pytest.raises(SrganError, match="bomb.png.*900000000 pixels"):
        image_size(path)
    assert image_size(path, max_pixels=0) == (30000, 30000)  # no limit: still only the header is read
    assert image_size(write_bomb_png(tmp_path / "tall.png", 3, 5), max_pixels=15) == (5, 3)


def test_image_size_of_unreadable_and_missing_files(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(SrganError, match="notes.png.*cannot read"):
        image_size(tmp_path / "notes.png")
    with pytest.raises(SrganError, match="missing.png.*not found"):
        image_size(tmp_path / "missing.png")
