"""crosspython tasks: cross-compile CPython, install it into a board's RFS, verify it under qemu.

    invoke native cross install verify --rfs=DIR

Options given once apply to the whole chain (see crosspython/cli.py). The logic lives in the
crosspython package; each task here only parses flags and calls it.
"""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from crosspython import pipeline
from crosspython.cli import HELP, errors_as_messages, parse_threshold, session_for
from crosspython.core.layout import PROJECT_ROOT
from crosspython.matrix import load_matrix


def help_for(*names: str, **extra: str) -> dict[str, str]:
    """The help texts of the shared options `names` (cli.HELP), plus this task's own."""
    return {name: HELP[name] for name in names} | extra


@task(
    auto_shortflags=False,
    help=help_for("python", "triplet", "rfs", "toolchain", "jobs", "verbose", variant=HELP["variant"]),
)
@errors_as_messages
def cross(
    c: Context,
    python: str | None = None,
    triplet: str | None = None,
    variant: str | None = None,
    rfs: str | None = None,
    toolchain: str | None = None,
    jobs: str | None = None,
    verbose: bool = False,
) -> None:
    """Configure and build CPython for the target, out of tree (fetches, builds native, provisions RFS as needed)."""
    s = session_for(
        c, python=python, triplet=triplet, variant=variant, rfs=rfs, toolchain=toolchain, jobs=jobs, verbose=verbose
    )
    pipeline.build_cross(s)


@task(auto_shortflags=False, help=help_for("python", "jobs", "verbose"))
@errors_as_messages
def native(c: Context, python: str | None = None, jobs: str | None = None, verbose: bool = False) -> None:
    """Build the build-host interpreter (once per CPython version, shared by every target and variant)."""
    pipeline.build_native(session_for(c, python=python, jobs=jobs, verbose=verbose))


INSTALL_OPTIONS = (
    "python",
    "triplet",
    "variant",
    "rfs",
    "toolchain",
    "profile",
    "profiles",
    "app",
    "no_strip",
    "verbose",
)


@task(auto_shortflags=False, help=help_for(*INSTALL_OPTIONS))
@errors_as_messages
def install(
    c: Context,
    python: str | None = None,
    triplet: str | None = None,
    variant: str | None = None,
    rfs: str | None = None,
    toolchain: str | None = None,
    profile: str | None = None,
    profiles: str | None = None,
    app: str | None = None,
    no_strip: bool = False,
    verbose: bool = False,
) -> None:
    """Install the built cell into the RFS, board-ready: the `standard` profile (no tests, pyc only), stripped.

    Staged and checked first, merged without sudo, manifest written; `--profile full|minimal` for the others.
    """
    s = session_for(
        c,
        python=python,
        triplet=triplet,
        variant=variant,
        rfs=rfs,
        toolchain=toolchain,
        profile=profile,
        profiles=profiles,
        app=app,
        verbose=verbose,
    )
    pipeline.install(s, strip=not no_strip)


@task(auto_shortflags=False, help=help_for(*INSTALL_OPTIONS))
@errors_as_messages
def board(
    c: Context,
    python: str | None = None,
    triplet: str | None = None,
    variant: str | None = None,
    rfs: str | None = None,
    toolchain: str | None = None,
    profile: str | None = None,
    profiles: str | None = None,
    app: str | None = None,
    no_strip: bool = False,
    verbose: bool = False,
) -> None:
    """Make a profile's board-ready tree in artifacts/board/<cell>/<profile>/ (what `install` merges)."""
    s = session_for(
        c,
        python=python,
        triplet=triplet,
        variant=variant,
        rfs=rfs,
        toolchain=toolchain,
        profile=profile,
        profiles=profiles,
        app=app,
        verbose=verbose,
    )
    print(pipeline.board(s, strip=not no_strip).tree)


