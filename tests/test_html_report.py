"""The comparison page in a real headless Chromium: the split, synchronised zoom and pan, no network, and region
metrics equal to srgan.metrics."""

from __future__ import annotations

import io
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.conftest import open_page

from srgan.errors import SrganError
from srgan.html_report import (
    TILE,
    metric_box,
    opening_boxes,
    region_box,
    region_metrics,
    report_viewer,
    sample_panels,
    table_spec,
    write_page,
)
from srgan.imageio import read_image, write_png
from srgan.metrics import psnr_y, ssim_y
from srgan.samples import ur_box

SCALE = 4
HEIGHT, WIDTH = 120, 96
METHODS = ["nearest", "bicubic", "srresnet", "srgan"]


def make_samples(folder: Path, image: str, seed: int) -> None:
    """HR noise and, per method, HR plus its own noise: every method's pixels differ from the others'."""
    rng = np.random.default_rng(seed)
    hr = rng.integers(0, 256, (HEIGHT, WIDTH, 3)).astype(np.uint8)
    write_png(folder / image / "hr.png", hr)
    write_png(folder / image / "lr.png", hr[::SCALE, ::SCALE])
    top, left, side = ur_box(HEIGHT, WIDTH)  # a UR covers the centre of HR
    write_png(folder / image / "ur_srgan.png", hr[top:top + side, left:left + side].repeat(SCALE, 0).repeat(SCALE, 1))
    for index, method in enumerate(METHODS):
        noise = rng.integers(-12 * (index + 1), 12 * (index + 1) + 1, hr.shape)
        write_png(folder / image / f"{method}.png", np.clip(hr + noise, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    """reports/index.html over two images of one set, as the report stage writes it."""
    root = tmp_path_factory.mktemp("reports")
    samples = root / "evaluate" / "tiny" / "samples"
    for seed, image in enumerate(["first", "second"]):
        make_samples(samples, image, seed)
    viewer = report_viewer("tiny", samples, ["first", "second"], METHODS, SCALE, {"srgan": "SRGAN-MSE"}, root)
    rows = [{"method": "Bicubic", "psnr_y": 25.0, "ssim_y": 0.7}, {"method": "SRGAN-MSE", "psnr_y": 27.0}]
    notes = [{"title": "tiny", "items": [["SRGAN-MSE", ": FALLBACK"]]}]
    write_page(root / "index.html", "test report </script>", SCALE, [viewer],
               [table_spec("tiny", rows, ["psnr_y", "ssim_y"])], notes, [])
    return root


@pytest.fixture(scope="module")
def served(reports):
    """The same folder served over HTTP on 127.0.0.1, where the page may read its images' pixels."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(reports)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/index.html"
    server.shutdown()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def source(reports: Path, image: str, key: str) -> np.ndarray:
    return read_image(reports / "evaluate" / "tiny" / "samples" / image / f"{key}.png")


def screen(page, selector: str) -> np.ndarray:
    """What the screen shows of a canvas, as RGB pixels (its size, whatever the rounding of its box)."""
    canvas = page.locator(selector)
    width, height = int(canvas.get_attribute("width")), int(canvas.get_attribute("height"))
    with Image.open(io.BytesIO(canvas.screenshot())) as shot:
        return np.asarray(shot.convert("RGB"))[:height, :width]


def region(page, selector: str) -> tuple[int, int, int, int]:
    return tuple(int(v) for v in page.locator(selector).get_attribute("data-region").split(","))


def wait_drawn(page):
    page.wait_for_function("() => [...document.images].every(i => i.complete) && "
                           "[...document.querySelectorAll('canvas')].every(c => c.width > 0)")


def test_region_box_is_centred_clamped_and_whole_at_zoom_one():
    assert region_box(120, 96, (120, 96), 1, (60, 48)) == (0, 0, 120, 96)
    assert region_box(120, 96, (160, 160), 4, (60, 48)) == (40, 28, 40, 40)
    assert region_box(120, 96, (160, 160), 4, (0, 200)) == (0, 56, 40, 40)


def test_metric_box_leaves_out_the_border_and_regions_too_small_for_ssim():
    assert metric_box((0, 0, 120, 96), 120, 96, 4) == (4, 4, 112, 88)
    assert metric_box((40, 28, 40, 40), 120, 96, 4) == (40, 28, 40, 40)
    assert metric_box((0, 0, 14, 14), 120, 96, 4) is None


def test_region_metrics_of_the_whole_image_are_the_protocols(reports):
    sr, hr = source(reports, "first", "srgan"), source(reports, "first", "hr")
    psnr, ssim = region_metrics(sr, hr, (0, 0, HEIGHT, WIDTH), SCALE)
    assert psnr == pytest.approx(psnr_y(sr, hr, SCALE), abs=1e-4)
    assert ssim == pytest.approx(ssim_y(sr, hr, SCALE), abs=1e-6)


def test_panels_are_lr_methods_hr_then_ur_with_slide_labels(reports):
    panels = sample_panels(reports / "evaluate/tiny/samples/first", [*METHODS, "hr"], SCALE, {"srgan": "SRGAN-MSE"})
    assert [p.key for p in panels] == ["lr", *METHODS, "hr", "ur_srgan"]
    assert [p.label for p in panels][-4:] == ["SRResNet", "SRGAN-MSE", "HR", "UR (SRGAN-MSE on HR's centre)"]
    assert [p.factor for p in panels] == [1 / SCALE, 1, 1, 1, 1, 1, SCALE]


def test_samples_without_hr_are_one_clear_error(tmp_path):
    write_png(tmp_path / "img" / "bicubic.png", np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(SrganError, match=r"sample 'img': no hr.png .*dvc repro -f evaluate@"):
        report_viewer("tiny", tmp_path, ["img"], METHODS, SCALE, {}, tmp_path)


def test_page_refers_to_the_kept_pngs_and_copies_none(reports):
    html = (reports / "index.html").read_text()
    assert '"src":"evaluate/tiny/samples/first/srgan.png"' in html
    assert html.count("</script>") == 2  # the title's "</script>" is escaped
    assert sorted(p.name for p in reports.iterdir()) == ["evaluate", "index.html"]
    known = {box for box in opening_boxes(HEIGHT, WIDTH)}
    assert (0, 0, HEIGHT, WIDTH) in known and region_box(HEIGHT, WIDTH, (TILE, TILE), 4, (60, 48)) in known


def test_from_file_no_network_request_no_console_error_and_opening_metrics_shown(browser, reports):
    page, log = open_page(browser, (reports / "index.html").as_uri())
    wait_drawn(page)
    for key in ["g", "ArrowRight", "4", "ArrowLeft", "g"]:  # grid, keyboard, back
        page.keyboard.press(key)
    wait_drawn(page)
    assert log.requests and all(url.startswith(("file://", "data:")) for url in log.requests), log.requests
    assert not log.errors, log.errors
    right = page.locator("[data-side=right]")
    assert right.get_attribute("data-psnr") is not None  # the opening region's metrics, computed by the stage
    sr, hr = source(reports, "first", "srresnet"), source(reports, "first", "hr")
    assert float(right.get_attribute("data-psnr")) == pytest.approx(psnr_y(sr, hr, SCALE), abs=0.01)
    assert "SRGAN-MSE" in page.locator("#notes").inner_text()
    page.close()


def test_dragging_the_split_changes_which_methods_pixels_show(browser, reports):
    page, _ = open_page(browser, (reports / "index.html").as_uri())
    wait_drawn(page)
    canvas = page.locator("canvas[data-role=view]")
    assert region(page, "canvas[data-role=view]") == (0, 0, HEIGHT, WIDTH)
    left = page.locator("select[data-role=left]").input_value()
    right = page.locator("select[data-role=right]").input_value()
    assert (left, right) == ("bicubic", "srgan")
    point = (30, 50)  # (x, y) on screen, left of the split at the middle
    before = screen(page, "canvas[data-role=view]")[point[1], point[0]]
    assert np.array_equal(before, source(reports, "first", left)[point[1], point[0]])
    box = canvas.bounding_box()
    handle = page.locator("[data-role=split]").bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + 10, box["y"] + 20, steps=5)
    page.mouse.up()
    assert int(canvas.get_attribute("data-split")) < point[0]
    after = screen(page, "canvas[data-role=view]")[point[1], point[0]]
    assert np.array_equal(after, source(reports, "first", right)[point[1], point[0]])
    assert not np.array_equal(before, after)
    page.keyboard.press("Shift+Digit6")  # left: the 6th panel, HR
    page.keyboard.press("Digit3")  # right: the 3rd, bicubic
    assert page.locator("select[data-role=left]").input_value() == "hr"
    assert page.locator("select[data-role=right]").input_value() == "bicubic"
    page.keyboard.press("ArrowRight")
    assert page.locator("select[data-role=image]").input_value() == "1"
    page.close()


def test_zoom_and_pan_are_the_same_on_both_sides_and_in_every_tile(browser, reports):
    page, log = open_page(browser, (reports / "index.html").as_uri())
    wait_drawn(page)
    page.locator("button[data-zoom='4']").click()
    canvas = page.locator("canvas[data-role=view]")
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 10, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + 50, box["y"] + 100, steps=4)  # drag right and down: the view moves up-left
    page.mouse.up()
    top, left, h, w = region(page, "canvas[data-role=view]")
    assert (h, w) == (HEIGHT // 4, WIDTH // 4) and (top, left) == (HEIGHT // 2 - h // 2 - 15, WIDTH // 2 - w // 2 - 10)
    shown, split = screen(page, "canvas[data-role=view]"), int(canvas.get_attribute("data-split"))
    for x, key in [(split - 9, "bicubic"), (split + 9, "srgan")]:
        for y in (3, 50, 4 * h - 3):
            assert np.array_equal(shown[y, x], source(reports, "first", key)[top + y // 4, left + x // 4]), (x, y, key)
    assert page.locator("[data-role=slider]").is_visible() and not page.locator("[data-role=grid]").is_visible()
    page.keyboard.press("g")
    wait_drawn(page)
    assert page.locator("[data-role=grid]").is_visible() and not page.locator("[data-role=slider]").is_visible()
    regions = {region(page, f"figure[data-key='{key}'] canvas") for key in ["lr", *METHODS, "hr", "ur_srgan"]}
    assert len(regions) == 1
    (top, left, _, _), = regions
    tile = page.locator("figure[data-key=nearest] canvas").bounding_box()
    page.mouse.move(tile["x"] + 20, tile["y"] + 20)
    page.mouse.down()
    page.mouse.move(tile["x"] + 20, tile["y"] + 60, steps=4)  # pan in one tile
    page.mouse.up()
    top2, left2, h2, w2 = region(page, "figure[data-key=srresnet] canvas")
    assert (top2, left2) == (top - 10, left) and (h2, w2) == (TILE // 4, TILE // 4)
    for key in METHODS:
        shown = screen(page, f"figure[data-key='{key}'] canvas")
        expected = source(reports, "first", key)[top2:top2 + h2, left2:left2 + w2].repeat(4, 0).repeat(4, 1)
        assert np.array_equal(shown, expected), key
    # the UR (HR's centre, x SCALE) is drawn where it lies in HR: at zoom 4 = SCALE it shows HR's own pixels there
    ur_top, ur_left, side = ur_box(HEIGHT, WIDTH)
    rows = slice(max(ur_top - top2, 0), min(ur_top + side - top2, h2))
    cols = slice(max(ur_left - left2, 0), min(ur_left + side - left2, w2))
    hr_view = source(reports, "first", "hr")[top2:top2 + h2, left2:left2 + w2][rows, cols]
    ur_view = screen(page, "figure[data-key=ur_srgan] canvas")
    ur_view = ur_view[rows.start * 4:rows.stop * 4, cols.start * 4:cols.stop * 4]
    assert hr_view.size and np.array_equal(ur_view, hr_view.repeat(4, 0).repeat(4, 1))
    shown = screen(page, "figure[data-key=lr] canvas")  # LR, nearest-upscaled, at the same region
    lr = source(reports, "first", "lr")
    assert np.array_equal(shown[0, 0], lr[top2 // SCALE, left2 // SCALE])
    assert not log.errors, log.errors
    page.close()


def test_served_page_computes_region_metrics_like_srgan_metrics(browser, reports, served):
    page, log = open_page(browser, served)
    wait_drawn(page)
    page.keyboard.press("ArrowRight")  # the second image
    page.keyboard.press("g")
    page.locator("button[data-zoom='2']").click()
    overview = page.locator("canvas[data-role=overview]").bounding_box()
    page.mouse.click(overview["x"] + overview["width"] * 0.3, overview["y"] + overview["height"] * 0.65)
    top, left, h, w = region(page, "figure[data-key=srgan] canvas")
    assert (h, w) == (min(HEIGHT, TILE // 2), min(WIDTH, TILE // 2))
    hr = source(reports, "second", "hr")
    inside = metric_box((top, left, h, w), HEIGHT, WIDTH, SCALE)
    assert inside != (top, left, h, w)  # this region reaches into the border, which the protocol leaves out
    y, x, hh, ww = inside
    for key in METHODS:
        caption = page.locator(f"figure[data-key='{key}'] figcaption")
        sr = source(reports, "second", key)
        expected = psnr_y(sr[y:y + hh, x:x + ww], hr[y:y + hh, x:x + ww], 0)
        assert float(caption.get_attribute("data-psnr")) == pytest.approx(expected, abs=0.01), key
        expected = ssim_y(sr[y:y + hh, x:x + ww], hr[y:y + hh, x:x + ww], 0)
        assert float(caption.get_attribute("data-ssim")) == pytest.approx(expected, abs=0.001), key
        assert "region: PSNR-Y" in caption.inner_text()
    page.keyboard.press("g")  # the slider at 1x: the whole image, the protocol's border cropped
    page.locator("button[data-zoom='1']").click()
    right = page.locator("[data-side=right]")
    sr = source(reports, "second", "srgan")
    assert float(right.get_attribute("data-psnr")) == pytest.approx(psnr_y(sr, hr, SCALE), abs=0.01)
    assert float(right.get_attribute("data-ssim")) == pytest.approx(ssim_y(sr, hr, SCALE), abs=0.001)
    assert not log.errors, log.errors
    page.close()


def test_metrics_table_sorts_by_a_clicked_column(browser, reports):
    page, _ = open_page(browser, (reports / "index.html").as_uri())
    table = page.locator("table[data-table=tiny]")
    assert table.locator("tbody tr").first.inner_text().startswith("Bicubic")
    table.locator("th", has_text="PSNR-Y").click()
    table.locator("th", has_text="PSNR-Y").click()  # descending
    assert table.locator("tbody tr").first.inner_text().startswith("SRGAN-MSE")
    assert "n/a" in table.locator("tbody tr").first.inner_text()
    page.close()
