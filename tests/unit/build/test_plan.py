"""Planning is pure: config.site, the cross configure line and environment, the native plan."""

from __future__ import annotations

import dataclasses
import io
import subprocess
from pathlib import Path

import pytest

from crosspython.build.cross import config_site, plan_cross, run_cross
from crosspython.build.native import plan_native, write_for_build
from crosspython.build.toolchain import Toolchain
from crosspython.core.errors import BuildIncomplete, StepFailed
from crosspython.core.layout import Layout
from crosspython.core.runner import Runner
from crosspython.core.stamps import fingerprint
from crosspython.matrix import Matrix
from crosspython.rfs.sysroot import inspect_rfs


def _rfs(tmp_path: Path, *, libc: bool) -> Path:
    rfs = tmp_path / "rfs"
    multi = rfs / "usr" / "lib" / "arm-linux-gnueabihf"
    (multi / "pkgconfig").mkdir(parents=True, exist_ok=True)
    (rfs / "usr" / "include").mkdir(parents=True, exist_ok=True)
    (multi / "libz.so").touch()
    if libc:
        (rfs / "lib" / "arm-linux-gnueabihf").mkdir(parents=True, exist_ok=True)
        (rfs / "lib" / "arm-linux-gnueabihf" / "libc.so.6").touch()
        (rfs / "usr" / "include" / "stdio.h").touch()
    return rfs


def _plan(
    matrix: Matrix,
    tmp_path: Path,
    *,
    libc: bool = True,
    variant: str = "default",
    ccache: str | None = None,
    chain: Toolchain | None = None,
    python: str = "3.13",
    **extra: object,
):  # type: ignore[no-untyped-def]
    cell = matrix.cell(python=python, triplet="arm-linux-gnueabihf", variant=variant)
    chain = chain or Toolchain(prefix="arm-linux-gnueabihf", bindir=Path("/usr/bin"))
    return plan_cross(
        cell,
        layout=Layout(tmp_path / "artifacts"),
        source_dir=tmp_path / "src" / "Python-3.13.5",
        build_python=tmp_path / "native" / "python",
        toolchain=chain,
        toolchain_version="arm-linux-gnueabihf-gcc (Debian 12.2.0-14) 12.2.0",
        rfs=inspect_rfs(_rfs(tmp_path, libc=libc), "arm-linux-gnueabihf"),
        build_triplet="x86_64-pc-linux-gnu",
        jobs=2,
        ccache=ccache,
        host_pkg_config="/usr/bin/pkg-config",
        host_path="/usr/bin:/bin",
        rfs_fingerprint="abc",
        build_python_dir=tmp_path / "native" / "for-build",
        **extra,  # type: ignore[arg-type]
    )


def test_config_site_comes_from_target_data(matrix: Matrix) -> None:
    cell = matrix.cell(python="3.13", triplet="arm-linux-gnueabihf", variant="default")
    text = config_site(cell)
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [f"{k}={v}" for k, v in cell.target.config_site]
    assert "ac_cv_file__dev_ptmx=yes" in lines
    assert "ac_cv_buggy_getaddrinfo=no" in lines


def test_cross_plan_sysroot_mode(matrix: Matrix, tmp_path: Path) -> None:
    plan = _plan(matrix, tmp_path)
    rfs = tmp_path / "rfs"
    assert plan.sysroot
    configure = list(plan.configure)
    assert configure[0] == str(tmp_path / "src" / "Python-3.13.5" / "configure")
    assert "--host=arm-linux-gnueabihf" in configure
    assert "--build=x86_64-pc-linux-gnu" in configure
    assert f"--with-build-python={tmp_path / 'native' / 'python'}" in configure
    assert "--prefix=/usr" in configure
    assert f"CC=/usr/bin/arm-linux-gnueabihf-gcc --sysroot={rfs}" in configure
    # The C++ compiler is named whether or not it is installed: the build does not change with it.
    assert f"CXX=/usr/bin/arm-linux-gnueabihf-g++ --sysroot={rfs}" in configure
    assert "AR=/usr/bin/arm-linux-gnueabihf-ar" in configure
    assert not any(a.startswith(("CPPFLAGS=", "LDFLAGS=", "CFLAGS=")) for a in configure)
    assert plan.build_dir == tmp_path / "artifacts" / "build" / "cross" / "cp313-arm-linux-gnueabihf-default"
    assert plan.make == ("make", "-j2")


