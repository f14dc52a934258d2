"""Target libraries cross-built from pinned sources, and an RFS assembled from them.

For targets whose libraries Debian does not ship (32-bit powerpc, big-endian mips) the default
RFS is the tool-chain's own C run-time (the "seed": ld.so, libc.so.6, libgcc_s, ...) plus zlib,
bzip2, xz, libffi, sqlite and OpenSSL built here (matrix/deps.toml). Each library is installed
into a stage of its own, stamped with its inputs; the RFS is assembled from the seed and the
stages in a temporary directory that is renamed into place when complete.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from ..core.errors import ConfigError, ToolMissing
from ..core.files import remove_tree
from ..core.layout import Layout
from ..core.runner import Runner
from ..core.stamps import Stamp, cached_step, fingerprint
from ..matrix import Dep, DepBuild, DepsSpec, Target
from ..rfs.confine import resolve
from ..rfs.merge import merge, merge_problems, staged_entries
from ..rfs.sysroot import libc_runtime
from .native import ccache_env
from .toolchain import Toolchain

PREFIX = "/usr"


@dataclass(frozen=True, kw_only=True)
class DepPlan:
    """Everything one library's build runs (computed without running anything)."""

    dep: Dep
    source_dir: Path
    build_dir: Path
    stage_dir: Path
    configure: tuple[str, ...]  # empty: the build system has no configure step
    make: tuple[str, ...]
    install: tuple[str, ...]  # empty: files are copied (install_files)
    env: tuple[tuple[str, str], ...]
    inputs: dict[str, Any]

    @property
    def env_dict(self) -> dict[str, str]:
        return dict(self.env)


@dataclass(frozen=True, kw_only=True)
class BuildSetup:
    """The target, its tool-chain and the build host, as every library's plan needs them."""

    target: Target
    toolchain: Toolchain
    build_triplet: str
    jobs: int
    ccache: str | None

    @property
    def cc(self) -> str:
        gcc = str(self.toolchain.tool("gcc"))
        return f"{self.ccache} {gcc}" if self.ccache else gcc

    @property
    def tools(self) -> list[str]:
        return [f"CC={self.cc}", f"AR={self.toolchain.tool('ar')}", f"RANLIB={self.toolchain.tool('ranlib')}"]


def _autoconf(dep: Dep, ctx: BuildSetup, source: Path) -> tuple[str, ...]:
    return (
        str(source / "configure"),
        f"--host={ctx.target.triplet}",
        f"--build={ctx.build_triplet}",
        f"--prefix={PREFIX}",
        *ctx.tools,
        *dep.configure_args,
    )


def _zlib(dep: Dep, ctx: BuildSetup, source: Path) -> tuple[str, ...]:
    # zlib's own configure script: the tools come from the environment (see _env).
    return ("./configure", f"--prefix={PREFIX}", *dep.configure_args)


def _make_only(dep: Dep, ctx: BuildSetup, source: Path) -> tuple[str, ...]:
    return ()


def _openssl(dep: Dep, ctx: BuildSetup, source: Path) -> tuple[str, ...]:
    if not ctx.target.openssl_target:
        raise ConfigError(
            f"{ctx.target.triplet}: no openssl_target in matrix/targets.toml",
            hint="set it to OpenSSL's Configure target for this CPU (e.g. linux-ppc, linux-mips32)",
        )
    return (
        "perl",
        str(source / "Configure"),
        ctx.target.openssl_target,
        f"--prefix={PREFIX}",
        *dep.configure_args,
        *ctx.tools,
    )


@dataclass(frozen=True)
class Builder:
    """How one kind of build system is driven: its configure command, and where make gets the tools."""

    configure: Callable[[Dep, BuildSetup, Path], tuple[str, ...]]
    tools_on_make_line: bool = False  # a bare Makefile that sets CC=gcc itself: override on the command line


def builder_for(kind: DepBuild) -> Builder:
    """How a `build` kind of matrix/deps.toml is driven (mypy checks that every kind is handled)."""
    match kind:
        case "autoconf":
            return Builder(_autoconf)
        case "zlib":
            return Builder(_zlib)
        case "make":
            return Builder(_make_only, tools_on_make_line=True)
        case "openssl":
            return Builder(_openssl)
        case _:
            return _unhandled(kind)


def _unhandled(kind: NoReturn) -> NoReturn:
    raise AssertionError(f"no builder for {kind!r}")


