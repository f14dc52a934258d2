"""The size regression gate: tracked stripped sizes against matrix/sizes-baseline.json.

The policy lives here, and only here: what is tracked, the threshold that applies (the flag,
else the baseline's, else 2 %), and what fails.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import pythontree
from ..core.errors import ConfigError, SizeRegression
from ..core.files import read_json, write_json_atomic
from ..core.layout import PROJECT_ROOT
from ..matrix import Matrix, read_toml
from .footprint import Footprint
from .measure import Measurement

BASELINE = PROJECT_ROOT / "matrix" / "sizes-baseline.json"
THRESHOLDS = PROJECT_ROOT / "matrix" / "size-thresholds.toml"
DEFAULT_THRESHOLD = 2.0
Tracked = dict[str, dict[str, int]]  # cell -> metric -> bytes


@dataclass(frozen=True)
class Baseline:
    """matrix/sizes-baseline.json: the accepted sizes per cell and the growth allowed, in percent."""

    cells: Tracked
    threshold_pct: float = DEFAULT_THRESHOLD

    def to_json(self) -> dict[str, Any]:
        return {"threshold_pct": self.threshold_pct, "cells": dict(sorted(self.cells.items()))}


def load_baseline(path: Path) -> Baseline:
    """The baseline at `path`, validated: a bad one fails before anything is measured."""
    data = read_json(path, what="size baseline", hint="write one with `invoke sizes --update-baseline`")
    if not isinstance(data, dict) or not isinstance(data.get("cells"), dict):
        raise ConfigError(f"{path}: expected {{'threshold_pct': N, 'cells': {{...}}}}")
    threshold = data.get("threshold_pct", DEFAULT_THRESHOLD)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold < 0:
        raise ConfigError(f"{path}: threshold_pct must be a number >= 0, got {threshold!r}")
    cells: Tracked = {}
    for cell, metrics in data["cells"].items():
        if not isinstance(metrics, dict):
            raise ConfigError(f"{path}: cells.{cell} must be an object of sizes")
        for metric, value in metrics.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{path}: cells.{cell}.{metric!r} must be a byte count, got {value!r}")
        cells[cell] = dict(metrics)
    return Baseline(cells=cells, threshold_pct=float(threshold))


@dataclass(frozen=True)
class Limit:
    """How much a tracked size may grow: it fails when it grew by more than `pct` percent *and*
    more than `bytes` bytes (a few bytes on a small module are not a regression, nor a small
    percentage of a large tree that is still many kilobytes)."""

    items: str  # fnmatch pattern over the tracked names ("interpreter (stripped)", "_ssl (stripped)", ...)
    pct: float
    bytes: int
    why: str = ""


@dataclass(frozen=True)
class Limits:
    """matrix/size-thresholds.toml: the limits, tried in order; the first whose pattern matches applies."""

    limits: tuple[Limit, ...]

    def for_item(self, item: str) -> Limit:
        for limit in self.limits:
            if fnmatch.fnmatchcase(item, limit.items):
                return limit
        return Limit(items="*", pct=DEFAULT_THRESHOLD, bytes=0)

    def with_pct(self, pct: float | None) -> Limits:
        """Every limit's percentage replaced (`--threshold`); the byte floors stay."""
        if pct is None:
            return self
        return Limits(tuple(Limit(items=x.items, pct=pct, bytes=x.bytes, why=x.why) for x in self.limits))