@task(auto_shortflags=False, help=help_for("python", "triplet", "variant", "rfs", "toolchain", "verbose"))
@errors_as_messages
def stage(
    c: Context,
    python: str | None = None,
    triplet: str | None = None,
    variant: str | None = None,
    rfs: str | None = None,
    toolchain: str | None = None,
    verbose: bool = False,
) -> None:
    """`make install` the built cell into artifacts/stage/<cell>/ and check it; no RFS is written."""
    s = session_for(c, python=python, triplet=triplet, variant=variant, rfs=rfs, toolchain=toolchain, verbose=verbose)
    print(pipeline.stage(s).stage)


@task(
    auto_shortflags=False,
    help=help_for(
        "python",
        "triplet",
        "variant",
        "rfs",
        "profiles",
        "verbose",
        profile="the install profile the RFS must hold (default: the one its install recorded)",
        app="your application: its modules are imported too, with its directory on the path",
    ),
)
@errors_as_messages
def verify(
    c: Context,
    python: str | None = None,
    triplet: str | None = None,
    variant: str | None = None,
    rfs: str | None = None,
    profile: str | None = None,
    profiles: str | None = None,
    app: str | None = None,
    verbose: bool = False,
) -> None:
    """Run the installed interpreter from the RFS under qemu-user: ssl, zlib, ctypes, sqlite3, TLS, ..., then
    import every installed module (and --app's)."""
    s = session_for(
        c,
        python=python,
        triplet=triplet,
        variant=variant,
        rfs=rfs,
        profile=profile,
        profiles=profiles,
        app=app,
        verbose=verbose,
    )
    pipeline.verify(s, expect_profile=profile is not None)


@task(
    auto_shortflags=False,
    help=help_for(
        "python",
        "triplet",
        "variant",
        "rfs",
        "toolchain",
        "verbose",
        specs='packages as pip names them, space-separated: "pyserial msgpack==1.*"',
        requirements="a file in pip's requirements format (the board's requirements.txt)",
        uninstall="space-separated names of packages to remove (exactly the files their install put there)",
    ),
)
@errors_as_messages
def packages(
    c: Context,
    specs: str | None = None,
    requirements: str | None = None,
    uninstall: str | None = None,
    python: str | None = None,
    triplet: str | None = None,
    variant: str | None = None,
    rfs: str | None = None,
    toolchain: str | None = None,
    verbose: bool = False,
) -> None:
    """Third-party packages for the board: wheels for the target (PyPI's, or built from source with the
    cell's tool-chain), checked, installed into the RFS's site-packages, imported under qemu-user.

    The cell must be installed into the RFS first (`invoke native cross install`).
    """
    s = session_for(c, python=python, triplet=triplet, variant=variant, rfs=rfs, toolchain=toolchain, verbose=verbose)
    pipeline.packages(s, specs=specs, requirements=requirements, uninstall=uninstall)


@task(
    auto_shortflags=False,
    help=help_for(
        "python",
        "triplet",
        "variant",
        "rfs",
        "jobs",
        "verbose",
        quick="smoke run: warm rebuild, unchanged rerun and sizes of one cell on your ccache (no recipe, no cold run)",
        repeat="how many times the cold cell and the recipe's flow each run, interleaved (default 2; 0: matrix only)",
        triplets="the matrix's targets, comma-separated (default arm-linux-gnueabihf,powerpc-linux-gnu; '' for none)",
        variants="the matrix's variants, comma-separated (default default,sections)",
    ),
)
@errors_as_messages
def bench(
    c: Context,
    quick: bool = False,
    repeat: int = 2,
    triplets: str = "arm-linux-gnueabihf,powerpc-linux-gnu",
    variants: str = "default,sections",
    python: str | None = None,
    triplet: str | None = None,
    variant: str | None = None,
    rfs: str | None = None,
    jobs: str | None = None,
    verbose: bool = False,
) -> None:
    """Time the recipe's flow (in-tree, no ccache) against the card's command: cold, warm, unchanged, and a matrix.

    Runs under artifacts/bench/ (its own artifacts and ccache; sources and RFSs are made first,
    outside the clock) and writes artifacts/bench/bench.{json,md}: min/median of each flow and
    the ratios measured in this one run. The full run takes about 75 minutes on 2 cores.
    """
    s = session_for(c, python=python, triplet=triplet, variant=variant, rfs=rfs, jobs=jobs, verbose=verbose)
    pipeline.bench(s, triplets=triplets, variants=variants, repeat=repeat, quick=quick)


