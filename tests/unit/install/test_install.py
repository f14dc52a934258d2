"""Install: the staged product is checked, and the RFS is untouched unless the whole merge can go."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crosspython.build.cross import inspect_rfs, plan_cross
from crosspython.build.toolchain import Toolchain
from crosspython.core.errors import BuildIncomplete
from crosspython.core.layout import Layout
from crosspython.install.stage import check_stage, merge, merge_problems, plan_install, staged_entries
from crosspython.matrix import Matrix

ARM_ELF_HEADER = b"\x7fELF\x01\x01\x01" + b"\0" * 9 + b"\x02\x00" + b"\x28\x00" + b"\0" * 40


def _stage(root: Path) -> Path:
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "lib" / "python3.13" / "lib-dynload").mkdir(parents=True)
    (root / "usr" / "bin" / "python3.13").write_bytes(ARM_ELF_HEADER)
    (root / "usr" / "bin" / "python3").symlink_to("python3.13")
    (root / "usr" / "lib" / "python3.13" / "os.py").write_text("# os\n")
    for module in ("_ssl", "_hashlib", "zlib", "_ctypes", "_sqlite3", "_bz2", "_lzma"):
        name = f"{module}.cpython-313-arm-linux-gnueabihf.so"
        (root / "usr" / "lib" / "python3.13" / "lib-dynload" / name).write_bytes(ARM_ELF_HEADER)
    return root


def _plan(matrix: Matrix, tmp_path: Path):  # type: ignore[no-untyped-def]
    cell = matrix.cell(python="3.13", triplet="arm-linux-gnueabihf", variant="default")
    layout = Layout(tmp_path / "artifacts")
    cross = plan_cross(
        cell, layout=layout, source_dir=tmp_path / "src", build_python=tmp_path / "python",
        toolchain=Toolchain(prefix="arm-linux-gnueabihf", bindir=Path("/usr/bin")), toolchain_version="gcc 12",
        rfs=inspect_rfs(tmp_path / "rfs", "arm-linux-gnueabihf"), build_triplet="x86_64-pc-linux-gnu", jobs=1,
        ccache=None, host_pkg_config="pkg-config", host_path="/usr/bin", rfs_fingerprint="f",
    )  # fmt: skip
    plan = plan_install(cross, layout=layout, rfs=tmp_path / "rfs", toolchain="/usr/bin/x-gcc", toolchain_version="12")
    _stage(plan.stage)
    return plan


def test_stage_check_accepts_target_elves(matrix: Matrix, tmp_path: Path) -> None:
    plan = _plan(matrix, tmp_path)
    elves = check_stage(plan)
    assert "usr/bin/python3.13" in elves and len(elves) == 8


def test_a_host_binary_in_the_stage_is_an_error(matrix: Matrix, tmp_path: Path) -> None:
    plan = _plan(matrix, tmp_path)
    shutil.copy("/bin/true", plan.stage / "usr" / "bin" / "helper")
    with pytest.raises(BuildIncomplete) as info:
        check_stage(plan)
    assert "usr/bin/helper: X86_64/64-bit/little-endian, expected ARM/32-bit/little-endian" in info.value.message


def test_missing_required_module_in_stage(matrix: Matrix, tmp_path: Path) -> None:
    plan = _plan(matrix, tmp_path)
    next((plan.stage / "usr" / "lib" / "python3.13" / "lib-dynload").glob("_ssl.*")).unlink()
    with pytest.raises(BuildIncomplete, match="_ssl"):
        check_stage(plan)


def test_merge_copies_files_and_links(tmp_path: Path) -> None:
    stage = _stage(tmp_path / "stage")
    rfs = tmp_path / "rfs"
    (rfs / "usr" / "bin").mkdir(parents=True)
    (rfs / "usr" / "bin" / "busybox").write_text("board's own")
    (stage / ".crosspython-stamp.json").write_text("{}")
    entries = staged_entries(stage)
    assert not any(rel.startswith(".crosspython") for rel, _ in entries)  # our stamp stays out of the RFS
    assert ("usr/bin/python3", "link") in entries
    assert (
        entries.index(("usr", "dir"))
        < entries.index(("usr/bin", "dir"))
        < entries.index(("usr/bin/python3.13", "file"))
    )
    assert merge_problems(stage, rfs, entries) == []
    merge(stage, rfs, entries)
    assert (rfs / "usr" / "bin" / "python3.13").read_bytes() == ARM_ELF_HEADER
    assert (rfs / "usr" / "bin" / "python3").readlink() == Path("python3.13")
    assert (rfs / "usr" / "bin" / "busybox").read_text() == "board's own"
    assert not list(rfs.rglob("*.crosspython-tmp"))
    merge(stage, rfs, entries)  # again: replaces in place, no error


def test_conflicts_are_found_before_anything_is_written(tmp_path: Path) -> None:
    stage = _stage(tmp_path / "stage")
    rfs = tmp_path / "rfs"
    (rfs / "usr").mkdir(parents=True)
    (rfs / "usr" / "bin").write_text("a file where a directory must go")
    before = sorted(str(p) for p in rfs.rglob("*"))
    problems = merge_problems(stage, rfs, staged_entries(stage))
    assert problems == [f"{rfs / 'usr' / 'bin'} is a file, but a directory must be installed there"]
    assert sorted(str(p) for p in rfs.rglob("*")) == before


def test_install_inputs_name_what_was_built(matrix: Matrix, tmp_path: Path) -> None:
    plan = _plan(matrix, tmp_path)
    assert plan.inputs["python"] == "3.13.5"
    assert plan.inputs["triplet"] == "arm-linux-gnueabihf"
    assert plan.inputs["sha256"] == matrix.version("3.13").sha256
    assert plan.inputs["toolchain_version"] == "12"
    assert plan.make == ("make", "install", f"DESTDIR={plan.stage}")
    assert plan.manifest == tmp_path / "artifacts" / "logs" / "cp313-arm-linux-gnueabihf-default" / "manifest.json"