def load_limits(path: Path = THRESHOLDS) -> Limits:
    """The limits at `path`, validated: a bad file fails before anything is measured."""
    if not path.is_file():
        raise ConfigError(f"no size limits at {path}", hint="see matrix/size-thresholds.toml for the format")
    data = read_toml(path)
    raw = data.get("limits")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{path}: expected one or more [[limits]] tables")
    limits = []
    for i, entry in enumerate(raw):
        where = f"{path}: limits[{i}]"
        if not isinstance(entry, dict) or set(entry) - {"items", "pct", "bytes", "why"}:
            raise ConfigError(f"{where}: keys are items, pct, bytes and why, got {sorted(entry)}")
        items, pct, size, why = entry.get("items"), entry.get("pct"), entry.get("bytes", 0), entry.get("why", "")
        if not isinstance(items, str) or not items:
            raise ConfigError(f"{where}.items must be a pattern of tracked names, got {items!r}")
        if isinstance(pct, bool) or not isinstance(pct, (int, float)) or pct < 0:
            raise ConfigError(f"{where}.pct must be a number >= 0, got {pct!r}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ConfigError(f"{where}.bytes must be a byte count >= 0, got {size!r}")
        if not isinstance(why, str):
            raise ConfigError(f"{where}.why must be text, got {why!r}")
        limits.append(Limit(items=items, pct=float(pct), bytes=size, why=why))
    return Limits(tuple(limits))


def tracked(m: Measurement, required: tuple[str, ...]) -> dict[str, int]:
    """The numbers the gate watches for one cell: stripped file sizes (independent of build paths,
    unlike debug info)."""
    if not m.stripped:
        raise ValueError(f"{m.cell}: the gate tracks stripped measurements only")
    out = {"interpreter (stripped)": m.total("interpreter")}
    if m.total("libpython"):
        out["libpython (stripped)"] = m.total("libpython")
    for e in m.elves:
        name = pythontree.module_name(e.path)
        if e.role == "extension" and name in required:
            out[f"{name} (stripped)"] = e.file_size
    out["extension modules total (stripped)"] = m.total("extension")
    out["installed tree total (stripped)"] = m.tree_bytes
    return out


def current_tracked(
    measurements: list[Measurement], matrix: Matrix, footprints: list[Footprint] | None = None
) -> Tracked:
    """What the gate compares: per cell, its stripped ELF sizes and each measured profile's installed total."""
    current = {m.cell: tracked(m, matrix.version(m.python).required_modules) for m in measurements if m.stripped}
    for f in footprints or []:
        if not f.for_app:  # an application's closure is the application's, not the profile's
            current.setdefault(f.cell, {})[f"installed total (profile {f.profile})"] = f.total
    return current


@dataclass(frozen=True)
class GateRow:
    cell: str
    metric: str
    baseline: int
    current: int

    @property
    def growth(self) -> float:
        return (self.current - self.baseline) / self.baseline * 100 if self.baseline else 0.0


@dataclass(frozen=True)
class GateResult:
    limit: float  # the growth allowed, in percent
    grew: list[GateRow] = field(default_factory=list)
    compared: list[GateRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check(current: Tracked, baseline: Baseline, threshold: float | None = None) -> GateResult:
    """Compare; cells of the baseline not built now are noted, not failed. `threshold` overrides the baseline's."""
    result = GateResult(limit=float(threshold if threshold is not None else baseline.threshold_pct))
    for cell, metrics in sorted(baseline.cells.items()):
        if cell not in current:
            result.notes.append(f"{cell}: not built here, not checked")
            continue
        for metric, base in metrics.items():
            if metric not in current[cell]:
                result.notes.append(f"{cell}: {metric} is gone")
                continue
            row = GateRow(cell, metric, int(base), current[cell][metric])
            result.compared.append(row)
            if row.growth > result.limit:
                result.grew.append(row)
    for cell in sorted(set(current) - set(baseline.cells)):
        result.notes.append(f"{cell}: no baseline (add it with --update-baseline)")
    return result


def enforce(result: GateResult, baseline_path: Path, say: Callable[[str], None]) -> None:
    """Print the notes; raise SizeRegression when nothing could be compared or something grew too much."""
    for note in result.notes:
        say(f"    note: {note}")
    if not result.compared:
        raise SizeRegression(
            f"nothing to check: no cell in {baseline_path} is built here",
            hint="build one of its cells (`invoke cross stage`), or add this one with --update-baseline",
        )
    if result.grew:
        raise SizeRegression(
            f"{len(result.grew)} tracked size(s) grew more than {result.limit} % over {baseline_path}:\n"
            + gate_table(result.grew),
            hint="if the growth is intended, rewrite the baseline: `invoke sizes --update-baseline`",
        )
    say(f"size check passed: {len(result.compared)} tracked sizes within {result.limit} % of {baseline_path}")


def gate_table(rows: list[GateRow]) -> str:
    width = max([len(r.cell) + len(r.metric) + 3 for r in rows] + [10])
    lines = [f"    {'cell / file':<{width}} {'baseline':>12} {'current':>12} {'growth':>8}"]
    lines += [
        f"    {r.cell + ' / ' + r.metric:<{width}} {r.baseline:>12,} {r.current:>12,} {r.growth:>+7.2f}%" for r in rows
    ]
    return "\n".join(lines)


def updated_baseline(current: Tracked, old: Baseline | None) -> Baseline:
    """`old` with the cells measured now replaced (cells not built here are kept)."""
    cells = dict(old.cells) if old else {}
    cells.update(current)
    return Baseline(cells=cells, threshold_pct=old.threshold_pct if old else DEFAULT_THRESHOLD)


def write_baseline(path: Path, baseline: Baseline) -> None:
    write_json_atomic(path, baseline.to_json())