@task(auto_shortflags=False, help=help_for("triplet", "toolchain", "verbose"))
@errors_as_messages
def rfs(c: Context, triplet: str | None = None, toolchain: str | None = None, verbose: bool = False) -> None:
    """Provision the default RFS artifacts/rfs/<triplet>: Debian's packages, or `deps` where Debian has none."""
    s = session_for(c, triplet=triplet, toolchain=toolchain, verbose=verbose)
    pipeline.ensure_rfs(s)
    print(s.layout.default_rfs(s.cell.target.triplet))


@task(auto_shortflags=False, help=help_for("triplet", "rfs", "toolchain", "jobs", "verbose"))
@errors_as_messages
def deps(
    c: Context,
    triplet: str | None = None,
    rfs: str | None = None,
    toolchain: str | None = None,
    jobs: str | None = None,
    verbose: bool = False,
) -> None:
    """Cross-build zlib, bzip2, xz, libffi, sqlite, OpenSSL from pinned sources (matrix/deps.toml) into the RFS."""
    s = session_for(c, triplet=triplet, rfs=rfs, toolchain=toolchain, jobs=jobs, verbose=verbose)
    print(pipeline.build_deps(s))


@task(auto_shortflags=False, help=help_for("python", "verbose"))
@errors_as_messages
def fetch(c: Context, python: str | None = None, verbose: bool = False) -> None:
    """Fetch and unpack the pinned CPython source (cache, python.org, Debian source archive)."""
    print(pipeline.fetch_source(session_for(c, python=python, verbose=verbose)))


@task(auto_shortflags=False, help=help_for("python", "triplet", "variant", "rfs", "toolchain", jobs=HELP["jobs"]))
@errors_as_messages
def plan(
    c: Context,
    python: str | None = None,
    triplet: str | None = None,
    variant: str | None = None,
    rfs: str | None = None,
    toolchain: str | None = None,
    jobs: str | None = None,
) -> None:
    """Print what `cross` would run for a cell (configure line, environment, config.site); runs nothing."""
    s = session_for(c, python=python, triplet=triplet, variant=variant, rfs=rfs, toolchain=toolchain, jobs=jobs)
    p = pipeline.plan_cell(s, build=False)
    print(
        f"cell:       {p.cell.id}\nbuild dir:  {p.build_dir}\nRFS:        {s.rfs}"
        f" ({'sysroot' if p.sysroot else '-I/-L'})"
    )
    print("configure: ", " \\\n    ".join(p.configure))
    print("environment:\n" + "\n".join(f"    {k}={v}" for k, v in p.env))
    print("config.site:\n" + "".join(f"    {line}\n" for line in p.config_site.splitlines()))


@task(
    auto_shortflags=False,
    help=help_for(
        "python",
        "triplet",
        "variant",
        "rfs",
        "verbose",
        tests="space-separated regrtest test names, or 'all' (default: the subset in matrix/target-tests.toml)",
        regrtest_args="extra arguments passed through to `python -m test`, e.g. '-v' or '--match test_foo'",
        timeout="regrtest's per-test timeout in seconds (emulation is slow)",
        jobs="regrtest worker processes (default 0: number of CPUs)",
    ),
)
@errors_as_messages
def test_target(
    c: Context,
    tests: str = "",
    regrtest_args: str = "",
    timeout: int = 1200,
    python: str | None = None,
    triplet: str | None = None,
    variant: str | None = None,
    rfs: str | None = None,
    jobs: str | None = None,
    verbose: bool = False,
) -> None:
    """Run CPython's regression tests on the target under qemu-user (binfmt_misc for child processes)."""
    s = session_for(c, python=python, triplet=triplet, variant=variant, rfs=rfs, jobs=jobs, verbose=verbose)
    pipeline.test_target(s, tests=tests, regrtest_args=regrtest_args, timeout=timeout)


