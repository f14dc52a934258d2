"""Runs a benchmark plan (plan.py): the recipe's flow and the card's command, timed, side by side.

Everything happens under artifacts/bench/: the recipe's flow in recipe/<cell>/ (its own source
tree), the card's command in card/artifacts/ (a second artifacts directory, given to the tasks as
INVOKE_CROSSPYTHON_ARTIFACTS) with its own ccache in card/ccache/. Sources and RFSs are made in
the user's artifacts first, outside any clock; each timed run that installs gets a fresh copy of
its RFS. The downloads are shared (linked), as the issue's "cold" allows.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..core.errors import ConfigError
from ..core.layout import PROJECT_ROOT
from ..core.runner import Runner
from ..matrix import DEFAULT_VARIANT, Cell
from ..session import Session
from . import plan as bench_plan
from .plan import BenchRun, Timing
from .recipe import plan_recipe, run_recipe


@dataclass(frozen=True)
class BenchDirs:
    root: Path  # artifacts/bench

    @property
    def card_project(self) -> Path:
        """Stands for a fresh clone: its artifacts/ sit where a clone's would (ccache's base
        directory is the project, so that relative paths and hits are the same as the user's)."""
        return self.root / "card"

    @property
    def card_artifacts(self) -> Path:
        return self.card_project / "artifacts"

    @property
    def card_ccache(self) -> Path:
        return self.card_project / "ccache"

    def card_rfs(self, cell: Cell) -> Path:
        """The RFS a cell of the card's runs installs into: one per variant (two variants of one
        version are two installs of the same files), the default variant's where the card's
        default RFS would be: the compile lines name the RFS (--sysroot), and ccache (relative
        to its base directory) then hashes the same text as the user's own builds."""
        top = "rfs" if cell.variant.name == DEFAULT_VARIANT else f"rfs-{cell.variant.name}"
        return self.card_artifacts / top / cell.target.triplet

    def recipe_work(self, cell: Cell) -> Path:
        return self.root / "recipe" / cell.id

    @property
    def logs(self) -> Path:
        return self.root / "logs"


