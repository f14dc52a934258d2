"""Nothing escapes the RFS: links are followed as the board follows them, writes never leave it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from crosspython.rfs.confine import RfsEscape, RfsView, inside, resolve
from crosspython.rfs.merge import merge, merge_problems, staged_entries
from tests.unit.trees import fake_stage


def _state(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "link " + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


def _host(tmp_path: Path) -> Path:
    """A directory outside the RFS standing in for the build host's own /usr/lib."""
    host = tmp_path / "host-usr-lib"
    host.mkdir()
    (host / "libc.so.6").write_text("the build host's libc")
    return host


def test_absolute_links_are_the_boards(tmp_path: Path) -> None:
    rfs = tmp_path / "rfs"
    (rfs / "lib").mkdir(parents=True)
    (rfs / "usr").mkdir()
    (rfs / "usr" / "lib").symlink_to("/lib")  # on the board: /usr/lib is /lib
    assert resolve(rfs, "usr/lib/libz.so.1") == rfs.resolve() / "lib" / "libz.so.1"
    (rfs / "lib" / "libz.so").symlink_to("/lib/libz.so.1")
    assert resolve(rfs, "lib/libz.so") == rfs.resolve() / "lib" / "libz.so.1"
    assert inside(rfs, "lib/libz.so") == rfs.resolve() / "lib" / "libz.so"  # the link itself
    assert RfsView(rfs).inside("usr/lib/x") == rfs.resolve() / "lib" / "x"


def test_a_link_that_climbs_out_is_refused(tmp_path: Path) -> None:
    rfs = tmp_path / "rfs"
    (rfs / "usr").mkdir(parents=True)
    (rfs / "usr" / "lib").symlink_to("../../outside")
    with pytest.raises(RfsEscape, match="climbs above its root"):
        resolve(rfs, "usr/lib/python3.13/os.pyc")
    (rfs / "loop").symlink_to("loop")
    with pytest.raises(RfsEscape, match="too many levels"):
        resolve(rfs, "loop/x")


def test_an_install_through_an_absolute_link_stays_in_the_rfs(tmp_path: Path) -> None:
    """An RFS whose usr/lib is `-> /<the host's dir>`: on the board that is the RFS's own
    /<dir>. Where the RFS has none the install is refused; where it has one, it lands there.
    The host's directory is untouched either way."""
    host = _host(tmp_path)
    before = _state(host)
    rfs = tmp_path / "rfs"
    (rfs / "usr").mkdir(parents=True)
    (rfs / "usr" / "lib").symlink_to(str(host))  # absolute, as the board means it
    stage = fake_stage(tmp_path / "stage")
    entries = staged_entries(stage)
    problems = merge_problems(stage, rfs, entries)
    assert problems and "the RFS has no" in problems[0]
    assert _state(host) == before
    reroot = rfs.resolve() / str(host).lstrip("/")
    reroot.mkdir(parents=True)  # the board's own directory of that name
    assert merge_problems(stage, rfs, entries) == []
    merge(stage, rfs, entries)
    assert _state(host) == before
    assert (reroot / "python3.13" / "os.py").read_text() == "# os\n"  # where the board's /usr/lib leads
    assert (rfs / "usr" / "bin" / "python3.13").is_file()


def test_an_install_through_a_climbing_link_writes_nothing(tmp_path: Path) -> None:
    host = _host(tmp_path)
    rfs = tmp_path / "rfs"
    (rfs / "usr").mkdir(parents=True)
    (rfs / "usr" / "lib").symlink_to(os.path.relpath(host, rfs / "usr"))  # ../../host-usr-lib
    before_host, before_rfs = _state(host), _state(rfs)
    stage = fake_stage(tmp_path / "stage")
    problems = merge_problems(stage, rfs, staged_entries(stage))
    assert problems and all("climbs above its root" in p for p in problems)
    assert _state(host) == before_host and _state(rfs) == before_rfs


def test_an_installed_link_replaces_a_link_never_its_target(tmp_path: Path) -> None:
    host = _host(tmp_path)
    rfs = tmp_path / "rfs"
    (rfs / "usr" / "bin").mkdir(parents=True)
    (rfs / "usr" / "bin" / "python3").symlink_to(str(host / "libc.so.6"))  # someone's link to a host file
    stage = fake_stage(tmp_path / "stage")
    merge(stage, rfs, staged_entries(stage))
    assert os.readlink(rfs / "usr" / "bin" / "python3") == "python3.13"
    assert (host / "libc.so.6").read_text() == "the build host's libc"