@task(
    auto_shortflags=False,
    help={
        "check": "compare against the committed baseline; exit non-zero when a tracked size grew past the threshold",
        "update_baseline": "rewrite the baseline with the cells measured now (deliberately)",
        "baseline": "baseline file (default: matrix/sizes-baseline.json)",
        "threshold": "allowed growth in percent (default: the baseline's threshold_pct, 2; "
        "with --compare it replaces every limit's pct)",
        "startup": "also time each profile's interpreter start-up under qemu-user (python -c pass, median of 5)",
        "compare": "another run's sizes.json: write sizes-diff.{md,json} (per cell, ELF, section, symbol, "
        "profile) and fail when a tracked size grew past its limit (matrix/size-thresholds.toml)",
        "symbols": "also record the ELF files' symbol tables in sizes.json (what --compare diffs; implied by it)",
        "commit": "the commit whose message may justify growth with a `Size-Increase: <why>` trailer, "
        "and that --history records (default: HEAD)",
        "thresholds": "the limits --compare applies (default: matrix/size-thresholds.toml)",
        "history": "add this run's tracked sizes to artifacts/reports/history.jsonl (the HTML report's trend)",
        "verbose": HELP["verbose"],
    },
)
@errors_as_messages
def sizes(
    c: Context,
    check: bool = False,
    update_baseline: bool = False,
    baseline: str = "",
    threshold: str | None = None,
    startup: bool = False,
    compare: str = "",
    symbols: bool = False,
    commit: str = "HEAD",
    thresholds: str = "",
    history: bool = False,
    triplet: str | None = None,
    rfs: str | None = None,
    verbose: bool = False,
) -> None:
    """Size report: every staged cell with lief (built and stripped), every profile's installed footprint.

    Writes artifacts/reports/sizes.{json,md,html}; --check gates against matrix/sizes-baseline.json;
    --compare BASE.json diffs against another run's report, down to the symbol.
    """
    pipeline.size_report(
        session_for(c, triplet=triplet, rfs=rfs, verbose=verbose),
        check=check,
        update_baseline=update_baseline,
        baseline=Path(baseline) if baseline else None,
        threshold=parse_threshold(threshold),
        startup=startup,
        compare_to=Path(compare) if compare else None,
        symbols=symbols,
        commit=commit,
        thresholds=Path(thresholds) if thresholds else None,
        keep_history=history,
    )


@task(
    auto_shortflags=False,
    help={
        "head": "the reports to merge: sizes.json files or directories holding them (comma-separated); "
        "each cell's CI job uploads its own",
        "compare": "the base report (sizes.json) to compare the merged one with, as `sizes --compare`",
        "commit": "the commit measured: its Size-Increase: trailer, and what --history records (default: HEAD)",
        "thresholds": "the limits --compare applies (default: matrix/size-thresholds.toml)",
        "threshold": "replaces every limit's pct",
        "history": "add the merged report's tracked sizes to artifacts/reports/history.jsonl",
        "verbose": HELP["verbose"],
    },
)
@errors_as_messages
def size_diff(
    c: Context,
    head: str,
    compare: str = "",
    commit: str = "HEAD",
    thresholds: str = "",
    threshold: str | None = None,
    history: bool = False,
    verbose: bool = False,
) -> None:
    """Merge size reports measured elsewhere (one per cell), then compare and record them as `sizes` does.

    Writes artifacts/reports/sizes.{json,md,html}, sizes-metrics.txt and, with --compare,
    sizes-diff.{md,json}; fails when a tracked size grew past its limit without a Size-Increase: trailer.
    """
    pipeline.size_diff(
        session_for(c, verbose=verbose),
        heads=[Path(p) for p in head.split(",") if p],
        compare_to=Path(compare) if compare else None,
        commit=commit,
        thresholds=Path(thresholds) if thresholds else None,
        threshold=parse_threshold(threshold),
        keep_history=history,
    )