def _env(dep: Dep, ctx: BuildSetup, host_path: str, project_root: Path) -> dict[str, str]:
    env = {
        "PATH": f"{ctx.toolchain.bindir}:{host_path}",
        # zlib's configure and bzip2's Makefile read the tools from here.
        "CC": ctx.cc,
        "AR": str(ctx.toolchain.tool("ar")),
        "RANLIB": str(ctx.toolchain.tool("ranlib")),
        "CHOST": ctx.toolchain.prefix,
        # Nothing here may find the build host's libraries through pkg-config.
        "PKG_CONFIG_PATH": "",
        "PKG_CONFIG_LIBDIR": "/nonexistent",
        **ccache_env(ctx.ccache, project_root),
    }
    env.update(dict(dep.env))
    return env


def plan_dep(dep: Dep, ctx: BuildSetup, *, layout: Layout, toolchain_version: str, host_path: str) -> DepPlan:
    """The plan of one library for one target (pure)."""
    source_dir = layout.dep_sources / dep.top
    build_dir = layout.dep_build_dir(ctx.target.triplet, dep.name)
    stage_dir = layout.dep_stage_dir(ctx.target.triplet, dep.name)
    # An in-tree build runs in a copy of the source: configure then finds the sources in ".".
    builder = builder_for(dep.build)
    configure = builder.configure(dep, ctx, build_dir if dep.in_tree else source_dir)
    make_tools = ctx.tools if builder.tools_on_make_line else []
    make = ("make", f"-j{ctx.jobs}", *make_tools, *dep.make_args)
    install: tuple[str, ...] = ()
    if not dep.install_files:
        install = ("make", f"DESTDIR={stage_dir}", *(dep.install_args or ("install",)))
    env = _env(dep, ctx, host_path, layout.root.parent)
    inputs = {
        "library": dep.name,
        "sha256": dep.sha256,
        "target": ctx.target.triplet,
        "toolchain": toolchain_version,
        "toolchain_prefix": ctx.toolchain.prefix,
        "configure": [Path(configure[0]).name, *configure[1:]] if configure else [],
        "make": list(make[2:]),
        "install": list(install[2:]),
        "install_files": list(dep.install_files),
        "env": sorted(dep.env),
    }
    return DepPlan(
        dep=dep,
        source_dir=source_dir,
        build_dir=build_dir,
        stage_dir=stage_dir,
        configure=configure,
        make=make,
        install=install,
        env=tuple(sorted(env.items())),
        inputs=inputs,
    )


def run_dep(plan: DepPlan, runner: Runner, layout: Layout, scope: str) -> None:
    """Build and stage one library unless its stage already holds these inputs."""

    def build() -> None:
        remove_tree(plan.stage_dir)
        remove_tree(plan.build_dir)
        if plan.dep.in_tree:
            shutil.copytree(plan.source_dir, plan.build_dir, symlinks=True)
        else:
            plan.build_dir.mkdir(parents=True)
        env = plan.env_dict
        with runner.step(scope, plan.dep.name) as step:
            if plan.configure:
                step.run(plan.configure, cwd=plan.build_dir, env=env, hint=f"see the logs in {plan.build_dir}")
            step.run(plan.make, cwd=plan.build_dir, env=env)
            if plan.install:
                step.run(plan.install, cwd=plan.build_dir, env=env)
            for src, dest in plan.dep.install_files:
                target = plan.stage_dir / PREFIX.lstrip("/") / dest
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(plan.build_dir / src, target)
            removed = tidy_stage(plan.stage_dir)
            step.note(f"staged in {plan.stage_dir}" + (f" ({removed} libtool .la files removed)" if removed else ""))

    cached_step(
        Stamp(plan.stage_dir),
        plan.inputs,
        build,
        lock=layout.lock(f"deps-{scope}-{plan.dep.name}"),
        holder=f"the {plan.dep.name} build for {scope}",
        skip=lambda why: runner.skip(scope, plan.dep.name, why),
        reason=f"{plan.stage_dir} built from the same inputs",
    )


def tidy_stage(stage: Path) -> int:
    """Remove libtool .la files: they name /usr/lib paths that, when linking, are the build host's."""
    removed = 0
    for la in stage.rglob("*.la"):
        la.unlink()
        removed += 1
    return removed


