"""Shared fixtures: a real HTTP server on 127.0.0.1 with Range support and fault injection."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from PIL import Image

from srgan.config import parse_yaml

# This test process and every process it starts: no DVC usage reports (a process each), and one thread a process,
# since pytest-xdist runs two workers on two cores, each starting stages and benchmarks whose second thread would
# only spin (set OMP_NUM_THREADS to run a serial session on more threads).
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


@dataclass
class ServerState:
    root: Path
    base: str = ""
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    cut_after: int | None = None  # send only this many body bytes once, then close (with or without length)
    content_length: bool = True  # False: send no Content-Length, so the body ends when the connection closes
    delay: float = 0.0  # seconds to wait before answering
    ranges: bool = True  # honour Range headers
    content_type: str | None = None  # a Content-Type header to send
    sends_only: int | None = None  # send only this many body bytes every time, stating the whole length
    trickle: tuple[int, float] | None = None  # (bytes, seconds): send that many body bytes, then pause that long
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


class RangeHandler(BaseHTTPRequestHandler):
    """Serves files from state.root, with Range support and fault injection."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        state: ServerState = self.server.state  # type: ignore[attr-defined]
        state.requests.append((self.path, self.headers.get("Range")))
        if state.delay:
            state.release.wait(state.delay)
        path = state.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        requested = self.headers.get("Range")
        if requested and state.ranges:
            start = int(requested.removeprefix("bytes=").rstrip("-"))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        if state.content_type:
            self.send_header("Content-Type", state.content_type)
        if state.content_length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.close_connection = True
        self.end_headers()
        if state.cut_after is not None:
            body, state.cut_after = body[: state.cut_after], None
            self.close_connection = True
        if state.sends_only is not None:
            body = body[: state.sends_only]
            self.close_connection = True
        if state.trickle is not None:
            sent, pause = state.trickle
            self.wfile.write(body[:sent])
            self.wfile.flush()
            state.release.wait(pause)
            body = body[sent:]
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path: Path):
    root = tmp_path / "served"
    root.mkdir()
    state = ServerState(root)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    httpd.daemon_threads = True
    httpd.state = state  # type: ignore[attr-defined]
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield state
    state.release.set()
    httpd.shutdown()
    httpd.server_close()


# ----------------------------------------------------------------------------- test order

# The longest test files, longest first (seconds of test time on 2 cores, `pytest -n 2 --dist loadfile --junitxml`,
# 2026-12-01). With `--dist loadfile` a worker takes a whole file, so a long file left for last runs alone on one
# core: these go first, every other file after them in collection order (pyproject's --no-loadscope-reorder keeps
# that order; the default would put the files with the most tests first, these last). The second and third build
# no tiny run, so the other worker works while the first one builds it (35 s) instead of waiting for its lock.
LONGEST_FIRST = (
    "tests/test_pipeline.py",                      # 112, with the shared tiny run's build
    "tests/stages/test_train_gan.py",              # 30
    "tests/train/test_distributed.py",             # 8
    "tests/test_pipeline_experiments.py",          # 134
    "tests/test_pipeline_distributed.py",          # 112
    "tests/test_pipeline_degradation.py",          # 76
    "tests/test_pipeline_distributed_resume.py",   # 63
    "tests/test_benchmarks.py",                    # 60
    "tests/test_pipeline_resume.py",               # 53
)


def pytest_collection_modifyitems(config, items):
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(Path(item.path).relative_to(config.rootpath).as_posix(), len(rank)))


# ----------------------------------------------------------------------------- DVC projects

PROJECT = Path(__file__).resolve().parents[1]


def documentation() -> list[Path]:
    """The README and the pages of docs/ it links to: every command and -S value they show is checked."""
    return [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]


def fenced_blocks(page: Path) -> list[list[str]]:
    """The lines of each fenced code block of a Markdown page."""
    blocks, block = [], None
    for line in page.read_text().splitlines():
        if line.strip().startswith("```"):
            blocks, block = (blocks + [block], None) if block is not None else (blocks, [])
        elif block is not None:
            block.append(line)
    return blocks


HELD_OUT = "held_out"  # the tiny project's evaluation photos, a folder in it (new_project writes them)