def machine_facts(jobs: int) -> dict[str, str]:
    """What the figures were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpu": model or platform.processor() or "unknown",
        "cores": str(os.cpu_count() or 1),
        "jobs": str(jobs),
        "kernel": platform.release(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit or "unknown",
    }


def _session_for(session: Session, cell: Cell) -> Session:
    rfs = session.rfs if not session.rfs_is_default else session.layout.default_rfs(cell.target.triplet)
    return replace(session, cell=cell, rfs=rfs)


def prepare(session: Session, cells: list[Cell]) -> dict[str, Path]:
    """Sources fetched and each triplet's RFS made, in the user's artifacts, before any clock runs."""
    from .. import pipeline

    triplets = {c.target.triplet for c in cells}
    if not session.rfs_is_default and len(triplets) > 1:
        raise ConfigError(
            f"--rfs gives one RFS, but the benchmark's cells target {', '.join(sorted(triplets))}",
            hint="leave --rfs out (each triplet's default RFS is used) or bench one triplet (--triplets)",
        )
    rfs: dict[str, Path] = {}
    for cell in cells:
        cell_session = _session_for(session, cell)
        pipeline.fetch_source(cell_session)
        if cell.target.triplet not in rfs:
            rfs[cell.target.triplet] = pipeline.ensure_rfs(cell_session)
    return rfs


def _copy_rfs(source: Path, dest: Path) -> None:
    """A fresh copy of an RFS: links as links, mtimes kept (confcache's key reads them)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, dest, symlinks=True)


def card_env(dirs: BenchDirs, *, own_ccache: bool) -> dict[str, str]:
    """What the card's command gets beside the user's environment: the bench's artifacts, and
    its own ccache unless the run reuses the user's (--quick). The user's other settings stay, as
    when they type the command; --rfs, given explicitly, wins over $RFS."""
    env = {"INVOKE_CROSSPYTHON_ARTIFACTS": str(dirs.card_artifacts)}
    if own_ccache:
        env["CCACHE_DIR"] = str(dirs.card_ccache)
    return env


def card_command(cell: Cell, rfs: Path, jobs: int) -> list[str]:
    """The card's command for one cell, as a user types it."""
    return [
        sys.executable,
        "-m",
        "invoke",
        "native",
        f"--jobs={jobs}",  # install takes no --jobs; given once, it reaches cross too (cli.py)
        "cross",
        "install",
        f"--python={cell.version.short}",
        f"--triplet={cell.target.triplet}",
        f"--variant={cell.variant.name}",
        f"--rfs={rfs}",
    ]


def reset_card(dirs: BenchDirs, downloads: Path, flow: str) -> None:
    """cold: nothing but the downloads (and an empty ccache); warm: the unpacked sources, the
    ccache and the kept configure answers (cache/) stay, every build, stage and install goes."""
    artifacts = dirs.card_artifacts
    if flow == "cold":
        for path in (artifacts, dirs.card_ccache):
            if path.exists():
                shutil.rmtree(path)
        artifacts.mkdir(parents=True)
        (artifacts / "downloads").symlink_to(downloads)
    elif flow == "warm":
        artifacts.mkdir(parents=True, exist_ok=True)
        for entry in artifacts.iterdir():
            if entry.name in ("downloads", "src", "cache"):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        if not (artifacts / "downloads").exists():
            (artifacts / "downloads").symlink_to(downloads)


def run_card(
    bench_run: BenchRun,
    cells: dict[str, Cell],
    *,
    dirs: BenchDirs,
    rfs: dict[str, Path],
    downloads: Path,
    jobs: int,
    runner: Runner,
    own_ccache: bool,
) -> Timing:
    """The card's command, once per cell of the run (the matrix: one after the other)."""
    reset_card(dirs, downloads, bench_run.flow)
    if bench_run.flow in ("cold", "warm"):
        for cell_id in bench_run.cells:
            cell = cells[cell_id]
            _copy_rfs(rfs[cell.target.triplet], dirs.card_rfs(cell))
    env = card_env(dirs, own_ccache=own_ccache)
    steps: dict[str, float] = {}
    started = time.monotonic()
    with runner.step("bench", bench_run.name) as step:
        for cell_id in bench_run.cells:
            cell = cells[cell_id]
            result = step.run(card_command(cell, dirs.card_rfs(cell), jobs), cwd=PROJECT_ROOT, env=env)
            steps[cell_id] = result.elapsed
    seconds = time.monotonic() - started
    build = None
    if bench_run.flow in ("cold", "warm"):
        # Every log was written by this run (the reset removed the earlier ones): in the order written.
        root = dirs.card_artifacts / "logs"
        logs = sorted(root.rglob("*.log"), key=lambda p: p.stat().st_mtime)
        texts = [(str(p.relative_to(root).with_suffix("")), p.read_text(errors="replace")) for p in logs]
        build = bench_plan.build_command_seconds(text for _, text in texts)
        steps = bench_plan.step_seconds(texts)
    return Timing(run=bench_run, seconds=seconds, steps=steps, build_commands=build)


def run_sizes(bench_run: BenchRun, *, dirs: BenchDirs, runner: Runner) -> Timing:
    """`invoke sizes` over every cell the card's runs staged."""
    env = card_env(dirs, own_ccache=False)
    with runner.step("bench", bench_run.name) as step:
        result = step.run([sys.executable, "-m", "invoke", "sizes"], cwd=PROJECT_ROOT, env=env)
    return Timing(run=bench_run, seconds=result.elapsed)


def run_recipe_flow(
    bench_run: BenchRun, session: Session, cells: dict[str, Cell], *, dirs: BenchDirs, rfs: dict[str, Path]
) -> Timing:
    """The recipe's flow for each cell of the run: each builds its own native interpreter."""
    from ..pipeline import plan_cell

    steps: dict[str, float] = {}
    started = time.monotonic()
    for cell_id in bench_run.cells:
        cell = cells[cell_id]
        cell_session = replace(session, cell=cell, rfs=rfs[cell.target.triplet], rfs_is_default=False)
        cross = plan_cell(cell_session, build=False, use_ccache=False)
        tarball = session.layout.downloads / cell.version.tarball
        work = dirs.recipe_work(cell)
        recipe = plan_recipe(cross, work=work, tarball=tarball, jobs=session.jobs)
        cell_steps = run_recipe(recipe, session.runner, f"bench-{bench_run.name}-{cell.id}")
        shutil.rmtree(work)  # a cell's tree is ~1 GB; the next run unpacks its own
        for name, seconds in cell_steps.items():
            key = name if len(bench_run.cells) == 1 else f"{cell.id}:{name}"
            steps[key] = steps.get(key, 0.0) + seconds
    return Timing(run=bench_run, seconds=time.monotonic() - started, steps=steps)


def run_bench(session: Session, *, matrix_cells: list[Cell], repeat: int, quick: bool) -> dict[str, Path]:
    """Prepare, run every planned run, write artifacts/bench/bench.{json,md}; returns their paths."""
    dirs = BenchDirs(session.layout.root / "bench")
    cells = {c.id: c for c in [session.cell, *matrix_cells]}
    runs = bench_plan.plan_runs(session.cell.id, [c.id for c in matrix_cells], repeat=repeat, quick=quick)
    rfs = prepare(session, list(cells.values()))
    say = session.runner.say
    say(f"bench: {len(runs)} runs: " + ", ".join(r.name for r in runs))
    bench_runner = replace(session.runner, log_root=dirs.logs)
    recipe_session = replace(session, runner=bench_runner)
    timings: list[Timing] = []
    for bench_run in runs:
        if bench_run.flow == "recipe":
            timing = run_recipe_flow(bench_run, recipe_session, cells, dirs=dirs, rfs=rfs)
        elif bench_run.flow == "sizes":
            timing = run_sizes(bench_run, dirs=dirs, runner=bench_runner)
        else:
            timing = run_card(
                bench_run,
                cells,
                dirs=dirs,
                rfs=rfs,
                downloads=session.layout.downloads,
                jobs=session.jobs,
                runner=bench_runner,
                own_ccache=not quick,
            )
        timings.append(timing)
        say(f"bench: {bench_run.name}: {timing.seconds:.1f} s")
    machine = machine_facts(session.jobs)
    paths = {"json": dirs.root / "bench.json", "markdown": dirs.root / "bench.md"}
    paths["json"].write_text(json.dumps(bench_plan.to_json(timings, machine), indent=2) + "\n")
    markdown = bench_plan.to_markdown(timings, machine)
    paths["markdown"].write_text(markdown)
    say(markdown)
    say("bench: " + ", ".join(str(p) for p in paths.values()))
    return paths
