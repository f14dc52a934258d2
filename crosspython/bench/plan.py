"""What a benchmark runs, in what order, and what its times mean (pure: no process is started).

Absolute times on shared 2-core machines drift by tens of percent from one hour to the next; the
ratios of runs made back to back do not. So the runs are interleaved (recipe, card, recipe, card
...) and the headline is made of ratios taken within one benchmark.
"""

from __future__ import annotations

import shlex
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# The flows (see README, `invoke bench`):
#   recipe  the recipe's flow by hand: in the source tree, native build per cell, no ccache
#   cold    the card's command, empty ccache and empty artifacts except the downloads
#   warm    the card's command again after its build directories were removed (ccache filled)
#   noop    the card's command once more, nothing changed
#   sizes   `invoke sizes` over every staged cell
FLOWS = ("recipe", "cold", "warm", "noop", "sizes")


@dataclass(frozen=True)
class BenchRun:
    """One timed run: a flow over one cell ("cell") or over the matrix's cells ("matrix")."""

    flow: str
    scope: str
    cells: tuple[str, ...]
    round: int = 1

    @property
    def name(self) -> str:
        return f"{self.flow}-{self.scope}-r{self.round}"


def plan_runs(cell: str, matrix: Sequence[str], *, repeat: int, quick: bool) -> list[BenchRun]:
    """The runs, in the order they happen.

    The single cell alternates cold and recipe `repeat` times (each pair measured minutes apart,
    under the same load); warm reuses the last cold run's ccache, noop follows it. The matrix is
    run once each way (it takes the better part of an hour); repeat=0 runs the matrix alone.
    --quick: warm, noop and sizes only,
    on the ccache this project already has (a smoke check; no recipe, nothing cold).
    """
    if repeat < 0 or (repeat == 0 and len(matrix) < 2):
        raise ValueError("repeat must be at least 1 (0: the matrix alone, which needs two cells or more)")
    single = (cell,)
    if quick:
        return [BenchRun("warm", "cell", single), BenchRun("noop", "cell", single), BenchRun("sizes", "matrix", ())]
    runs: list[BenchRun] = []
    for i in range(1, repeat + 1):
        # crosspython's first: a failure of the tool shows before the recipe's ten minutes
        runs += [BenchRun("cold", "cell", single, i), BenchRun("recipe", "cell", single, i)]
    if repeat:
        runs += [BenchRun("warm", "cell", single), BenchRun("noop", "cell", single)]
    if len(matrix) > 1:
        cells = tuple(matrix)
        runs += [BenchRun("cold", "matrix", cells), BenchRun("recipe", "matrix", cells)]
        runs += [BenchRun("noop", "matrix", cells)]
    runs.append(BenchRun("sizes", "matrix", ()))
    return runs


@dataclass(frozen=True)
class Timing:
    """What one run took: wall time, its steps, and (for crosspython's flows) the time of the
    configure/make commands it ran, read from its own logs."""

    run: BenchRun
    seconds: float
    steps: dict[str, float] = field(default_factory=dict)
    build_commands: float | None = None

    @property
    def overhead(self) -> float | None:
        """Share of the wall time not spent in configure or make (None when not known)."""
        if self.build_commands is None or self.seconds <= 0:
            return None
        return max(0.0, self.seconds - self.build_commands) / self.seconds


# ---- crosspython's own logs: "$ [ENV=V ...] command args" ... "# exit N after 1m02.3s"

BUILD_PROGRAMS = ("configure", "make")


def parse_duration(text: str) -> float:
    """'1m02.3s' or '12.5s' (core.runner's format) in seconds."""
    text = text.strip()
    if not text.endswith("s"):
        raise ValueError(f"not a duration: {text!r}")
    minutes, _, seconds = text[:-1].rpartition("m")
    return (int(minutes) * 60 if minutes else 0) + float(seconds)


def program_of(command: str) -> str:
    """The program a logged command line runs (after any leading NAME=value settings), by base name."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    for word in words:
        name, eq, _ = word.partition("=")
        if eq and name.isidentifier():
            continue
        return word.rsplit("/", 1)[-1]
    return ""


def command_times(log_text: str) -> list[tuple[str, float]]:
    """(program, seconds) of each command a step log records as finished."""
    found: list[tuple[str, float]] = []
    current = ""
    for line in log_text.splitlines():
        if line.startswith("$ "):
            current = program_of(line[2:])
        elif line.startswith("# exit ") and " after " in line and current:
            found.append((current, parse_duration(line.rsplit(" after ", 1)[1])))
            current = ""
    return found


def step_seconds(logs: Iterable[tuple[str, str]]) -> dict[str, float]:
    """Seconds spent in the commands of each step log, by the log's name ("<scope>/<step>")."""
    out: dict[str, float] = {}
    for name, text in logs:
        seconds = sum(s for _, s in command_times(text))
        if seconds >= 0.05:
            out[name] = seconds
    return out


def build_command_seconds(logs: Iterable[str]) -> float:
    """Time spent in configure and make across step logs."""
    return sum(s for text in logs for program, s in command_times(text) if program in BUILD_PROGRAMS)


# ---- summary


