"""matrix/deps.toml and the plans of source-built target libraries (crosspython/deps.py)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from crosspython.build import deps
from crosspython.build.toolchain import Toolchain
from crosspython.core.errors import ConfigError, StepFailed
from crosspython.core.layout import Layout
from crosspython.core.runner import Runner
from crosspython.core.stamps import Stamp
from crosspython.matrix import Dep, Matrix, load_deps
from tests.conftest import FIXTURE_MATRIX

SDK = Toolchain(prefix="powerpc-vendor-linux-gnu", bindir=Path("/opt/sdk/bin"))


def _ctx(matrix: Matrix, triplet: str = "powerpc-linux-gnu", ccache: str | None = "/usr/bin/ccache") -> deps.BuildSetup:
    return deps.BuildSetup(
        target=matrix.target(triplet), toolchain=SDK, build_triplet="x86_64-linux-gnu", jobs=2, ccache=ccache
    )


def _plan(matrix: Matrix, name: str, tmp_path: Path, **ctx: str | None) -> deps.DepPlan:
    dep = next(d for d in matrix.deps.libraries if d.name == name)
    return deps.plan_dep(
        dep,
        _ctx(matrix, **ctx),
        layout=Layout(tmp_path / "artifacts"),
        toolchain_version="gcc 12",
        host_path="/usr/bin",
    )


def test_targets_without_debian_libraries_build_them_from_source(shipped_matrix: Matrix) -> None:
    matrix = shipped_matrix
    by_source = {t.triplet: t.deps for t in matrix.targets.values()}
    assert by_source["powerpc-linux-gnu"] == "source" and by_source["mips-linux-gnu"] == "source"
    assert by_source["arm-linux-gnueabihf"] == "debian" and by_source["mipsel-linux-gnu"] == "debian"
    for target in matrix.targets.values():
        assert target.openssl_target, target.triplet  # `invoke deps --rfs DIR` works for every target
        assert target.libc_dev_package.startswith("libc6-dev-"), target.triplet


def test_the_six_libraries_cpython_needs_are_pinned(shipped_matrix: Matrix) -> None:
    matrix = shipped_matrix
    names = {d.name for d in matrix.deps.libraries}
    assert names == {"zlib", "bzip2", "xz", "libffi", "sqlite", "openssl"}
    for dep in matrix.deps.libraries:
        assert dep.debian is not None and dep.debian.file == dep.tarball  # the fallback serves these bytes


def test_autoconf_plan_cross_configures_into_its_own_stage(matrix: Matrix, tmp_path: Path) -> None:
    plan = _plan(matrix, "xz", tmp_path)
    assert plan.configure[0] == str(plan.source_dir / "configure")  # out of tree
    assert "--host=powerpc-linux-gnu" in plan.configure and "--build=x86_64-linux-gnu" in plan.configure
    assert "--prefix=/usr" in plan.configure
    assert "CC=/usr/bin/ccache /opt/sdk/bin/powerpc-vendor-linux-gnu-gcc" in plan.configure
    assert "--disable-xz" in plan.configure
    assert plan.install == ("make", f"DESTDIR={plan.stage_dir}", "install")
    assert plan.stage_dir.parts[-2:] == ("powerpc-linux-gnu", "xz")
    assert plan.env_dict["PKG_CONFIG_LIBDIR"] == "/nonexistent"  # never the build host's .pc files


def test_openssl_gets_the_targets_configure_target(matrix: Matrix, tmp_path: Path) -> None:
    plan = _plan(matrix, "openssl", tmp_path)
    assert plan.configure[:3] == ("perl", str(plan.source_dir / "Configure"), "linux-ppc")
    assert plan.make[-1] == "build_libs" and plan.install[-1] == "install_dev"
    mips = _plan(matrix, "openssl", tmp_path, triplet="mips-linux-gnu")
    assert mips.configure[2] == "linux-mips32"


def test_openssl_without_a_configure_target_is_a_clear_error(matrix: Matrix, tmp_path: Path) -> None:
    target = dataclasses.replace(matrix.target("powerpc-linux-gnu"), openssl_target="")
    ctx = dataclasses.replace(_ctx(matrix), target=target)
    dep = next(d for d in matrix.deps.libraries if d.name == "openssl")
    with pytest.raises(ConfigError, match="no openssl_target"):
        deps.plan_dep(dep, ctx, layout=Layout(tmp_path), toolchain_version="x", host_path="")


def test_in_tree_builds_run_in_their_copy_and_bare_makefiles_get_the_tools(matrix: Matrix, tmp_path: Path) -> None:
    zlib = _plan(matrix, "zlib", tmp_path)
    assert zlib.configure == ("./configure", "--prefix=/usr")
    assert zlib.env_dict["CHOST"] == SDK.prefix  # zlib's configure derives ar/ranlib from it
    bzip2 = _plan(matrix, "bzip2", tmp_path)
    assert bzip2.configure == () and bzip2.install == ()
    assert "CC=/usr/bin/ccache /opt/sdk/bin/powerpc-vendor-linux-gnu-gcc" in bzip2.make
    assert "libbz2.a" in bzip2.make


def test_inputs_change_with_the_toolchain_and_the_pin(matrix: Matrix, tmp_path: Path) -> None:
    dep = next(d for d in matrix.deps.libraries if d.name == "libffi")
    layout = Layout(tmp_path)
    one = deps.plan_dep(dep, _ctx(matrix), layout=layout, toolchain_version="gcc 12", host_path="")
    same = deps.plan_dep(dep, _ctx(matrix, ccache=None), layout=layout, toolchain_version="gcc 12", host_path="")
    other_cc = deps.plan_dep(dep, _ctx(matrix), layout=layout, toolchain_version="gcc 13", host_path="")
    repinned = deps.plan_dep(
        dataclasses.replace(dep, sha256="0" * 64), _ctx(matrix), layout=layout, toolchain_version="gcc 12", host_path=""
    )
    assert one.inputs["configure"][0] == "configure"
    assert one.inputs != other_cc.inputs and one.inputs != repinned.inputs
    assert one.inputs["configure"] != same.inputs["configure"]  # ccache is part of CC= (a different command)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('build = "openssl"', 'build = "cmake"', "'build' must be one of 'autoconf'"),
        ('sha256 = "6666', 'sha256 = "XYZ', "'sha256'"),
        ("in_tree = true", 'in_tree = "yes"', "'in_tree' must be true/false"),
    ],
)
def test_bad_deps_data_is_rejected(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = tmp_path / "deps.toml"
    text = (FIXTURE_MATRIX / "deps.toml").read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError, match=message):
        load_deps(path)


def test_a_library_needs_somewhere_to_come_from(tmp_path: Path) -> None:
    path = tmp_path / "deps.toml"
    path.write_text(
        '[seed]\ninclude = ["lib*.so.*"]\n[libraries.z]\nversion = "1"\ntarball = "z.tgz"\nsize = 1\n'
        f'sha256 = "{"a" * 64}"\ntop = "z"\nbuild = "make"\n'
    )
    with pytest.raises(ConfigError, match="needs an upstream_url or a \\[debian\\] source"):
        load_deps(path)


def test_the_seed_is_run_time_files_only(matrix: Matrix, tmp_path: Path) -> None:
    libdir = tmp_path / "sdk" / "lib"
    libdir.mkdir(parents=True)
    for name in ("ld.so.1", "libc.so.6", "libm.so.6", "libgcc_s.so.1", "libasan.so.8", "libc.so", "crt1.o", "libc.a"):
        (libdir / name).write_text(name)
    (libdir / "libstdc++.so.6").symlink_to("libstdc++.so.6.0.30")
    (libdir / "libstdc++.so.6.0.30").write_text("x")
    chosen = {p.name for p in deps.seed_files(libdir, matrix.deps)}
    assert chosen == {"ld.so.1", "libc.so.6", "libm.so.6", "libgcc_s.so.1", "libstdc++.so.6", "libstdc++.so.6.0.30"}


HOST = Toolchain(prefix="", bindir=Path("/usr/bin"))
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _toy_dep(tmp_path: Path, layout: Layout, *, fail: bool = False) -> Dep:
    """A library whose bare Makefile builds with the build host's tools (real make, real files)."""
    source = layout.root / "src" / "deps" / "toy-1"
    source.mkdir(parents=True)
    (source / "Makefile").write_text("libtoy.a:\n\t" + ("false" if fail else "echo toy > libtoy.a") + "\n")
    (source / "toy.h").write_text("int toy(void);\n")
    return Dep(
        name="toy",
        version="1",
        tarball="toy.tgz",
        size=1,
        sha256="a" * 64,
        top="toy-1",
        upstream_url="u",
        debian=None,
        build="make",
        in_tree=True,
        configure_args=(),
        make_args=("libtoy.a",),
        install_args=(),
        install_files=(("toy.h", "include/toy.h"), ("libtoy.a", "lib/libtoy.a")),
        env=(),
    )