def libc_dir(toolchain: Toolchain, target: Target) -> Path:
    """The directory of the tool-chain's libc.so.6 (its run-time C library), checked usable for linking."""
    libc = toolchain.print_file_name("libc.so.6")
    if libc is None:
        raise ToolMissing(
            f"the C library of {toolchain.prefix}-gcc (libc.so.6)",
            target.libc_dev_package or None,
            extra="a vendor tool-chain must bring its libc (its sysroot's lib/)",
        )
    if toolchain.print_file_name("crt1.o") is None:
        raise ToolMissing(
            f"the C start files of {toolchain.prefix}-gcc (crt1.o)",
            target.libc_dev_package or None,
            extra="the tool-chain cannot link programs without its libc's development files",
        )
    return libc.resolve().parent


def seed_files(libdir: Path, spec: DepsSpec) -> list[Path]:
    """The run-time files of the tool-chain's libc directory that go into <RFS>/lib."""
    chosen = []
    for path in sorted(libdir.iterdir()):
        name = path.name
        if path.is_dir() and not path.is_symlink():
            continue
        if any(fnmatch.fnmatchcase(name, p) for p in spec.seed_include) and not any(
            fnmatch.fnmatchcase(name, p) for p in spec.seed_exclude
        ):
            chosen.append(path)
    return chosen


def assemble_inputs(seed: list[Path], plans: list[DepPlan]) -> dict[str, Any]:
    return {
        "seed": [f"{p.name}:{p.stat().st_size}" for p in seed if not p.is_symlink()],
        "libraries": {p.dep.name: fingerprint(p.inputs) for p in plans},
        "source": "crosspython deps",
    }


def _copy_entry(src: Path, dest: Path) -> None:
    if src.is_symlink():
        dest.symlink_to(os.readlink(src))
    else:
        shutil.copy2(src, dest)


def assemble_rfs(
    dest: Path, seed: list[Path], plans: list[DepPlan], runner: Runner, layout: Layout, scope: str
) -> Path:
    """The default RFS: seed in lib/, each library's stage on top; replaced only when complete."""
    inputs = assemble_inputs(seed, plans)

    def assemble() -> None:
        with runner.step(scope, "rfs") as step:
            if dest.exists() and Stamp(dest).read() is None:
                raise ConfigError(f"{dest} exists and was not made by crosspython; not replacing it")
            tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
            remove_tree(tmp)
            try:
                (tmp / "lib").mkdir(parents=True)
                for path in seed:
                    _copy_entry(path, tmp / "lib" / path.name)
                for plan in plans:
                    shutil.copytree(plan.stage_dir, tmp, symlinks=True, dirs_exist_ok=True)
                Stamp(tmp).write(inputs)  # each stage's own stamp was copied too; this one wins
                for plan in plans:
                    step.note(f"{plan.dep.name} {plan.dep.version}")
                step.note(f"{len(seed)} run-time files of the tool-chain's libc in lib/")
                remove_tree(dest)
                os.replace(tmp, dest)
            finally:
                remove_tree(tmp)

    cached_step(
        Stamp(dest),
        inputs,
        assemble,
        lock=layout.lock(f"rfs-{dest.name}"),
        holder=f"the default RFS {dest}",
        skip=lambda why: runner.skip(scope, "rfs", why),
        reason=f"{dest} assembled from the same libraries",
        in_place=False,  # built aside and renamed into place: the old RFS stays valid until then
    )
    return dest


def add_to_rfs(rfs: Path, seed: list[Path], plans: list[DepPlan], runner: Runner, scope: str) -> None:
    """Merge the staged libraries into an RFS of the user's, checked first; seed it only if it has no libc.

    An RFS that already has a C run-time keeps its own: a second libc.so.6 in lib/ could shadow it.
    """
    with runner.step(scope, "rfs") as step:
        has_libc = libc_runtime(rfs) is not None
        entries = [(plan.stage_dir, staged_entries(plan.stage_dir)) for plan in plans]
        problems = [p for stage, found in entries for p in merge_problems(stage, rfs, found)]
        if problems:
            raise ConfigError(f"cannot add the libraries to {rfs}:\n  " + "\n  ".join(problems))
        for stage, found in entries:
            merge(stage, rfs, found)
        step.note(f"{', '.join(p.dep.name for p in plans)} merged into {rfs}")
        if not has_libc:
            lib = resolve(rfs, "lib")  # the board's /lib, through its links
            lib.mkdir(exist_ok=True)
            for path in seed:
                dest = lib / path.name
                if not (dest.exists() or dest.is_symlink()):
                    _copy_entry(path, dest)
            step.note(f"{rfs} had no C run-time: {len(seed)} files of the tool-chain's libc copied into lib/")