@dataclass(frozen=True)
class Stat:
    runs: int
    min: float
    median: float


def stats(timings: Sequence[Timing], flow: str, scope: str) -> Stat | None:
    seconds = [t.seconds for t in timings if t.run.flow == flow and t.run.scope == scope]
    if not seconds:
        return None
    return Stat(runs=len(seconds), min=min(seconds), median=statistics.median(seconds))


@dataclass(frozen=True)
class Goal:
    what: str
    value: float | None  # None: not measured in this run
    limit: float
    unit: str  # "x" (a ratio), "s" or "%"

    @property
    def met(self) -> bool | None:
        return None if self.value is None else self.value <= self.limit


def _ratio(a: Stat | None, b: Stat | None) -> float | None:
    return a.median / b.median if a and b and b.median > 0 else None


def goals(timings: Sequence[Timing]) -> list[Goal]:
    """The issue's goals, as ratios of medians measured in this run."""
    recipe, cold = stats(timings, "recipe", "cell"), stats(timings, "cold", "cell")
    warm, noop = stats(timings, "warm", "cell"), stats(timings, "noop", "cell")
    # The tool's overhead over a build it does (cold). A warm rebuild's few seconds of copying,
    # checking and merging weigh more against its short make: it is reported beside, not judged.
    overheads = [o for t in timings if t.run.flow == "cold" and (o := t.overhead) is not None]
    noop_matrix, sizes = stats(timings, "noop", "matrix"), stats(timings, "sizes", "matrix")
    return [
        Goal("cold cell / recipe's flow", _ratio(cold, recipe), 0.8, "x"),
        Goal(
            "matrix, cold / recipe's flow",
            _ratio(stats(timings, "cold", "matrix"), stats(timings, "recipe", "matrix")),
            0.35,
            "x",
        ),
        Goal("warm-ccache rebuild / cold", _ratio(warm, cold), 0.25, "x"),
        Goal("unchanged rerun of a cell", noop.median if noop else None, 0.5, "s"),
        Goal("unchanged rerun of the matrix", noop_matrix.median if noop_matrix else None, 10.0, "s"),
        Goal("tool overhead (cold runs)", max(overheads) * 100 if overheads else None, 5.0, "%"),
        Goal("`invoke sizes` of every staged cell", sizes.median if sizes else None, 2.0, "s"),
    ]


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "not run"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "%":
        return f"{value:.1f} %"
    return f"{value:.2f} s" if value < 10 else f"{value:.0f} s"


def headline(timings: Sequence[Timing]) -> str:
    """One line: the ratios that matter, as measured."""
    parts = [f"{g.what}: {_fmt(g.value, g.unit)}" for g in goals(timings)[:3] if g.value is not None]
    return "; ".join(parts) if parts else "no ratio measured (--quick runs no recipe and nothing cold)"


def to_markdown(timings: Sequence[Timing], machine: dict[str, str]) -> str:
    """The benchmark's table: every flow's min/median, the goals, and the steps of each run."""
    lines = [
        "## Benchmark: the recipe's flow and crosspython's, same machine, same run",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()),
        "",
        f"**{headline(timings)}**",
        "",
        "| flow | scope | runs | min | median |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    seen: list[tuple[str, str]] = []
    for t in timings:
        key = (t.run.flow, t.run.scope)
        if key not in seen:
            seen.append(key)
    for flow, scope in seen:
        s = stats(timings, flow, scope)
        assert s is not None
        lines.append(f"| {flow} | {scope} | {s.runs} | {_fmt(s.min, 's')} | {_fmt(s.median, 's')} |")
    lines += ["", "| goal | measured | limit | met |", "| --- | ---: | ---: | --- |"]
    for g in goals(timings):
        met = "—" if g.met is None else ("yes" if g.met else "**no**")
        lines.append(f"| {g.what} | {_fmt(g.value, g.unit)} | ≤ {_fmt(g.limit, g.unit)} | {met} |")
    lines += ["", "Where the time went (seconds per step; the card's steps from its own logs):", ""]
    for t in timings:
        if t.steps:
            steps = ", ".join(f"{k} {v:.1f}" for k, v in t.steps.items())
            extra = ""
            if t.build_commands is not None and t.overhead is not None:
                extra = f"; configure+make {t.build_commands:.1f}, the rest {100 * t.overhead:.1f} %"
            lines.append(f"- {t.run.name} ({t.seconds:.1f} s{extra}): {steps}")
    return "\n".join(lines) + "\n"


def to_json(timings: Sequence[Timing], machine: dict[str, str]) -> dict[str, object]:
    return {
        "machine": machine,
        "runs": [
            {
                "flow": t.run.flow,
                "scope": t.run.scope,
                "round": t.run.round,
                "cells": list(t.run.cells),
                "seconds": round(t.seconds, 3),
                "steps": {k: round(v, 3) for k, v in t.steps.items()},
                "build_commands": None if t.build_commands is None else round(t.build_commands, 3),
            }
            for t in timings
        ],
        "goals": [
            {"what": g.what, "value": g.value, "limit": g.limit, "unit": g.unit, "met": g.met} for g in goals(timings)
        ],
    }