def _host_ctx(matrix: Matrix) -> deps.BuildSetup:
    return deps.BuildSetup(
        target=matrix.target("powerpc-linux-gnu"), toolchain=HOST, build_triplet="x", jobs=1, ccache=None
    )


@needs_make
def test_a_built_library_is_staged_once_and_then_skipped(matrix: Matrix, tmp_path: Path, runner: Runner) -> None:
    layout = Layout(tmp_path / "artifacts")
    dep = _toy_dep(tmp_path, layout)
    plan = deps.plan_dep(dep, _host_ctx(matrix), layout=layout, toolchain_version="v", host_path="/usr/bin:/bin")
    deps.run_dep(plan, runner, layout, "deps-test")
    assert (plan.stage_dir / "usr" / "lib" / "libtoy.a").read_text() == "toy\n"
    assert (plan.stage_dir / "usr" / "include" / "toy.h").is_file()
    assert Stamp(plan.stage_dir).matches(plan.inputs)
    (plan.build_dir / "libtoy.a").unlink()  # a rerun with the same inputs must not even look
    deps.run_dep(plan, runner, layout, "deps-test")
    assert "toy: up to date" in runner.out.getvalue()  # type: ignore[attr-defined]


@needs_make
def test_a_failed_library_build_leaves_no_stage_to_trust(matrix: Matrix, tmp_path: Path, runner: Runner) -> None:
    layout = Layout(tmp_path / "artifacts")
    dep = _toy_dep(tmp_path, layout, fail=True)
    plan = deps.plan_dep(dep, _host_ctx(matrix), layout=layout, toolchain_version="v", host_path="/usr/bin:/bin")
    plan.stage_dir.mkdir(parents=True)
    Stamp(plan.stage_dir).write({"an": "older build"})
    with pytest.raises(StepFailed) as info:
        deps.run_dep(plan, runner, layout, "deps-test")
    assert info.value.command[0] == "make"
    assert Stamp(plan.stage_dir).read() is None


