"""The recipe's steps over a Session: each builds its plan (pure) and hands it to its runner.

Each step can run alone: it makes sure of what it needs (`cross` fetches sources, builds the
native interpreter and provisions the default RFS when missing), and those steps do nothing when
their outputs are already up to date.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from .build import deps, native, toolchain
from .build.cross import CrossPlan, inspect_rfs, plan_cross, run_cross
from .check import targettest
from .check.verify import CheckResult, run_verify
from .core.errors import ConfigError, CrossPythonError, SizeRegression, TargetTestsFailed, ToolMissing
from .core.layout import Stamp, fingerprint, write_json_atomic
from .core.runner import Step
from .fetch import apt, sources
from .install.stage import InstallPlan, plan_install, run_install, run_stage
from .matrix import DebianSource, Dep, Target, Version
from .rfs import provision
from .session import Session
from .sizes import measure as sizes


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
        ccache=toolchain.ccache(),
        host_cc="gcc",
        cc_version=native.host_cc_version("gcc"),
    )


def build_native(session: Session) -> native.NativePlan:
    toolchain.require_host_tools("make", "gcc")
    plan = _native_plan(session, fetch_source(session, session.cell.version))
    native.run_native(plan, session.runner, session.layout)
    return plan


def ensure_rfs(session: Session) -> Path:
    """The session's RFS; the default one is provisioned (or reused) here, as the target's data says."""
    if not session.rfs_is_default:
        return session.rfs
    if session.cell.target.deps == "source":
        return build_deps(session)
    toolchain.require_host_tools("apt-get", "dpkg")
    return provision.provision(session.cell.target, session.matrix.rfs, session.layout, session.runner, _mirror(session))


def fetch_dep(session: Session, dep: Dep) -> Path:
    """A library's unpacked, verified source tree (matrix/deps.toml)."""
    dest = session.layout.root / "src" / "deps"
    inputs = {"sha256": dep.sha256}
    if Stamp(dest / dep.top).matches(inputs):
        return dest / dep.top
    with session.runner.step(f"sources-{dep.name}", "fetch") as step:
        pin = sources.Pin(filename=dep.tarball, size=dep.size, sha256=dep.sha256)
        chain = sources.source_chain("upstream", dep.upstream_url, _debian_url(session, step, dep.debian))
        tarball = sources.fetch(pin, session.layout.downloads, chain, say=step.note)
        return sources.unpack(tarball, dest, dep.top, inputs, step)


def build_deps(session: Session) -> Path:
    """Cross-build matrix/deps.toml's libraries for the target; assemble (or add them to) the RFS."""
    target = session.cell.target
    toolchain.require_host_tools("make", "perl", "tclsh")
    chain = toolchain.find_toolchain(target, session.toolchain)
    libdir = deps.libc_dir(chain, target)
    spec = session.matrix.deps
    if not spec.libraries:
        raise ConfigError("matrix/deps.toml lists no libraries")
    if session.rfs_is_default and target.deps != "source":
        raise ConfigError(
            f"the default RFS of {target.triplet} comes from Debian's {target.debian_arch} packages (`invoke rfs`)",
            hint="to add source-built libraries to an RFS of your own: `invoke deps --rfs DIR`",
        )
    ctx = deps.Context(
        target=target,
        toolchain=chain,
        build_triplet=_host_triplet(),
        jobs=session.jobs,
        ccache=toolchain.ccache(),
    )
    version = chain.version()
    scope = f"deps-{target.triplet}"
    plans = []
    for dep in spec.libraries:
        fetch_dep(session, dep)
        plan = deps.plan_dep(dep, ctx, layout=session.layout, toolchain_version=version,
                             host_path=os.environ.get("PATH", ""))  # fmt: skip
        deps.run_dep(plan, session.runner, session.layout, scope)
        plans.append(plan)
    seed = deps.seed_files(libdir, spec)
    if session.rfs_is_default:
        return deps.assemble_rfs(session.rfs, seed, plans, session.runner, session.layout, scope)
    deps.add_to_rfs(session.rfs, seed, plans, session.runner, scope)
    return session.rfs


def _host_triplet() -> str:
    """The build host's GNU triplet, as gcc names it (the --build of every cross configure)."""
    out = subprocess.run(["gcc", "-dumpmachine"], capture_output=True, text=True, check=False)
    if out.returncode != 0 or not out.stdout.strip():
        raise ToolMissing("gcc", "gcc")
    return out.stdout.strip()


def _build_triplet(source_dir: Path) -> str:
    if not (source_dir / "config.guess").is_file():
        raise ConfigError(f"no CPython source in {source_dir}", hint="run `invoke fetch` (or `invoke cross`) first")
    out = subprocess.run(["sh", str(source_dir / "config.guess")], capture_output=True, text=True, check=False)
    if out.returncode != 0 or not out.stdout.strip():
        raise CrossPythonError(f"config.guess failed: {out.stderr.strip()}")
    return out.stdout.strip()


