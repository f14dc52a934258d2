"""The link farm: an RFS's absolute .so links as the board resolves them, first in the linker's path."""

from __future__ import annotations

import os
from pathlib import Path

from crosspython.rfs.linkfarm import describe_farm, farm_links, make_farm
from crosspython.rfs.sysroot import inspect_rfs

MULTI = "arm-linux-gnueabihf"


def _board_copy(tmp_path: Path) -> Path:
    """What `dpkg -x` of libbz2-dev, or a copy of a board's root, looks like on the build host."""
    rfs = tmp_path / "rfs"
    (rfs / "lib" / MULTI).mkdir(parents=True)
    (rfs / "usr" / "lib" / MULTI).mkdir(parents=True)
    (rfs / "lib" / MULTI / "libbz2.so.1.0").write_bytes(b"\x7fELF the board's libbz2")
    (rfs / "usr" / "lib" / MULTI / "libbz2.so").symlink_to(f"/lib/{MULTI}/libbz2.so.1.0")  # dangles on the host
    (rfs / "usr" / "lib" / MULTI / "libz.so").symlink_to("/lib/nowhere/libz.so.1")  # dangles on the board too
    (rfs / "usr" / "lib" / MULTI / "libffi.so").symlink_to("libffi.so.8")  # relative: fine as it is
    (rfs / "usr" / "lib" / MULTI / "libffi.so.8").write_bytes(b"\x7fELF")
    return rfs


def test_only_links_the_host_cannot_follow_but_the_board_can(tmp_path: Path) -> None:
    rfs = _board_copy(tmp_path)
    links = farm_links(inspect_rfs(rfs, MULTI))
    assert links == {f"usr/lib/{MULTI}/libbz2.so": rfs.resolve() / "lib" / MULTI / "libbz2.so.1.0"}


def test_the_farm_mirrors_the_library_directories(tmp_path: Path) -> None:
    rfs = _board_copy(tmp_path)
    before = sorted(str(p) for p in rfs.rglob("*"))
    farm = tmp_path / "artifacts" / "linkfarm" / "rfs"
    dirs = make_farm(inspect_rfs(rfs, MULTI), farm)
    assert dirs == (farm / "usr" / "lib" / MULTI,)
    link = farm / "usr" / "lib" / MULTI / "libbz2.so"
    assert link.read_bytes() == b"\x7fELF the board's libbz2"  # the host's linker follows it
    assert describe_farm(dirs) == [f"{MULTI}/libbz2.so->{os.readlink(link)}"]
    assert sorted(str(p) for p in rfs.rglob("*")) == before  # the RFS is not edited
    assert make_farm(inspect_rfs(tmp_path / "empty-rfs", MULTI), farm) == ()  # an RFS with nothing to mend