def test_2_7_finds_the_native_interpreter_first_on_path(matrix: Matrix, tmp_path: Path) -> None:
    """2.7 has no --with-build-python: configure and make take python2.7 from PATH, ours first."""
    plan = _plan(matrix, tmp_path, python="2.7")
    assert not any(a.startswith("--with-build-python") for a in plan.configure)
    assert "--with-system-ffi" in plan.configure
    path = plan.env_dict["PATH"].split(":")
    assert path[:2] == [str(tmp_path / "native" / "for-build"), "/usr/bin"]  # before any other python2.7
    assert plan.env_dict["RFS"] == str(tmp_path / "rfs")  # what 2.7's patched setup.py searches
    three = _plan(matrix, tmp_path, python="3.13").env_dict["PATH"].split(":")
    assert str(tmp_path / "native" / "for-build") not in three


def test_pkg_config_never_sees_the_host(matrix: Matrix, tmp_path: Path) -> None:
    env = _plan(matrix, tmp_path).env_dict
    rfs = tmp_path / "rfs"
    assert env["PKG_CONFIG_PATH"] == ""
    assert env["PKG_CONFIG_LIBDIR"].split(":") == [
        str(rfs / "usr" / "lib" / "arm-linux-gnueabihf" / "pkgconfig"),
        str(rfs / "usr" / "lib" / "pkgconfig"),
        str(rfs / "usr" / "share" / "pkgconfig"),
    ]
    assert env["PKG_CONFIG_SYSROOT_DIR"] == str(rfs)
    assert env["PKG_CONFIG"] == "/usr/bin/pkg-config"
    assert env["CONFIG_SITE"].endswith("cp313-arm-linux-gnueabihf-default/config.site")
    assert env["PATH"].startswith("/usr/bin:")


def test_rfs_without_libc_uses_include_and_lib_flags(matrix: Matrix, tmp_path: Path) -> None:
    plan = _plan(matrix, tmp_path, libc=False)
    rfs = tmp_path / "rfs"
    assert not plan.sysroot
    configure = list(plan.configure)
    assert "CC=/usr/bin/arm-linux-gnueabihf-gcc" in configure
    assert f"CPPFLAGS=-I{rfs / 'usr' / 'include' / 'arm-linux-gnueabihf'} -I{rfs / 'usr' / 'include'}" in configure
    ldflags = next(a for a in configure if a.startswith("LDFLAGS="))
    assert f"-L{rfs / 'usr' / 'lib' / 'arm-linux-gnueabihf'}" in ldflags
    assert f"-Wl,-rpath-link,{rfs / 'usr' / 'lib' / 'arm-linux-gnueabihf'}" in ldflags


def test_variant_flags_reach_configure(matrix: Matrix, tmp_path: Path) -> None:
    plan = _plan(matrix, tmp_path, variant="sections")
    assert "CFLAGS=-ffunction-sections -fdata-sections" in plan.configure
    assert "LDFLAGS=-Wl,--gc-sections" in plan.configure
    assert plan.build_dir.name == "cp313-arm-linux-gnueabihf-sections"


def test_vendor_toolchain_with_another_prefix(matrix: Matrix, tmp_path: Path) -> None:
    chain = Toolchain(prefix="arm-poky-linux-gnueabi", bindir=Path("/opt/sdk/bin"))
    plan = _plan(matrix, tmp_path, chain=chain)
    # --host stays the cell's triplet; every tool is named explicitly with the vendor's prefix.
    assert "--host=arm-linux-gnueabihf" in plan.configure
    assert any(a.startswith("CC=/opt/sdk/bin/arm-poky-linux-gnueabi-gcc ") for a in plan.configure)
    assert "STRIP=/opt/sdk/bin/arm-poky-linux-gnueabi-strip" in plan.configure
    assert plan.env_dict["PATH"].startswith("/opt/sdk/bin:")


def test_ccache_wraps_the_compiler(matrix: Matrix, tmp_path: Path) -> None:
    plan = _plan(matrix, tmp_path, ccache="/usr/bin/ccache")
    assert any(a.startswith("CC=/usr/bin/ccache /usr/bin/arm-linux-gnueabihf-gcc") for a in plan.configure)
    assert any(a.startswith("CXX=/usr/bin/ccache /usr/bin/arm-linux-gnueabihf-g++") for a in plan.configure)
    assert plan.env_dict["CCACHE_BASEDIR"] == str(tmp_path)
    assert plan.env_dict["CCACHE_NOHASHDIR"] == "1"
    # the board's objects are compiled from their sources, whatever ccache holds (their debug info
    # would otherwise have the preprocessed text's columns)
    assert "CCACHE_NOCPP2" not in plan.env_dict


def test_inputs_change_with_what_changes_the_build(matrix: Matrix, tmp_path: Path) -> None:
    base = fingerprint(_plan(matrix, tmp_path).inputs)
    assert fingerprint(_plan(matrix, tmp_path).inputs) == base
    # Installing into the RFS creates directories; that alone must not change the plan.
    (tmp_path / "rfs" / "usr" / "lib" / "pkgconfig").mkdir(parents=True)
    (tmp_path / "rfs" / "usr" / "share" / "pkgconfig").mkdir(parents=True)
    assert fingerprint(_plan(matrix, tmp_path).inputs) == base
    assert fingerprint(_plan(matrix, tmp_path, variant="sections").inputs) != base
    other = Toolchain(prefix="arm-linux-gnueabihf", bindir=Path("/opt/x/bin"))
    assert fingerprint(_plan(matrix, tmp_path, chain=other).inputs) != base