def _staged(layout: Layout, matrix: Matrix, tmp_path: Path, runner: Runner) -> deps.DepPlan:
    dep = _toy_dep(tmp_path, layout)
    plan = deps.plan_dep(dep, _host_ctx(matrix), layout=layout, toolchain_version="v", host_path="/usr/bin:/bin")
    deps.run_dep(plan, runner, layout, "deps-test")
    return plan


@needs_make
def test_the_default_rfs_is_seed_plus_stages_and_replaced_only_if_ours(
    matrix: Matrix, tmp_path: Path, runner: Runner
) -> None:
    layout = Layout(tmp_path / "artifacts")
    plan = _staged(layout, matrix, tmp_path, runner)
    seed = tmp_path / "libc.so.6"
    seed.write_text("libc")
    rfs = layout.default_rfs("powerpc-linux-gnu")
    deps.assemble_rfs(rfs, [seed], [plan], runner, layout, "deps-test")
    assert (rfs / "lib" / "libc.so.6").read_text() == "libc"
    assert (rfs / "usr" / "lib" / "libtoy.a").is_file()
    assert Stamp(rfs).matches(deps.assemble_inputs([seed], [plan]))
    deps.assemble_rfs(rfs, [seed], [plan], runner, layout, "deps-test")
    assert "rfs: up to date" in runner.out.getvalue()  # type: ignore[attr-defined]

    foreign = tmp_path / "board-rfs"
    (foreign / "etc").mkdir(parents=True)
    with pytest.raises(ConfigError, match="not made by crosspython"):
        deps.assemble_rfs(foreign, [seed], [plan], runner, layout, "deps-test")
    assert (foreign / "etc").is_dir() and not (foreign / "lib").exists()


@needs_make
def test_adding_libraries_to_a_users_rfs_keeps_its_own_libc(matrix: Matrix, tmp_path: Path, runner: Runner) -> None:
    layout = Layout(tmp_path / "artifacts")
    plan = _staged(layout, matrix, tmp_path, runner)
    seed = tmp_path / "libc.so.6"
    seed.write_text("the tool-chain's libc")
    board = tmp_path / "board"
    (board / "lib").mkdir(parents=True)
    (board / "lib" / "libc.so.6").write_text("the board's libc")
    deps.add_to_rfs(board, [seed], [plan], runner, "deps-test")
    assert (board / "usr" / "lib" / "libtoy.a").is_file()
    assert (board / "lib" / "libc.so.6").read_text() == "the board's libc"
    bare = tmp_path / "bare"
    bare.mkdir()
    deps.add_to_rfs(bare, [seed], [plan], runner, "deps-test")
    assert (bare / "lib" / "libc.so.6").read_text() == "the tool-chain's libc"