@task(
    auto_shortflags=False,
    help={
        "tags": "only the cells with one of these nox tags (comma-separated: arm,powerpc,cp313, ...)",
        "cells": "only these cells (comma-separated: cp313-arm-linux-gnueabihf, ...)",
        "check": "write nothing; fail when the files differ from what would be written",
    },
)
@errors_as_messages
def ci(c: Context, tags: str = "", cells: str = "", check: bool = False) -> None:
    """Write .github/workflows/crosspython.yml and .gitlab-ci.yml: a job per matrix cell, then the size diff.

    The cells come from `nox -l --json -s matrix`, the runner and the pinned actions from matrix/ci.toml.
    """
    pipeline.ci_files(
        session_for(c),
        tags=[t for t in tags.split(",") if t],
        cells=[n for n in cells.split(",") if n],
        check=check,
    )


@task(
    auto_shortflags=False,
    help={
        "triplet": "also install this target's tool-chain and qemu (default: every target in matrix/)",
        "dry_run": "only print the Debian packages that would be installed",
        "cxx": "also the targets' C++ compilers (g++-<triplet>), for packages with C++ sources such as numpy",
    },
)
@errors_as_messages
def setup(c: Context, triplet: str | None = None, dry_run: bool = False, cxx: bool = False) -> None:
    """Install the Debian packages needed: make, gcc, pkg-config, ccache, qemu-user, cross tool-chains, ..."""
    s = session_for(c, triplet=triplet)
    targets = [s.cell.target] if triplet else list(s.matrix.targets.values())
    missing = pipeline.setup(s, targets, dry_run=dry_run, cxx=cxx)
    print(
        f"setup: {'would install' if dry_run else 'installed'} {' '.join(missing)}"
        if missing
        else "setup: everything needed is installed"
    )


@task(
    auto_shortflags=False,
    help={
        "unit": "only the fast unit tests (no cross build)",
        "pytest_args": "extra arguments for pytest, e.g. '-k config_site'",
        "no_lint": "skip ruff and mypy (they run first otherwise)",
    },
)
def test(c: Context, unit: bool = False, pytest_args: str = "", no_lint: bool = False) -> None:
    """Run the test suite: ruff and mypy, unit tests, then real cross builds verified under qemu."""
    steps: list[list[str]] = []
    if not no_lint:
        # Lint and types first: they take seconds, the builds take minutes.
        steps += [
            [sys.executable, "-m", "ruff", "check", "."],
            [sys.executable, "-m", "ruff", "format", "--check", "."],
            [sys.executable, "-m", "mypy"],
        ]
    pytest = [sys.executable, "-m", "pytest", "tests"]
    if unit:
        pytest += ["-m", "not integration"]
    steps.append(pytest + pytest_args.split())
    for cmd in steps:
        print("$ " + " ".join(cmd), flush=True)
        code = subprocess.call(cmd, cwd=PROJECT_ROOT)
        if code == 5 and cmd is steps[-1]:
            raise Exit("pytest collected no tests: that is a failure here", code=5)
        if code:
            raise Exit(code=code)


@task(auto_shortflags=False)
def cells(c: Context) -> None:
    """List the matrix: versions, targets, variants and the cell ids they make."""
    matrix = load_matrix()
    data: dict[str, Any] = {
        "versions": {k: v.full for k, v in matrix.versions.items()},
        "targets": sorted(matrix.targets),
        "variants": {k: v.description for k, v in matrix.variants.items()},
    }
    print(json.dumps(data, indent=2))
    for version in matrix.versions:
        for triplet in matrix.targets:
            for variant in matrix.variants:
                print(matrix.cell(python=version, triplet=triplet, variant=variant).id)


@task(auto_shortflags=False)
@errors_as_messages
def lock(c: Context) -> None:
    """Pin requirements.txt, with hashes, into requirements.lock (resolved by each host Python 3.10-3.13 found)."""
    from crosspython.fetch.pylock import write_lock

    pythons = [Path(p) for p in sorted(glob.glob(str(Path.home() / ".pyenv/versions/3.1[0-3].*/bin/python")))]
    pythons += [Path(p) for v in ("3.10", "3.11", "3.12", "3.13") if (p := shutil.which(f"python{v}"))]
    versions = write_lock(pythons, PROJECT_ROOT / "requirements.txt", PROJECT_ROOT / "requirements.lock")
    print(f"requirements.lock written for Python {', '.join(versions)}")