def test_the_release_date_is_the_builds_date(matrix: Matrix, tmp_path: Path) -> None:
    """gcc's __DATE__/__TIME__ come from SOURCE_DATE_EPOCH: the release's (the fixture's 3.13 has
    2001-02-03T04:05:06Z), an input, so that a build before it is redone; a line without one builds
    with the build's time and keeps its fingerprint."""
    plan = _plan(matrix, tmp_path)
    assert plan.env_dict["SOURCE_DATE_EPOCH"] == "981173106"
    assert plan.inputs["source_date_epoch"] == 981173106
    older = _plan(matrix, tmp_path, python="3.11")
    assert "SOURCE_DATE_EPOCH" not in older.env_dict and "source_date_epoch" not in older.inputs


def test_a_make_that_did_not_end_well_is_followed_by_a_fresh_configure(matrix: Matrix, tmp_path: Path) -> None:
    """An interrupted or failed make can leave a file newer than its sources that is not whole: the next
    run does not reuse that tree. After a make that ended well (here: then a module check fails) it does."""
    plan = _plan(matrix, tmp_path)
    plan.build_dir.parent.mkdir(parents=True)
    configured = tmp_path / "configure-runs"
    configure = ("sh", "-c", f"echo run >> {configured}; touch Makefile")
    runner = Runner(log_root=tmp_path / "logs", out=io.StringIO())
    failing = dataclasses.replace(plan, configure=configure, make=("sh", "-c", "touch half-linked; exit 2"))
    with pytest.raises(StepFailed):
        run_cross(failing, runner, Layout(tmp_path / "artifacts"))
    assert (plan.build_dir / "half-linked").exists()
    ending_well = dataclasses.replace(failing, make=("true",))
    for _ in range(2):
        with pytest.raises(BuildIncomplete, match="required extension module"):
            run_cross(ending_well, runner, Layout(tmp_path / "artifacts"))
    assert configured.read_text() == "run\nrun\n"  # once more after the failed make, not after the good one
    assert not (plan.build_dir / "half-linked").exists()


def _native(matrix: Matrix, layout: Layout, tmp_path: Path, short: str):  # type: ignore[no-untyped-def]
    return plan_native(
        matrix.version(short),
        layout=layout,
        source_dir=tmp_path / "src",
        jobs=2,
        ccache=None,
        host_cc="gcc",
        cc_version="gcc 12",
    )


def test_native_check_imports_the_versions_own_modules(matrix: Matrix, tmp_path: Path) -> None:
    layout = Layout(tmp_path / "artifacts")
    plans = {short: _native(matrix, layout, tmp_path, short) for short in ("2.7", "3.13")}
    assert plans["3.13"].check[-1] == "import _posixsubprocess, _multiprocessing; print('ok')"
    assert plans["2.7"].check[-1] == "import _struct, _multiprocessing; print('ok')"  # 2.7 has no _posixsubprocess
    assert plans["2.7"].for_build_dir == layout.native_dir(matrix.version("2.7")) / "for-build"


def test_2_7_python_for_build_puts_its_own_modules_first(matrix: Matrix, tmp_path: Path) -> None:
    """for-build/python2.7 runs the native python with its .so files (not its _sysconfigdata) first."""
    plan = _native(matrix, Layout(tmp_path / "artifacts"), tmp_path, "2.7")
    lib = plan.build_dir / "build" / "lib.linux-x86_64-2.7"
    lib.mkdir(parents=True)
    (plan.build_dir / "pybuilddir.txt").write_text("build/lib.linux-x86_64-2.7\n")
    (lib / "_struct.so").write_text("elf")
    (lib / "_sysconfigdata.py").write_text("build_time_vars = {}\n")
    # A stand-in interpreter that reports what it was run as and with.
    plan.python.write_text('#!/bin/sh\necho "$0|$PYTHONPATH|$*"\n')
    plan.python.chmod(0o755)
    script = write_for_build(plan)
    assert script == plan.for_build_dir / "python2.7"
    dynload = plan.for_build_dir / "lib-dynload"
    assert [p.name for p in dynload.iterdir()] == ["_struct.so"]  # no native _sysconfigdata
    out = subprocess.run(
        [script, "-c", "x"], env={"PYTHONPATH": "/target/build/lib"}, capture_output=True, text=True, check=True
    ).stdout.strip()
    # sys.executable stays in for-build/bin (distutils takes pyconfig.h's directory from it).
    assert out == f"{plan.for_build_dir / 'bin' / 'python2.7'}|{dynload}:/target/build/lib|-c x"
    before = script.stat().st_mtime_ns
    assert write_for_build(plan) == script and script.stat().st_mtime_ns == before  # a correct set-aside is kept
    (lib / "_ctypes.so").write_text("elf")
    write_for_build(plan)
    assert sorted(p.name for p in dynload.iterdir()) == ["_ctypes.so", "_struct.so"]  # a rebuilt native is followed