def plan_cell(session: Session, *, build: bool) -> CrossPlan:
    """The cross plan of the session's cell; with build=True its prerequisites are built first."""
    target = session.cell.target
    chain = toolchain.find_toolchain(target, session.toolchain)
    toolchain.require_host_tools("make", "pkg-config")
    if build:
        native_plan = build_native(session)
        rfs_dir = ensure_rfs(session)
    else:
        native_plan = _native_plan(session, session.layout.source_dir(session.cell.version))
        rfs_dir = session.rfs
    source_dir = native_plan.source_dir
    rfs_layout = inspect_rfs(rfs_dir, target.triplet)
    if not rfs_layout.has_libc:
        deps.libc_dir(chain, target)  # the tool-chain's own libc must do: fail now, naming its package
    return plan_cross(
        session.cell,
        layout=session.layout,
        source_dir=source_dir,
        build_python=native_plan.python,
        build_python_dir=native_plan.for_build_dir,
        toolchain=chain,
        toolchain_version=chain.version(),
        rfs=rfs_layout,
        build_triplet=_build_triplet(source_dir),
        jobs=session.jobs,
        ccache=toolchain.ccache(),
        host_pkg_config=shutil.which("pkg-config") or "pkg-config",
        host_path=os.environ.get("PATH", ""),
        rfs_fingerprint=provision.rfs_fingerprint(rfs_dir),
        toolchain_dirs=chain.own_dirs(),
    )


def build_cross(session: Session) -> CrossPlan:
    plan = plan_cell(session, build=True)
    run_cross(plan, session.runner, session.layout)
    return plan


def _install_plan(session: Session, cross: CrossPlan) -> InstallPlan:
    chain = toolchain.find_toolchain(session.cell.target, session.toolchain)
    return plan_install(
        cross,
        layout=session.layout,
        rfs=session.rfs,
        toolchain=str(chain.tool("gcc")),
        toolchain_version=chain.version(),
    )


def install(session: Session) -> InstallPlan:
    """Install the session's cell into its RFS (the cell must be built: `cross`)."""
    if session.rfs_is_default and not session.rfs.is_dir():
        raise ConfigError(f"the default RFS {session.rfs} is not provisioned", hint="run `invoke cross` first")
    plan = _install_plan(session, plan_cell(session, build=False))
    run_install(plan, session.runner, session.layout)
    return plan


def stage(session: Session) -> InstallPlan:
    """`make install` the session's cell into its stage directory only (no RFS is written)."""
    plan = _install_plan(session, plan_cell(session, build=False))
    run_stage(plan, session.runner, session.layout)
    return plan


def verify(session: Session) -> list[CheckResult]:
    target: Target = session.cell.target
    qemu = toolchain.require_qemu(target)
    interpreter = f"usr/bin/python{session.cell.version.short}"
    if not session.rfs.is_dir():
        raise ConfigError(f"RFS {session.rfs} does not exist", hint="run `invoke cross install` first")
    return run_verify(session.cell, session.rfs, qemu, interpreter, session.runner)


def setup(targets: list[Target], *, dry_run: bool = False) -> list[str]:
    """Install the Debian packages the given targets need (apt-get, as root or through sudo)."""
    missing = toolchain.missing_packages(targets)
    if not missing or dry_run:
        return missing
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise ToolMissing("sudo", "sudo", extra=f"or, as root: apt-get install {' '.join(missing)}")
        prefix = ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print(f"==> setup: apt-get install {' '.join(missing)}", flush=True)
    # The host's package lists may be missing or old on a fresh machine: refresh them first.
    update = subprocess.run([*prefix, "apt-get", "update"], env=env, check=False)
    if update.returncode != 0:
        raise CrossPythonError("apt-get update failed", hint="check the machine's apt sources and network")
    done = subprocess.run(
        [*prefix, "apt-get", "install", "-y", "--no-install-recommends", *missing], env=env, check=False
    )
    if done.returncode != 0:
        raise CrossPythonError(f"apt-get install {' '.join(missing)} failed", hint="see apt-get's output above")
    return missing


