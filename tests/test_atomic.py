"""Atomic writes: nothing half-written, the permissions of a normal write, a full disk named as such."""

import errno
import os

import pytest

from srgan.atomic import atomic_path, default_mode, write_json, write_text
from srgan.errors import SrganError


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_outputs_get_the_mode_of_a_normal_write(tmp_path, umask_027):
    write_text(tmp_path / "report.md", "hello\n")
    assert (tmp_path / "report.md").stat().st_mode & 0o777 == 0o640 == default_mode()


def test_a_failure_leaves_neither_the_file_nor_a_temp_file(tmp_path):
    write_json(tmp_path / "metrics.json", {"psnr_y": 30.0})
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "metrics.json") as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert (tmp_path / "metrics.json").read_text().startswith("{")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_a_full_disk_names_the_file(tmp_path):
    with pytest.raises(SrganError, match=r"no space left on the device holding .*state\.pt"):
        with atomic_path(tmp_path / "state.pt"):
            raise OSError(errno.ENOSPC, "No space left on device")  # a full disk cannot be made here
    assert list(tmp_path.iterdir()) == []