def test_native_plan_is_per_version_and_shared(matrix: Matrix, tmp_path: Path) -> None:
    version = matrix.version("3.13")
    layout = Layout(tmp_path / "artifacts")
    plan = plan_native(
        version, layout=layout, source_dir=tmp_path / "src", jobs=2, ccache=None, host_cc="gcc", cc_version="gcc 12"
    )
    assert plan.build_dir == tmp_path / "artifacts" / "build" / "native" / "cp313"
    assert plan.python == plan.build_dir / "python"
    assert plan.make == ("make", "-j2", "all")  # complete: install's compileall needs its modules
    assert plan.configure == (str(tmp_path / "src" / "configure"), "-C", "CC=gcc")


def test_host_include_and_library_dirs_in_a_build_log_are_found() -> None:
    from crosspython.build.cross import host_paths_in

    log = (
        "$ make -j2 CFLAGS=-I/usr/include\n"  # our echo of the command line: not the compiler's
        "gcc -I/srv/rfs/usr/include -L/srv/rfs/usr/lib -Wl,-rpath-link,/usr/lib x.c\n"
        "gcc -I/usr/include/arm-linux-gnueabihf -I/srv/rfs/usr/include -c _ssl.c\n"
        "gcc -shared -L /usr/lib -L/usr/local/lib64 -lssl -o _ssl.so\n"
        "gcc -I/usr/include/arm-linux-gnueabihf -c _hashlib.c\n"
    )
    assert host_paths_in(log) == ["-I/usr/include/arm-linux-gnueabihf", "-L/usr/lib", "-L/usr/local/lib64"]
    assert host_paths_in("gcc -I./Include -I/srv/rfs/usr/include -c x.c\n") == []


def test_the_cross_compilers_own_dirs_and_missing_dirs_are_not_host_paths(tmp_path: Path) -> None:
    from crosspython.build.cross import host_paths_in

    log = (
        "gcc -I/usr/lib/gcc-cross/arm-linux-gnueabihf/12/include -L/usr/lib/gcc-cross/arm-linux-gnueabihf/12 "
        "-I/usr/lib/gcc-cross/arm-linux-gnueabihf/12/../../../../arm-linux-gnueabihf/include "
        "-L/usr/lib/no-such-dir-here -L/usr/lib -c x.c\n"
    )
    allowed = (Path("/usr/lib/gcc-cross/arm-linux-gnueabihf/12"), Path("/usr/arm-linux-gnueabihf"))
    assert host_paths_in(log, allowed) == ["-L/usr/lib/no-such-dir-here", "-L/usr/lib"]
    assert host_paths_in(log, allowed, exists=True) == ["-L/usr/lib"]


def test_the_link_farm_comes_first_and_is_an_input(matrix: Matrix, tmp_path: Path) -> None:
    cell = matrix.cell(python="3.13", triplet="arm-linux-gnueabihf", variant="default")
    common = dict(
        layout=Layout(tmp_path / "artifacts"),
        source_dir=tmp_path / "src",
        build_python=tmp_path / "python",
        toolchain=Toolchain(prefix="arm-linux-gnueabihf", bindir=Path("/usr/bin")),
        toolchain_version="gcc 12",
        rfs=inspect_rfs(_rfs(tmp_path, libc=True), "arm-linux-gnueabihf"),
        build_triplet="x86_64-pc-linux-gnu",
        jobs=1,
        ccache=None,
        host_pkg_config="pkg-config",
        host_path="/usr/bin",
        rfs_fingerprint="f",
    )
    plain = plan_cross(cell, **common)  # type: ignore[arg-type]
    farm = tmp_path / "farm" / "usr" / "lib" / "arm-linux-gnueabihf"
    farmed = plan_cross(cell, **common, farm_dirs=(farm,), farm=["arm-linux-gnueabihf/libbz2.so->x"])  # type: ignore[arg-type]
    assert "link_farm" not in plain.inputs  # no farm: the inputs of builds before farms stay the same
    ldflags = next(a for a in farmed.configure if a.startswith("LDFLAGS="))
    assert ldflags.startswith(f"LDFLAGS=-L{farm} -Wl,-rpath-link,{farm}")
    assert farmed.inputs["link_farm"] == ["arm-linux-gnueabihf/libbz2.so->x"]
    assert farmed.rfs_lib_dirs[0] == farm