def write_held_out(folder: Path) -> None:
    """scikit-image's held-out photos (astronaut, chelsea, coffee) at half their size: the tiny project evaluates
    and draws a quarter of the pixels in every evaluate and report run."""
    from srgan.data.embedded import skimage_photos

    folder.mkdir()
    for name, photo in skimage_photos("eval").items():
        Image.fromarray(photo).reduce(2).save(folder / f"{name}.png")


def tiny_params(params: dict) -> dict:
    """The project's params shrunk to run in seconds: tiny models, 32-pixel crops, a few steps, half-size
    evaluation photos."""
    params["data"].update(hr_size=32, crops_per_image=3, fetch_weights=False, validation={"source": "skimage",
                                                                                         "images": 1},
                          eval={"skimage": f"folder:{HELD_OUT}"})
    params["model"]["generator"].update(blocks=1, channels=8)
    params["model"]["discriminator"].update(channels=4, dense=8)
    params["pretrain"].update(steps=4, batch_size=4, log_every=2, checkpoint_every=2, precision="fp32",
                              validate_every=2, crop_size=16)
    params["gan"].update(steps=3, batch_size=4, log_every=1, checkpoint_every=2, precision="fp32",
                         validate_every=3, d_warmup_steps=1)
    params["unsupervised"].update(steps=3, batch_size=4, log_every=1, checkpoint_every=2, precision="fp32",
                                  validate_every=3)
    params["evaluate"].update(samples=1, precision="fp32")
    params["report"].update(dpi=72)
    return params