def size_report(
    session: Session,
    *,
    check: bool = False,
    update_baseline: bool = False,
    baseline: Path = sizes.BASELINE,
    threshold: float | None = None,
) -> dict[str, Path]:
    """Measure every staged cell with lief, write the reports, and optionally gate or rebaseline."""
    data = sizes.load_baseline(baseline) if check else None  # a bad baseline fails before any work
    measurements = sizes.measure_all(session.layout, session.matrix, session.runner)
    paths = sizes.write_reports(measurements, session.layout.root / "reports")
    say = session.runner.say
    say(sizes.to_markdown(measurements))
    say("reports: " + ", ".join(str(p) for p in paths.values()))
    current = sizes.current_tracked(measurements, session.matrix)
    if update_baseline:
        old = sizes.load_baseline(baseline) if baseline.exists() else {}
        write_json_atomic(baseline, sizes.updated_baseline(current, old))
        say(f"baseline {baseline} updated for {', '.join(sorted(current))}")
    if data is not None:
        grew, compared, notes = sizes.check(current, data, threshold)
        limit = threshold if threshold is not None else data.get("threshold_pct", sizes.DEFAULT_THRESHOLD)
        for note in notes:
            say(f"    note: {note}")
        if not compared:
            raise SizeRegression(
                f"nothing to check: no cell in {baseline} is built here",
                hint="build one of its cells (`invoke cross stage`), or add this one with --update-baseline",
            )
        if grew:
            raise SizeRegression(
                f"{len(grew)} tracked size(s) grew more than {limit} % over {baseline}:\n" + sizes.gate_table(grew),
                hint="if the growth is intended, rewrite the baseline: `invoke sizes --update-baseline`",
            )
        say(f"size check passed: {len(compared)} tracked sizes within {limit} % of {baseline}")
    return paths


def test_target(
    session: Session, *, tests: str = "", regrtest_args: str = "", timeout: int = 1200
) -> targettest.Result:
    """Run CPython's regression tests with the RFS's interpreter under qemu-user; see targettest."""
    cell = session.cell
    qemu = toolchain.require_qemu(cell.target)
    interpreter = f"usr/bin/python{cell.version.short}"
    if not (session.rfs / interpreter).is_file():
        raise ConfigError(f"no interpreter at {session.rfs / interpreter}", hint="run `invoke cross install` first")
    data = targettest.load_target_tests()
    names = tests.split() if tests else list(data.default_tests)
    if names == ["all"]:
        names = []  # regrtest runs the whole suite when given no names
    layout = session.layout
    wrapper = targettest.write_wrapper(
        layout.root / "binfmt" / f"{cell.target.qemu}-{fingerprint({'rfs': str(session.rfs)})}", qemu, session.rfs
    )
    junit = layout.root / "reports" / "target-tests" / f"{cell.id}.xml"
    record = junit.with_suffix(".json")
    junit.parent.mkdir(parents=True, exist_ok=True)
    # A run that fails before its end must not leave the previous run's results to be read as its own.
    junit.unlink(missing_ok=True)
    record.unlink(missing_ok=True)
    with targettest.binfmt(cell.target, wrapper) as reg, session.runner.step(cell.id, "test-target") as step:
        step.note(reg.note)
        command = targettest.regrtest_command(
            qemu, session.rfs, interpreter, names, mode=reg.mode, jobs=session.jobs, junit=junit,
            timeout=timeout, extra=regrtest_args.split(),
        )  # fmt: skip
        started = time.monotonic()
        # No overall limit but regrtest's own per-test --timeout: the whole suite takes hours emulated.
        # Our rule's wrapper passes -L itself; someone else's rule (or none) needs QEMU_LD_PREFIX.
        env = {} if reg.ours else {"QEMU_LD_PREFIX": str(session.rfs)}
        done = step.run(command, env=env, check=False)
        result = targettest.Result(cell=cell.id, mode=reg.mode, note=reg.note, tests=names or ["all"])
        result.duration_s = round(time.monotonic() - started, 1)
        result.returncode = done.returncode
        if not junit.is_file():
            tail = [line for line in step.log.read_text(errors="replace").splitlines() if line.strip()][-10:]
            raise TargetTestsFailed(
                f"{cell.id}: regrtest produced no results (exit {done.returncode}); last lines:\n"
                + "\n".join(f"    {line}" for line in tail),
                hint=f"check the test names given with --tests; whole log: {step.log}",
            )
        run, skipped, failures = targettest.parse_junit(junit)
        result.run, result.skipped = run, skipped
        result.failures = targettest.classify(cell, reg.mode, data, failures)
        result.expected_failures = len(result.failures) - len(result.real_failures)
        result.failed = len(result.real_failures)
        result.passed = run - skipped - len(failures)
        if reg.mode == "single-process":
            result.unreliable = [t for t in data.single_process_unreliable if not names or t in names]
        targettest.write_result(result, record)
        step.note("results:\n" + targettest.summary(result) + f"\n    record: {record}")
    if result.real_failures or run == 0:
        raise TargetTestsFailed(
            f"{cell.id}: {len(result.real_failures)} test(s) failed on the target"
            + (" (no test ran)" if run == 0 else ""),
            hint=f"see {step.log}; a difference that is emulation's, not CPython's, belongs in matrix/target-tests.toml",
        )
    return result
