"""Escape tests with a real step: `invoke deps --rfs DIR` adds the source-built powerpc libraries to
a board's RFS whose usr/lib leads out of it. A directory outside stands in for the build host's
own /usr/lib: it must be untouched, as the RFS when the step refuses.

Reuses the powerpc libraries test_big_endian builds (their stages are up to date: nothing is rebuilt).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.faults.test_bad_input import tree_state
from tests.integration.test_cross_build import ARTIFACTS, invoke

pytestmark = pytest.mark.integration


def _host(tmp_path: Path) -> Path:
    host = tmp_path / "host" / "usr" / "lib"
    host.mkdir(parents=True)
    (host / "libz.so.1").write_text("the build host's own libz\n")
    return host


def _rfs(tmp_path: Path) -> Path:
    rfs = ARTIFACTS / "test" / "escape-rootfs"  # under artifacts/: the tests own it, outside tmp's cleanup
    if rfs.exists():
        shutil.rmtree(rfs)
    (rfs / "usr").mkdir(parents=True)
    (rfs / "etc").mkdir()
    (rfs / "etc" / "hostname").write_text("board\n")
    return rfs


def test_an_absolute_link_to_the_host_is_the_boards_own_path(tmp_path: Path) -> None:
    host = _host(tmp_path)
    rfs = _rfs(tmp_path)
    (rfs / "usr" / "lib").symlink_to(str(host))  # absolute: on the board, that is the RFS's own path
    before_host, before_rfs = tree_state(host.parent.parent), tree_state(rfs)
    done = invoke("deps", "--triplet", "powerpc-linux-gnu", "--rfs", str(rfs))
    assert done.returncode == 2, done.stderr
    assert "the RFS has no" in done.stderr and "Traceback" not in done.stderr
    assert tree_state(host.parent.parent) == before_host and tree_state(rfs) == before_rfs


def test_a_link_climbing_out_of_the_rfs_is_refused(tmp_path: Path) -> None:
    host = _host(tmp_path)
    rfs = _rfs(tmp_path)
    (rfs / "usr" / "lib").symlink_to(os.path.relpath(host, rfs / "usr"))  # ../../../.../host/usr/lib
    before_host, before_rfs = tree_state(host.parent.parent), tree_state(rfs)
    done = invoke("deps", "--triplet", "powerpc-linux-gnu", "--rfs", str(rfs))
    assert done.returncode == 2, done.stderr
    assert "climbs above its root" in done.stderr and "Traceback" not in done.stderr
    assert tree_state(host.parent.parent) == before_host and tree_state(rfs) == before_rfs
