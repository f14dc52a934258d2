"""`invoke sizes --compare BASE.json`: what changed in bytes since another report, down to the symbol.

Pure: two sizes.json documents in, a SizeDiff out, rendered as Markdown and JSON. Per cell
present on both sides: the tracked sizes (judged by the limits of matrix/size-thresholds.toml),
each stripped ELF file by section, the symbols that grew or shrank most (from the symbol tables
of the ELF files as built, read with `--symbols`), and each install profile's footprint by
category. Cells present on one side only are listed, not failed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..core.files import read_json
from .gate import Limits

SECTIONS = ("text", "rodata", "data", "bss")
TOP_SYMBOLS = 10
TOP_FILES = 12


def load_report(path: Path) -> dict[str, Any]:
    """A sizes.json written by `invoke sizes`, checked for what the comparison reads."""
    data = read_json(path, what="size report", hint="give the sizes.json of an earlier `invoke sizes` run")
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("elves"), list)
        or not isinstance(data.get("totals"), list)
    ):
        raise ConfigError(f"{path} is not a report of `invoke sizes` (no 'elves' and 'totals')")
    return data


@dataclass(frozen=True)
class Change:
    """One number on both sides (0 where a side has none)."""

    what: str
    base: int
    head: int

    @property
    def delta(self) -> int:
        return self.head - self.base

    @property
    def pct(self) -> float | None:
        return (self.head - self.base) / self.base * 100 if self.base else None


@dataclass(frozen=True)
class Tracked:
    """A tracked size (the gate's names: `interpreter (stripped)`, `installed total (profile standard)` ...)."""

    change: Change
    limit_pct: float
    limit_bytes: int

    @property
    def over(self) -> bool:
        """Grew past its limit: by more than limit_bytes and more than limit_pct (a new item never is)."""
        c = self.change
        return c.base > 0 and c.delta > self.limit_bytes and (c.pct or 0.0) > self.limit_pct


@dataclass(frozen=True)
class SymbolChange:
    elf: str
    name: str
    file: str
    section: str
    base: int
    head: int

    @property
    def delta(self) -> int:
        return self.head - self.base


@dataclass(frozen=True)
class ElfChange:
    """One ELF file, stripped: its size and its sections."""

    path: str
    file: Change
    sections: tuple[Change, ...]


@dataclass(frozen=True)
class CellDiff:
    cell: str
    tracked: tuple[Tracked, ...]
    elves: tuple[ElfChange, ...]  # the stripped ELF files that changed, largest change first
    elves_only_base: tuple[str, ...]
    elves_only_head: tuple[str, ...]
    grew: tuple[SymbolChange, ...]
    shrank: tuple[SymbolChange, ...]
    footprints: tuple[tuple[str, tuple[Change, ...]], ...]  # (profile, categories that changed)
    symbols_note: str = ""  # why no symbols are compared, when they are not


@dataclass(frozen=True)
class SizeDiff:
    base: str  # what the base report is (its path)
    cells: tuple[CellDiff, ...]
    only_base: tuple[str, ...]
    only_head: tuple[str, ...]
    reason: str = ""  # the head commit's Size-Increase trailer

    @property
    def over(self) -> list[tuple[str, Tracked]]:
        return [(c.cell, t) for c in self.cells for t in c.tracked if t.over]

    @property
    def accepted(self) -> bool:
        """Growth past a limit, justified by the head commit's trailer."""
        return bool(self.over) and bool(self.reason)

    @property
    def failed(self) -> bool:
        return bool(self.over) and not self.reason


def _cells(report: dict[str, Any]) -> set[str]:
    return {str(t["cell"]) for t in report["totals"]}


def _tracked(report: dict[str, Any]) -> dict[str, dict[str, int]]:
    """The report's tracked sizes: recorded since schema 2; derived from its totals before."""
    if isinstance(report.get("tracked"), dict):
        return {c: {m: int(v) for m, v in ms.items()} for c, ms in report["tracked"].items()}
    out: dict[str, dict[str, int]] = {}
    for t in report["totals"]:
        if t.get("stripped"):
            out[t["cell"]] = {
                "interpreter (stripped)": int(t["interpreter"]),
                "extension modules total (stripped)": int(t["extensions"]),
                "installed tree total (stripped)": int(t["tree"]),
            }
    return out


def _stripped_elves(report: dict[str, Any], cell: str) -> dict[str, dict[str, Any]]:
    return {e["path"]: e for e in report["elves"] if e["cell"] == cell and e.get("stripped")}


def _symbol_sizes(report: dict[str, Any], cell: str) -> dict[tuple[str, str], tuple[int, str, str]] | None:
    """(ELF, name) -> (bytes, section, source files) of a cell's symbols; None when the report has
    none for it. By name, not by name and file: a data symbol's file is known in one build and
    not in another (its neighbours move), and a symbol must not look removed and added for that;
    the static symbols of one name in several files are summed, and their files named together."""
    tables = (report.get("symbols") or {}).get(cell)
    if not tables:
        return None
    out: dict[tuple[str, str], tuple[int, str, str]] = {}
    for elf, symbols in tables.items():
        for name, size, section, file in symbols:
            key = (elf, name)
            before, _, files = out.get(key, (0, section, ""))
            names = sorted({*files.split(", "), file} - {""})
            out[key] = (before + int(size), section, ", ".join(names))
    return out


def _footprints(report: dict[str, Any], cell: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for f in report.get("footprints") or []:
        if f["cell"] == cell and "-app-" not in f["profile"]:
            out[f["profile"]] = {c: int(v[1]) for c, v in f["categories"].items()}
    return out


def _symbol_changes(
    base: dict[tuple[str, str], tuple[int, str, str]], head: dict[tuple[str, str], tuple[int, str, str]], top: int
) -> tuple[tuple[SymbolChange, ...], tuple[SymbolChange, ...]]:
    changes = []
    for key in base.keys() | head.keys():
        b, bsec, bfile = base.get(key, (0, "", ""))
        h, hsec, hfile = head.get(key, (0, "", ""))
        if b != h:
            changes.append(
                SymbolChange(elf=key[0], name=key[1], file=hfile or bfile, section=hsec or bsec, base=b, head=h)
            )
    changes.sort(key=lambda c: (-abs(c.delta), c.elf, c.name))
    grew = tuple(c for c in changes if c.delta > 0)[:top]
    shrank = tuple(c for c in changes if c.delta < 0)[:top]
    return grew, shrank


def compare_cell(base: dict[str, Any], head: dict[str, Any], cell: str, limits: Limits, top: int) -> CellDiff:
    base_tracked, head_tracked = _tracked(base).get(cell, {}), _tracked(head).get(cell, {})
    tracked = []
    for metric in sorted(base_tracked.keys() | head_tracked.keys()):
        limit = limits.for_item(metric)
        change = Change(metric, base_tracked.get(metric, 0), head_tracked.get(metric, 0))
        tracked.append(Tracked(change=change, limit_pct=limit.pct, limit_bytes=limit.bytes))
    b_elves, h_elves = _stripped_elves(base, cell), _stripped_elves(head, cell)
    elves = []
    for path in sorted(b_elves.keys() & h_elves.keys()):
        b, h = b_elves[path], h_elves[path]
        sections = tuple(Change(s, int(b[s]), int(h[s])) for s in SECTIONS if b[s] != h[s])
        if b["file_size"] != h["file_size"] or sections:
            elves.append(
                ElfChange(path=path, file=Change(path, int(b["file_size"]), int(h["file_size"])), sections=sections)
            )
    elves.sort(key=lambda e: (-abs(e.file.delta), e.path))
    b_syms, h_syms = _symbol_sizes(base, cell), _symbol_sizes(head, cell)
    note = ""
    grew: tuple[SymbolChange, ...] = ()
    shrank: tuple[SymbolChange, ...] = ()
    if b_syms is None or h_syms is None:
        sides = [name for name, syms in (("base", b_syms), ("head", h_syms)) if syms is None]
        note = f"no symbol tables in the {' and '.join(sides)} report (measured without --symbols)"
    else:
        grew, shrank = _symbol_changes(b_syms, h_syms, top)
    b_fp, h_fp = _footprints(base, cell), _footprints(head, cell)
    footprints = []
    for profile in sorted(b_fp.keys() & h_fp.keys()):
        cats = b_fp[profile].keys() | h_fp[profile].keys()
        changed = tuple(
            Change(c, b_fp[profile].get(c, 0), h_fp[profile].get(c, 0))
            for c in sorted(cats)
            if b_fp[profile].get(c, 0) != h_fp[profile].get(c, 0)
        )
        if changed:
            footprints.append((profile, changed))
    return CellDiff(
        cell=cell,
        tracked=tuple(tracked),
        elves=tuple(elves),
        elves_only_base=tuple(sorted(b_elves.keys() - h_elves.keys())),
        elves_only_head=tuple(sorted(h_elves.keys() - b_elves.keys())),
        grew=grew,
        shrank=shrank,
        footprints=tuple(footprints),
        symbols_note=note,
    )


def compare(
    base: dict[str, Any],
    head: dict[str, Any],
    limits: Limits,
    *,
    base_name: str,
    reason: str = "",
    top: int = TOP_SYMBOLS,
) -> SizeDiff:
    """What changed from `base` to `head`, cell by cell."""
    b, h = _cells(base), _cells(head)
    return SizeDiff(
        base=base_name,
        cells=tuple(compare_cell(base, head, cell, limits, top) for cell in sorted(b & h)),
        only_base=tuple(sorted(b - h)),
        only_head=tuple(sorted(h - b)),
        reason=reason,
    )


# ---- rendering


def _signed(n: int) -> str:
    return f"{n:+,}"


def _pct(c: Change) -> str:
    pct = c.pct
    return "new" if pct is None else f"{pct:+.2f} %"


def _cell_markdown(c: CellDiff) -> list[str]:
    out = [f"## {c.cell}", ""]
    changed = [t for t in c.tracked if t.change.delta]
    if changed:
        out += ["| tracked size | base | head | change | | limit |", "| --- | ---: | ---: | ---: | ---: | --- |"]
        for t in changed:
            verdict = "**over**" if t.over else "ok"
            out.append(
                f"| {t.change.what} | {t.change.base:,} | {t.change.head:,} | {_signed(t.change.delta)} "
                f"| {_pct(t.change)} | {verdict} (> {t.limit_pct} % and > {t.limit_bytes:,} B) |"
            )
    else:
        out.append(f"Tracked sizes: all {len(c.tracked)} unchanged.")
    out.append("")
    if c.elves:
        out += ["| ELF (stripped) | base | head | change | by section |", "| --- | ---: | ---: | ---: | --- |"]
        for e in c.elves[:TOP_FILES]:
            sections = ", ".join(f".{s.what} {_signed(s.delta)}" for s in e.sections) or "-"
            out.append(f"| `{e.path}` | {e.file.base:,} | {e.file.head:,} | {_signed(e.file.delta)} | {sections} |")
        if len(c.elves) > TOP_FILES:
            rest = sum(e.file.delta for e in c.elves[TOP_FILES:])
            out.append(f"| {len(c.elves) - TOP_FILES} more | | | {_signed(rest)} | |")
        out.append("")
    for label, paths in (("only in the base", c.elves_only_base), ("only in the head", c.elves_only_head)):
        if paths:
            out += [f"ELF files {label}: " + ", ".join(f"`{p}`" for p in paths), ""]
    for label, symbols in (("grew most", c.grew), ("shrank most", c.shrank)):
        if symbols:
            out += [
                f"Symbols that {label} (symbol tables as built):",
                "",
                "| symbol | source file | ELF | section | base | head | change |",
                "| --- | --- | --- | --- | ---: | ---: | ---: |",
            ]
            for s in symbols:
                out.append(
                    f"| `{s.name}` | {s.file or '?'} | `{s.elf.rsplit('/', 1)[-1]}` | {s.section} "
                    f"| {s.base:,} | {s.head:,} | {_signed(s.delta)} |"
                )
            out.append("")
    if c.symbols_note:
        out += [f"Symbols: {c.symbols_note}.", ""]
    for profile, cats in c.footprints:
        parts = ", ".join(f"{x.what} {_signed(x.delta)}" for x in cats)
        out += [f"- profile {profile}: {parts}"]
    if c.footprints:
        out.append("")
    return out


def to_markdown(diff: SizeDiff) -> str:
    over = diff.over
    if not over:
        verdict = "No tracked size grew past its limit."
    elif diff.reason:
        verdict = f"{len(over)} tracked size(s) grew past their limits, **accepted**: Size-Increase: {diff.reason}"
    else:
        verdict = (
            f"**{len(over)} tracked size(s) grew past their limits.** A `Size-Increase: <why>` trailer in "
            "the head commit's message accepts them."
        )
    out = ["# Size changes", "", f"Against `{diff.base}`. {verdict}", ""]
    for cell in diff.cells:
        out += _cell_markdown(cell)
    if diff.only_base:
        out += ["Cells only in the base (not built here): " + ", ".join(diff.only_base), ""]
    if diff.only_head:
        out += ["Cells only in the head (new): " + ", ".join(diff.only_head), ""]
    return "\n".join(out)


def to_json(diff: SizeDiff) -> dict[str, Any]:
    data = asdict(diff)
    data["over"] = [
        {"cell": cell, "metric": t.change.what, "base": t.change.base, "head": t.change.head} for cell, t in diff.over
    ]
    data["accepted"] = diff.accepted
    data["failed"] = diff.failed
    return data


def over_rows(diff: SizeDiff) -> list[str]:
    """A line per tracked size over its limit."""
    return [
        f"    {cell} / {t.change.what}: {t.change.base:,} -> {t.change.head:,} "
        f"({_signed(t.change.delta)} B, {_pct(t.change)})"
        for cell, t in diff.over
    ]


# ---- reports made by several jobs (one per cell), merged into one


def report_files(heads: Iterable[Path]) -> list[Path]:
    """Each path a sizes.json, or a directory holding some (each cell's CI artifact, unpacked)."""
    files: list[Path] = []
    for head in heads:
        if head.is_dir():
            found = sorted(head.rglob("sizes.json"))
            if not found:
                raise ConfigError(f"no sizes.json under {head}", hint="give the reports' directory or files")
            files += found
        elif head.is_file():
            files.append(head)
        else:
            raise ConfigError(f"no size report at {head}")
    return files


def merge_reports(reports: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    """One report of the cells of several; a cell measured in two of them is an error (which one holds?)."""
    merged: dict[str, Any] = {"schema": 2, "tracked": {}, "symbols": {}, "footprints": [], "totals": [], "elves": []}
    seen: dict[str, Path] = {}
    for path, data in reports:
        for cell in sorted(_cells(data)):
            if cell in seen:
                raise ConfigError(
                    f"cell {cell} is measured in both {seen[cell]} and {path}",
                    hint="merge reports of different cells (each CI job measures its own)",
                )
            seen[cell] = path
        merged["fields"] = data.get("fields", merged.get("fields"))
        merged["tracked"].update(_tracked(data))
        merged["symbols"].update(data.get("symbols") or {})
        for key in ("footprints", "totals", "elves"):
            merged[key] += list(data.get(key) or [])
    return merged
