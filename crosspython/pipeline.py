"""The recipe's steps over a Session: each builds its plan (pure) and hands it to its runner.

This module only wires: it picks a step's inputs from the Session, calls the package that owns
the step, and passes results on. Each step can run alone: it makes sure of what it needs (`cross`
fetches sources, builds the native interpreter and provisions the default RFS when missing), and
those steps do nothing when their outputs are already up to date.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from .build import confcache, deps, native
from .build.cross import CrossPlan, plan_cross, run_cross
from .build.toolchain import (
    build_triplet,
    ccache,
    compiler_version,
    find_toolchain,
    host_triplet,
    missing_packages,
    require_host_tools,
    require_qemu,
)
from .build.toolchain import (
    check_target as check_toolchain_target,
)
from .check import targettest
from .check.verify import CheckResult, modules_to_import, run_verify
from .core.errors import ConfigError, TargetTestsFailed, VerifyFailed
from .core.files import write_text_atomic
from .core.layout import PROJECT_ROOT
from .core.runner import Step
from .core.stamps import Stamp, fingerprint
from .fetch import apt, sources
from .install.board import BoardPlan, plan_board, run_board
from .install.closure import app_roots
from .install.into_rfs import run_install
from .install.manifest import read_manifest
from .install.profile import modules_in, why_left_out
from .install.stage import InstallPlan, plan_install, require_built, run_stage
from .matrix import DebianSource, Dep, Target, Version
from .packages.plan import PackagesPlan, plan_packages
from .rfs import provision
from .rfs.linkfarm import describe_farm, make_farm
from .rfs.sysroot import check_target as check_rfs_target
from .rfs.sysroot import inspect_rfs
from .session import Session


def _mirror(session: Session) -> apt.Mirror:
    if session.debian_mirror:
        return apt.Mirror(uri=session.debian_mirror.rstrip("/"), signed_by=apt.DEFAULT_KEYRING)
    return apt.find_debian_mirror()


def fetch_source(session: Session, version: Version | None = None) -> Path:
    """The unpacked, verified CPython source tree of `version` (the session's by default)."""
    version = version or session.cell.version
    scope = f"sources-{version.tag}"
    source_dir = session.layout.source_dir(version)
    inputs = sources.source_inputs(version)
    if Stamp(source_dir).matches(inputs):
        session.runner.skip(scope, "fetch", f"{source_dir} unpacked from the pinned tarball")
        return source_dir
    with session.runner.step(scope, "fetch") as step:
        return sources.fetch_cpython(version, session.layout, step, _debian_url(session, step, version.debian))


def _debian_url(session: Session, step: Step, debian: DebianSource | None) -> Callable[[], str] | None:
    """A function giving `debian`'s file's address in the Debian source archive (asked only when needed)."""
    if debian is None:
        return None
    found = debian

    def url() -> str:
        state = apt.AptState(
            session.layout.apt_dir(f"src-{found.suite}"),
            apt.source_lines(_mirror(session), found.suite, kind="deb-src"),
        )
        for uri in state.source_uris(step, found.package):
            if uri.filename == found.file:
                return uri.url
        raise ConfigError(
            f"the Debian source package {found.package} in {found.suite} has no file {found.file} any more",
            hint="the archive moved on: update the pin in matrix/, or put the pinned file into artifacts/downloads/",
        )

    return url


def _native_plan(session: Session, source_dir: Path) -> native.NativePlan:
    return native.plan_native(
        session.cell.version,
        layout=session.layout,
        source_dir=source_dir,
        jobs=session.jobs,
        ccache=ccache(),
        host_cc="gcc",
        cc_version=compiler_version("gcc"),
        surroundings=confcache.Surroundings(),
    )


def build_native(session: Session) -> native.NativePlan:
    require_host_tools("make", "gcc")
    require_buildable_paths(session, rfs=False)
    plan = _native_plan(session, fetch_source(session, session.cell.version))
    native.run_native(plan, session.runner, session.layout)
    return plan


def ensure_rfs(session: Session) -> Path:
    """The session's RFS; the default one is provisioned (or reused) here, as the target's data says."""
    if not session.rfs_is_default:
        return session.rfs
    if session.cell.target.deps == "source":
        return build_deps(session)
    require_host_tools("apt-get", "dpkg")
    return provision.provision(
        session.cell.target, session.matrix.rfs, session.layout, session.runner, _mirror(session)
    )


def fetch_dep(session: Session, dep: Dep) -> Path:
    """A library's unpacked, verified source tree (matrix/deps.toml)."""
    dest = session.layout.dep_sources
    inputs = {"sha256": dep.sha256}
    if Stamp(dest / dep.top).matches(inputs):
        return dest / dep.top
    with session.runner.step(f"sources-{dep.name}", "fetch") as step:
        pin = sources.Pin(filename=dep.tarball, size=dep.size, sha256=dep.sha256)
        found_at = sources.download_sources("upstream", dep.upstream_url, _debian_url(session, step, dep.debian))
        tarball = sources.fetch(pin, session.layout.downloads, found_at, say=step.note)
        return sources.unpack(tarball, dest, dep.top, inputs, step)


def build_deps(session: Session) -> Path:
    """Cross-build matrix/deps.toml's libraries for the target; assemble (or add them to) the RFS."""
    target = session.cell.target
    require_host_tools("make", "perl", "tclsh")
    toolchain = find_toolchain(target, session.toolchain)
    require_buildable_paths(session, toolchain.bindir, rfs=False)
    libdir = deps.libc_dir(toolchain, target)
    spec = session.matrix.deps
    if not spec.libraries:
        raise ConfigError("matrix/deps.toml lists no libraries")
    if session.rfs_is_default and target.deps != "source":
        raise ConfigError(
            f"the default RFS of {target.triplet} comes from Debian's {target.debian_arch} packages (`invoke rfs`)",
            hint="to add source-built libraries to an RFS of your own: `invoke deps --rfs DIR`",
        )
    setup = deps.BuildSetup(
        target=target, toolchain=toolchain, build_triplet=host_triplet(), jobs=session.jobs, ccache=ccache()
    )
    version = toolchain.version()
    scope = f"deps-{target.triplet}"
    plans = []
    for dep in spec.libraries:
        fetch_dep(session, dep)
        plan = deps.plan_dep(
            dep, setup, layout=session.layout, toolchain_version=version, host_path=os.environ.get("PATH", "")
        )
        deps.run_dep(plan, session.runner, session.layout, scope)
        plans.append(plan)
    seed = deps.seed_files(libdir, spec)
    if session.rfs_is_default:
        return deps.assemble_rfs(session.rfs, seed, plans, session.runner, session.layout, scope)
    deps.add_to_rfs(session.rfs, seed, plans, session.runner, scope)
    return session.rfs


def plan_cell(session: Session, *, build: bool, use_ccache: bool = True) -> CrossPlan:
    """The cross plan of the session's cell; with build=True its prerequisites are built first.
    use_ccache=False plans it without ccache (the recipe's flow that `bench` times)."""
    target = session.cell.target
    toolchain = find_toolchain(target, session.toolchain)
    check_toolchain_target(toolchain, target, session.layout.toolchain_checks)
    if not session.rfs_is_default:
        check_rfs_target(session.rfs, target)  # before anything is built for it
    require_host_tools("make", "pkg-config")
    if build:
        native_plan = build_native(session)
        rfs_dir = ensure_rfs(session)
    else:
        native_plan = _native_plan(session, session.layout.source_dir(session.cell.version))
        rfs_dir = session.rfs
    source_dir = native_plan.source_dir
    rfs_layout = inspect_rfs(rfs_dir, target.triplet)
    farm_dirs = make_farm(rfs_layout, session.layout.link_farm(rfs_dir))
    if not rfs_layout.has_libc:
        deps.libc_dir(toolchain, target)  # the tool-chain's own libc must do: fail now, naming its package
    return plan_cross(
        session.cell,
        layout=session.layout,
        source_dir=source_dir,
        build_python=native_plan.python,
        build_python_dir=native_plan.for_build_dir,
        toolchain=toolchain,
        toolchain_version=toolchain.version(),
        rfs=rfs_layout,
        build_triplet=build_triplet(source_dir),
        jobs=session.jobs,
        ccache=ccache() if use_ccache else None,
        host_pkg_config=shutil.which("pkg-config") or "pkg-config",
        host_path=os.environ.get("PATH", ""),
        rfs_fingerprint=provision.rfs_fingerprint(rfs_dir),
        farm_dirs=farm_dirs,
        farm=describe_farm(farm_dirs),
        toolchain_dirs=toolchain.own_dirs(),
        surroundings=confcache.Surroundings(
            dirs=(*rfs_layout.lib_dirs, *rfs_layout.pkgconfig_dirs), recursive=(rfs_dir / "usr" / "include",)
        ),
    )


# What CPython's configure and make cannot take in a path (they split on blanks and let a shell
# read the rest): such a path is refused before anything is built.
_UNSAFE_PATH_CHARACTERS = set(" \t\n'\"$`\\;&|<>*?()[]{}#~!")


def require_buildable_paths(session: Session, toolchain_dir: Path | None = None, *, rfs: bool = True) -> None:
    for what, path in (
        ("the RFS", session.rfs if rfs else None),
        ("the artifacts directory", session.layout.root),
        ("the tool-chain", toolchain_dir),
    ):
        if path is not None and set(str(path)) & _UNSAFE_PATH_CHARACTERS:
            bad = "".join(sorted(set(str(path)) & _UNSAFE_PATH_CHARACTERS))
            raise ConfigError(
                f"{what} {path} holds characters CPython's configure and make cannot take: {bad!r}",
                hint="use a path without spaces or shell-special characters (a symbolic link to it will do)",
            )


def build_cross(session: Session) -> CrossPlan:
    require_buildable_paths(session, find_toolchain(session.cell.target, session.toolchain).bindir)
    plan = plan_cell(session, build=True)
    run_cross(plan, session.runner, session.layout)
    return plan


def _install_plan(session: Session, cross: CrossPlan) -> InstallPlan:
    toolchain = find_toolchain(session.cell.target, session.toolchain)
    return plan_install(
        cross,
        layout=session.layout,
        rfs=session.rfs,
        toolchain=str(toolchain.tool("gcc")),
        toolchain_version=toolchain.version(),
        strip=str(toolchain.tool("strip")),
    )


def _board_plan(session: Session, *, strip: bool = True) -> BoardPlan:
    cross = plan_cell(session, build=False)
    toolchain = find_toolchain(session.cell.target, session.toolchain)
    profile = session.profile if strip else replace(session.profile, strip=False)
    return plan_board(
        _install_plan(session, cross),
        profile,
        layout=session.layout,
        build_python=_native_plan(session, cross.source_dir).python,
        strip=str(toolchain.tool("strip")),
        objcopy=str(toolchain.tool("objcopy")),
        app=session.app,
    )


def install(session: Session, *, strip: bool = True) -> BoardPlan:
    """Install the session's cell into its RFS in the session's profile (the cell must be built: `cross`)."""
    if session.rfs_is_default and not session.rfs.is_dir():
        raise ConfigError(f"the default RFS {session.rfs} is not provisioned", hint="run `invoke cross` first")
    board = _board_plan(session, strip=strip)
    run_install(board, session.runner, session.layout)
    return board


def board(session: Session, *, strip: bool = True) -> BoardPlan:
    """The profile's board-ready tree of the session's cell, in artifacts/board/ (no RFS is written)."""
    plan = _board_plan(session, strip=strip)
    require_built(plan.install)
    run_stage(plan.install, session.runner, session.layout)
    run_board(plan, session.runner, session.layout)
    return plan


def stage(session: Session) -> InstallPlan:
    """`make install` the session's cell into its stage directory only (no RFS is written)."""
    plan = _install_plan(session, plan_cell(session, build=False))
    run_stage(plan, session.runner, session.layout)
    return plan


def verify(session: Session, *, expect_profile: bool = False) -> list[CheckResult]:
    """The installed interpreter under qemu-user: functional checks, then every installed module imported
    (and the application's, with --app). With `expect_profile`, the RFS must hold the session's profile."""
    cell = session.cell
    qemu = require_qemu(cell.target)
    if not session.rfs.is_dir():
        raise ConfigError(f"RFS {session.rfs} does not exist", hint="run `invoke cross install` first")
    manifest = read_manifest(session.layout.manifest(cell, session.rfs))
    profile = session.matrix.profiles.get(manifest.profile) if manifest else None
    if expect_profile and (profile is None or profile.name != session.profile.name):
        raise VerifyFailed(
            f"{session.rfs} holds profile {profile.name if profile else '(none recorded)'} of {cell.id}, "
            f"not {session.profile.name}",
            hint=f"install it first: `invoke install --profile {session.profile.name}`",
        )
    installed = modules_in(session.rfs, cell.version.short)
    imports, skipped = modules_to_import(installed, session.matrix.not_importable, session.matrix.importable_with)
    # Then the packages `invoke packages` installed: their top-level modules, their files as installed.
    # (Imported here, like `packages`' own modules below: every other task's start-up does without them.)
    from .packages.into_rfs import installed_packages

    packages = installed_packages(session.layout.package_manifests(cell.version, session.rfs))
    imports += [m for p in packages.values() for m in p.modules]
    changed = manifest.changed_in(session.rfs) if manifest is not None else None
    if changed is not None:
        changed += [f for p in packages.values() for f in p.changed_in(session.rfs)]
    path: tuple[Path, ...] = ()
    if session.app is not None:
        app_dir, app_modules = app_roots(session.app)
        imports += app_modules
        path = (app_dir,)
    return run_verify(
        cell,
        session.rfs,
        qemu,
        session.runner,
        session.layout.verify_record(cell),
        imports=imports,
        installed=installed if manifest is not None else None,
        path=path,
        skipped=skipped,
        profile=profile.name if profile else "",
        dropped_because=lambda module: why_left_out(module, profile) if profile else None,
        changed=changed,
    )


def setup(session: Session, targets: list[Target], *, dry_run: bool = False, cxx: bool = False) -> list[str]:
    """Install the Debian packages the given targets need (apt-get, as root or through sudo)."""
    missing = missing_packages(targets, cxx=cxx)
    if not missing or dry_run:
        return missing
    with session.runner.step("setup", "apt-get") as step:
        apt.install_host_packages(step, missing)
    return missing


def size_report(
    session: Session,
    *,
    check: bool = False,
    update_baseline: bool = False,
    baseline: Path | None = None,
    threshold: float | None = None,
    startup: bool = False,
    compare_to: Path | None = None,
    symbols: bool = False,
    commit: str = "HEAD",
    thresholds: Path | None = None,
    keep_history: bool = False,
) -> dict[str, Path]:
    """Measure every staged cell with lief and every profile's board tree, write the reports, and
    optionally gate, rebaseline, compare with another report and add to the history."""
    # Imported here: lief is slow to import, and only this step needs it.
    from .sizes import gate, measure
    from .sizes.footprint import measure_footprints
    from .sizes.publish import publication

    baseline = baseline or gate.BASELINE
    accepted = gate.load_baseline(baseline) if check else None  # a bad baseline fails before any work
    publish = publication(session, compare_to, commit, thresholds, threshold, keep_history)  # likewise
    measurements = measure.measure_all(
        session.layout, session.matrix, session.runner, symbols=symbols or compare_to is not None
    )
    # Start-up (--startup) is timed for the session's target, with its RFS's libraries.
    target = session.cell.target
    timing = (require_qemu(target), session.rfs) if startup else None
    footprints = measure_footprints(session.layout.boards, session.layout.stages, session.matrix)
    if timing is not None:
        timed = measure_footprints(
            session.layout.boards, session.layout.stages, session.matrix, startup=timing, triplet=target.triplet
        )
        footprints = [f for f in footprints if f.triplet != target.triplet] + timed
    current = gate.current_tracked(measurements, session.matrix, footprints)
    paths, diff = publish.write(measurements, footprints, current)
    say = session.runner.say
    if update_baseline:
        old = gate.load_baseline(baseline) if baseline.exists() else None
        gate.write_baseline(baseline, gate.updated_baseline(current, old))
        say(f"baseline {baseline} updated for {', '.join(sorted(current))}")
    if accepted is not None:
        gate.enforce(gate.check(current, accepted, threshold), baseline, say)
    publish.judge(diff, paths)
    return paths


def size_diff(
    session: Session,
    *,
    heads: list[Path],
    compare_to: Path | None = None,
    commit: str = "HEAD",
    thresholds: Path | None = None,
    threshold: float | None = None,
    keep_history: bool = False,
) -> dict[str, Path]:
    """Reports made elsewhere (each cell's CI job), merged into one set of reports, then compared
    with another report and added to the history as `size_report` does (nothing is measured)."""
    from .sizes import compare, report
    from .sizes.publish import publication

    publish = publication(session, compare_to, commit, thresholds, threshold, keep_history)
    files = compare.report_files(heads)
    merged = compare.merge_reports([(f, compare.load_report(f)) for f in files])
    session.runner.say(f"sizes: {len(files)} report(s) merged: {', '.join(str(f) for f in files)}")
    measurements, footprints = report.from_json(merged)
    paths, diff = publish.write(measurements, footprints, merged["tracked"])
    publish.judge(diff, paths)
    return paths


def _test_overlay(session: Session) -> Path | None:
    cell = session.cell
    manifest = read_manifest(session.layout.manifest(cell, session.rfs))
    return targettest.test_overlay(
        session.rfs,
        session.layout.stage_dir(cell),
        session.layout.test_overlay(cell),
        cell.version.short,
        session.matrix.profiles.get(manifest.profile) if manifest else None,
    )


def test_target(
    session: Session, *, tests: str = "", regrtest_args: str = "", timeout: int = 1200
) -> targettest.Result:
    """Run CPython's regression tests with the RFS's interpreter under qemu-user; see check/targettest.py."""
    cell = session.cell
    qemu = require_qemu(cell.target)
    interpreter = cell.version.interpreter
    if not (session.rfs / interpreter).is_file():
        raise ConfigError(f"no interpreter at {session.rfs / interpreter}", hint="run `invoke cross install` first")
    overlay = _test_overlay(session)
    data = targettest.load_target_tests()
    names = tests.split() if tests else list(data.default_tests)
    if names == ["all"]:
        names = []  # regrtest runs the whole suite when given no names
    layout = session.layout
    name = f"{cell.target.qemu}-{fingerprint({'rfs': str(session.rfs)})}"
    wrapper = targettest.write_wrapper(
        targettest.wrapper_dir(layout.binfmt_wrapper("x").parent) / name, qemu, session.rfs
    )
    junit = layout.target_tests_junit(cell)
    record = junit.with_suffix(".json")
    junit.parent.mkdir(parents=True, exist_ok=True)
    # A run that fails before its end must not leave the previous run's results to be read as its own.
    junit.unlink(missing_ok=True)
    record.unlink(missing_ok=True)
    with targettest.binfmt(cell.target, wrapper) as reg, session.runner.step(cell.id, "test-target") as step:
        step.note(reg.note)
        command = targettest.regrtest_command(
            qemu,
            session.rfs,
            interpreter,
            names,
            mode=reg.mode,
            jobs=session.jobs,
            junit=junit,
            timeout=timeout,
            extra=regrtest_args.split(),
        )
        started = time.monotonic()
        # No overall limit but regrtest's own per-test --timeout: the whole suite takes hours emulated.
        # Our rule's wrapper passes -L itself; someone else's rule (or none) needs QEMU_LD_PREFIX.
        env = {} if reg.ours else {"QEMU_LD_PREFIX": str(session.rfs)}
        if overlay is not None:
            # The test suite the profile left out, from the stage, for this run only (the RFS is not written).
            step.note(f"the installed profile has no test suite: it comes from the stage through {overlay}")
            env["PYTHONPATH"] = str(overlay)
        done = step.run(command, env=env, check=False)
        if not junit.is_file():
            tail = [line for line in step.log.read_text(errors="replace").splitlines() if line.strip()][-10:]
            raise TargetTestsFailed(
                f"{cell.id}: regrtest produced no results (exit {done.returncode}); last lines:\n"
                + "\n".join(f"    {line}" for line in tail),
                hint=f"check the test names given with --tests; whole log: {step.log}",
            )
        result = targettest.collect_result(
            cell,
            reg,
            data,
            names=names,
            junit=junit,
            returncode=done.returncode,
            duration_s=time.monotonic() - started,
        )
        targettest.write_result(result, record)
        step.note("results:\n" + targettest.summary(result) + f"\n    record: {record}")
    if result.real_failures or result.run == 0:
        raise TargetTestsFailed(
            f"{cell.id}: {len(result.real_failures)} test(s) failed on the target"
            + (" (no test ran)" if result.run == 0 else ""),
            hint=f"see {step.log}; a difference that is emulation's, not CPython's, "
            "belongs in matrix/target-tests.toml",
        )
    return result


def read_requirements(specs: str | None, requirements: str | None) -> str:
    """The requirements as pip reads them: a requirements file's lines, then --specs' words; each named
    requirement's syntax checked here (a typo fails before anything is built)."""
    from packaging.requirements import InvalidRequirement, Requirement

    lines: list[str] = []
    if requirements:
        path = Path(requirements).expanduser()
        if not path.is_file():
            raise ConfigError(f"--requirements {path}: no such file", hint="give a file in pip's requirements format")
        lines += path.read_text().splitlines()
    from_file = len(lines)
    lines += (specs or "").split()
    for number, line in enumerate(lines, 1):
        text = line.split(" #", 1)[0].strip()
        if not text or text.startswith(("#", "-")):
            continue  # a comment, or one of pip's options (--hash, -i, ...): pip checks those
        try:
            Requirement(text.split(" --", 1)[0].rstrip(" \\"))
        except InvalidRequirement as exc:
            where = f"{requirements}, line {number}" if number <= from_file else "--specs"
            raise ConfigError(
                f"not a requirement ({where}): {text!r}: {exc}", hint="e.g. pyserial, msgpack==1.*"
            ) from None
    if not any(line.strip() and not line.strip().startswith("#") for line in lines):
        raise ConfigError(
            "no packages given", hint='give --specs "pyserial msgpack==1.*" or --requirements requirements.txt'
        )
    return "\n".join(lines) + "\n"


def _packages_plan(session: Session, requirements: str) -> PackagesPlan:
    cell = session.cell
    if cell.version.pyc == "timestamp":
        raise ConfigError(
            f"`packages` builds wheels for CPython 3 only, not {cell.version.full}",
            hint="choose --python 3.11 or later",
        )
    qemu = require_qemu(cell.target)
    if not session.rfs.is_dir():
        raise ConfigError(f"RFS {session.rfs} does not exist", hint="run `invoke cross install` first")
    if read_manifest(session.layout.manifest(cell, session.rfs)) is None:
        raise ConfigError(
            f"{session.rfs} holds no install of {cell.id}",
            hint="install the interpreter first: `invoke native cross install` with the same options",
        )
    cross = plan_cell(session, build=False)
    # The build directory is the wheels' _PYTHON_PROJECT_BASE (pyconfig.h, Makefile): it must be the
    # cell's current build.
    require_built(_install_plan(session, cross))
    stdlib = session.layout.stage_dir(cell) / "usr" / "lib" / f"python{cell.version.short}"
    found = sorted(stdlib.glob("_sysconfigdata_*.py"))
    if not found:
        raise ConfigError(f"{cell.id} has no staged _sysconfigdata in {stdlib}", hint="run `invoke install` first")
    toolchain = find_toolchain(cell.target, session.toolchain)
    return plan_packages(
        cross,
        layout=session.layout,
        rfs=session.rfs,
        build_python=_native_plan(session, cross.source_dir).python,
        requirements=requirements,
        sysconfigdata=found[0].stem,
        strip=str(toolchain.tool("strip")),
        objcopy=str(toolchain.tool("objcopy")),
        qemu=qemu,
    )


def packages(
    session: Session, *, specs: str | None = None, requirements: str | None = None, uninstall: str | None = None
) -> None:
    """Third-party packages for the board: wheels resolved, downloaded or built for the target, checked,
    installed into the RFS's site-packages and imported under qemu-user (see packages/)."""
    from .packages import run

    rfs_lock = session.layout.lock("rfs-" + fingerprint({"rfs": str(session.rfs)}))
    if uninstall:
        run.uninstall_packages(_packages_plan(session, ""), uninstall.split(), session.runner, rfs_lock)
        return
    plan = _packages_plan(session, read_requirements(specs, requirements))
    manifest = read_manifest(session.layout.manifest(session.cell, session.rfs))
    assert manifest is not None  # checked by _packages_plan
    run.run_packages(
        plan,
        profile=session.matrix.profiles.get(manifest.profile) or session.profile,
        installed_cell=fingerprint(manifest.inputs),
        runner=session.runner,
        rfs_lock=rfs_lock,
        work_lock=session.layout.lock(f"packages-{plan.work.parent.name}-{plan.work.name}"),
    )


def bench(session: Session, *, triplets: str, variants: str, repeat: int, quick: bool) -> dict[str, Path]:
    """`invoke bench`: the recipe's flow and the card's command, timed side by side (bench/)."""
    from .bench.run import run_bench  # only this task needs it

    if repeat < 0:
        raise ConfigError(f"--repeat must be 0 or more, got {repeat}", hint="e.g. --repeat 2 (0: the matrix alone)")
    require_host_tools("make", "gcc", "pkg-config")
    matrix_cells = []
    if not quick:
        for triplet in [t for t in triplets.split(",") if t.strip()]:
            for variant in [v for v in variants.split(",") if v.strip()]:
                matrix_cells.append(
                    session.matrix.cell(
                        python=session.cell.version.short, triplet=triplet.strip(), variant=variant.strip()
                    )
                )
    if repeat == 0 and len(matrix_cells) < 2:
        raise ConfigError(
            "--repeat 0 runs the matrix alone, and --triplets/--variants give fewer than two cells",
            hint="name two cells or more, e.g. --triplets arm-linux-gnueabihf,powerpc-linux-gnu",
        )
    return run_bench(session, matrix_cells=matrix_cells, repeat=repeat, quick=quick)


def ci_files(
    session: Session, *, tags: list[str], cells: list[str], check: bool, root: Path = PROJECT_ROOT
) -> dict[str, Path]:
    """Write (or, with check=True, compare) the GitHub Actions and GitLab CI files for the matrix's
    cells, under `root` (the project)."""
    import sys

    from .ci import plan as ci

    settings = ci.load_settings(PROJECT_ROOT / "matrix" / "ci.toml")
    with session.runner.step("ci", "cells") as step:
        listed = step.run([sys.executable, "-m", "nox", "-l", "--json", "-s", "matrix"], cwd=PROJECT_ROOT)
    chosen = ci.select(ci.cells_from_nox(listed.output), tags=tags, names=cells)
    files = {
        root / ci.GITHUB_FILE: ci.render(ci.github_workflow(chosen, settings)),
        root / ci.GITLAB_FILE: ci.render(ci.gitlab_ci(chosen, settings)),
    }
    drifted = [p for p, text in files.items() if not p.is_file() or p.read_text() != text]
    if check:
        if drifted:
            raise ConfigError(
                "the CI files differ from what `invoke ci` writes: " + ", ".join(str(p) for p in drifted),
                hint="run `invoke ci` (with the same --tags/--cells) and commit the result",
            )
        session.runner.say(f"ci: {len(files)} files up to date ({len(chosen)} cells)")
        return {p.name: p for p in files}
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
    session.runner.say(f"ci: wrote {', '.join(str(p) for p in files)} ({len(chosen)} cells)")
    return {p.name: p for p in files}