class DvcProject:
    """A temporary copy of the project (git repo with one commit) where the real `dvc` runs."""

    def __init__(self, root: Path):
        self.root = root

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=self.root, env=self.env(),
                                capture_output=True, text=True)
        if check and result.returncode != 0:
            raise AssertionError(f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def env(self) -> dict:
        """The environment of its dvc commands. One thread a stage: tiny networks train fastest on one, and with
        pytest-xdist's two workers on two cores, stages of two threads each spin against each other."""
        return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                "TORCH_HOME": str(self.root / ".torch"), "DVC_NO_ANALYTICS": "1", "OMP_NUM_THREADS": "1"}

    def edit_params(self, edit) -> None:
        path = self.root / "params.yaml"
        params = parse_yaml(path.read_text(), str(path))  # as the stages and DVC read it
        edit(params)
        path.write_text(yaml.safe_dump(params, sort_keys=False))  # PyYAML quotes what YAML 1.1 would misread

    @staticmethod
    def ran(result: subprocess.CompletedProcess) -> set[str]:
        return set(re.findall(r"Running stage '([^']+)'", result.stdout + result.stderr))

    def kill_during(self, stage: str, checkpoint_glob: str, *options: str) -> Path:
        """Start `dvc repro [options] stage`, kill -9 its whole process group once a checkpoint exists; the
        checkpoint."""
        run = subprocess.Popen([sys.executable, "-m", "dvc", "repro", *options, stage], cwd=self.root, env=self.env(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 180
        while not list(self.root.glob(checkpoint_glob)) and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if run.poll() is not None:
            raise AssertionError(f"dvc repro {stage} ended before its first checkpoint: nothing was interrupted:\n"
                                 + run.stdout.read().decode(errors="replace")[-3000:])
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        found = list(self.root.glob(checkpoint_glob))
        assert found, "no checkpoint appeared within the time allowed"
        return found[0]

    def commit(self, message: str = "run") -> None:
        _git(self.root, "add", "-A")
        _git(self.root, "commit", "-qm", message, "--allow-empty")

    def gan_digests(self) -> dict[str, str]:
        """sha256 of every file the GAN stage writes: the model, every curve and every validation image, and
        its metrics summary (throughput aside: a measurement, not a result)."""
        files = [self.root / "models/srgan.pt", *sorted((self.root / "reports/train_gan/plots").rglob("*.*"))]
        digests = {str(path.relative_to(self.root)): hashlib.sha256(path.read_bytes()).hexdigest() for path in files
                   if "perf" not in path.parts}
        summary = json.loads((self.root / "reports/train_gan/metrics.json").read_text())
        summary.pop("perf", None)
        return {**digests, "reports/train_gan/metrics.json without perf": json.dumps(summary, sort_keys=True)}


def queue_states(root: Path) -> dict[str, str]:
    """Name (or task id) -> status of every task in a project's experiment queue, read through DVC's own API in this
    process: a `dvc queue status` process per poll costs a second of CPU, taken from the experiments waited on."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return {task.get("name") or task["rev"][:7]: task["status"] for task in repo.experiments.celery_queue.status()}


def wait_for_queue(root: Path, timeout: float = 600) -> dict[str, str]:
    """queue_states() once no task is queued or running any more (or the timeout has passed)."""
    deadline = time.monotonic() + timeout
    states = queue_states(root)
    while any(state in ("Queued", "Running") for state in states.values()) and time.monotonic() < deadline:
        time.sleep(1)
        states = queue_states(root)
    return states


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=root, check=True,
                   capture_output=True)


def new_project(root: Path, edit=lambda params: None) -> DvcProject:
    """A fresh copy of the project at `root` (nothing run yet), with tiny params, then `edit` applied."""
    shutil.copytree(PROJECT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(PROJECT / ".dvc", root / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    for name in ("dvc.yaml", "params.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(PROJECT / name, root / name)
    write_held_out(root / HELD_OUT)
    project = DvcProject(root)
    project.edit_params(lambda params: edit(tiny_params(params)))
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "tiny project")
    return project


def copy_project(source: DvcProject, root: Path, edit=None) -> DvcProject:
    """A copy of `source` at `root`: workspace, git history, DVC cache and run-cache (outputs and their
    hashes, so `dvc repro` there reruns only what differs from `source`), without DVC's locks and temporary
    files; then `edit` applied to its params."""
    def ignore(folder: str, names: list[str]) -> list[str]:
        return ["tmp"] if Path(folder) == source.root / ".dvc" else []

    shutil.copytree(source.root, root, symlinks=True, ignore=ignore)
    project = DvcProject(root)
    if edit is not None:
        project.edit_params(edit)
    return project


def shared_folder(tmp_path_factory) -> Path:
    """A folder of this test session that every xdist worker of it sees: the parent of the workers' own
    temporary roots under xdist, the session's temporary root without it."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> DvcProject:
    """The tiny project after one `dvc repro` of the whole pipeline, committed, built once per test session: the first
    worker to ask builds it (under a file lock), every other one reuses it. Read it, never change it (nor run
    dvc commands that write in it from other test files: workers run in parallel); take `tiny_copy` or
    `copy_tiny_run` to change things. Its `first_run` is the repro's CompletedProcess."""
    from filelock import FileLock

    folder = shared_folder(tmp_path_factory) / "tiny-run"
    project = DvcProject(folder / "project")
    with FileLock(str(folder) + ".lock"):
        if not (folder / "ready.json").exists():
            shutil.rmtree(folder, ignore_errors=True)  # a build that failed half-way
            folder.mkdir()
            result = new_project(project.root).dvc("repro")
            project.commit("tiny run")  # as main carries its run: `dvc exp run --temp` then reruns only what it changes
            (folder / "ready.json").write_text(json.dumps({"args": result.args, "stdout": result.stdout,
                                                          "stderr": result.stderr}))
    ran = json.loads((folder / "ready.json").read_text())
    project.first_run = subprocess.CompletedProcess(ran["args"], 0, ran["stdout"], ran["stderr"])
    return project


@pytest.fixture(scope="module")
def copy_tiny_run(tiny_run, tmp_path_factory):
    """Factory: copy_tiny_run(edit) -> a private copy of `tiny_run` (outputs, cache and run-cache included),
    with `edit` applied to its params: `dvc repro` there runs only the stages `edit` touches."""
    return lambda edit=None: copy_project(tiny_run, tmp_path_factory.mktemp("project") / "project", edit)


@pytest.fixture
def tiny_copy(tiny_run, tmp_path) -> DvcProject:
    """A private copy of `tiny_run` for one test, which may change it at will."""
    return copy_project(tiny_run, tmp_path / "project")


def bomb_png(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A tiny valid PNG whose header claims width x height: a decompression bomb, a few bytes on disk."""
    Image.new("RGB", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (.ci/run installs it)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--force-color-profile=srgb"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium with a fresh profile, driven by Playwright."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
        yield context
        context.close()


@dataclass
class BrowserLog:
    """What a page asked for and complained about."""
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def open_page(context, url: str):
    """(page, log) of `url`, loaded, with every request and console error recorded."""
    page, log = context.new_page(), BrowserLog()
    page.on("request", lambda request: log.requests.append(request.url))
    page.on("console", lambda message: log.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: log.errors.append(str(error)))
    page.goto(url)
    page.wait_for_load_state("load")
    return page, log
