"""What the install costs in bytes: lief reads every ELF of each staged cell, as built and stripped.

Each cell's stage (artifacts/stage/<cell>/, made by `install`/`stage`) is measured as built, and
again after the target's `strip --strip-unneeded` on copies of its ELF files (stripping is a
knob applied after install: it never rebuilds). Every ELF must be the target's: a host ELF in the
output is an error.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import lief

from ..core.errors import BuildIncomplete, ConfigError
from ..core.layout import Layout, Stamp, fingerprint, remove_tree
from ..core.runner import Runner, Step
from ..matrix import Matrix

# PowerPC and MIPS keep small variables in "small data" sections (.sdata/.sbss, and PowerPC's
# read-only .sdata2/.sbss2), which belong with .data/.bss/.rodata.
SECTION_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("text", (".text",)),
    ("rodata", (".rodata", ".sdata2", ".sbss2")),
    ("data", (".data", ".sdata")),
    ("bss", (".bss", ".tbss", ".sbss")),
    ("symtab", (".symtab", ".dynsym")),
    ("strtab", (".strtab", ".dynstr")),
    ("debug", (".debug",)),
)
_CLASSES = {lief.ELF.Header.CLASS.ELF32: 32, lief.ELF.Header.CLASS.ELF64: 64}
_DATA = {lief.ELF.Header.ELF_DATA.LSB: "little", lief.ELF.Header.ELF_DATA.MSB: "big"}


@dataclass(frozen=True, kw_only=True)
class ElfSize:
    """One ELF file as lief reads it."""

    path: str
    role: str  # interpreter | libpython | extension | other
    file_size: int
    alloc_size: int  # bytes of SHF_ALLOC sections: what is mapped at run time (.bss included)
    text: int
    rodata: int
    data: int
    bss: int
    symtab: int
    strtab: int
    debug: int
    machine: str
    elf_class: int
    endianness: str


def _group(name: str) -> str | None:
    for group, prefixes in SECTION_GROUPS:
        if any(
            name == p or name.startswith(p + ".") or (p == ".debug" and name.startswith(".debug_")) for p in prefixes
        ):
            return group
    return None


def read_elf(path: Path, rel: str, role: str) -> ElfSize:
    """Sizes of `path` by section group, with its ELF identity."""
    binary = lief.ELF.parse(str(path))
    if binary is None:
        raise BuildIncomplete(f"lief could not read {path} as ELF")
    groups = dict.fromkeys((g for g, _ in SECTION_GROUPS), 0)
    alloc = 0
    for section in binary.sections:
        if section.has(lief.ELF.Section.FLAGS.ALLOC):
            alloc += section.size
        group = _group(str(section.name))
        if group:
            groups[group] += section.size
    header = binary.header
    return ElfSize(
        path=rel,
        role=role,
        file_size=path.stat().st_size,
        alloc_size=alloc,
        machine=str(header.machine_type).split(".")[-1],
        elf_class=_CLASSES.get(header.identity_class, 0),
        endianness=_DATA.get(header.identity_data, "unknown"),
        **groups,
    )


def _is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:
        return False


def role_of(rel: str, short: str) -> str:
    if rel == f"usr/bin/python{short}":
        return "interpreter"
    if rel.startswith(f"usr/lib/libpython{short}"):
        return "libpython"
    if "/lib-dynload/" in rel:
        return "extension"
    return "other"


@dataclass(frozen=True, kw_only=True)
class TreeSizes:
    """A staged tree, measured: its ELF files and its total bytes."""

    elves: tuple[ElfSize, ...]
    tree_bytes: int  # apparent size of every regular file in the tree
    archive_bytes: int = 0  # static libraries (*.a, e.g. libpython3.13.a): not ELF, but part of the tree


def measure_tree(root: Path, short: str) -> TreeSizes:
    elves: list[ElfSize] = []
    total = archives = 0
    for dirpath, _, filenames in os.walk(root):
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink() or name.startswith(".crosspython-"):
                continue
            total += path.stat().st_size
            if name.endswith(".a"):
                archives += path.stat().st_size
            if _is_elf(path):
                rel = str(path.relative_to(root))
                elves.append(read_elf(path, rel, role_of(rel, short)))
    return TreeSizes(elves=tuple(sorted(elves, key=lambda e: e.path)), tree_bytes=total, archive_bytes=archives)


def check_identity(sizes: TreeSizes, *, machine: str, elf_class: int, endianness: str, where: str) -> None:
    wrong = [
        f"{e.path}: {e.machine}/{e.elf_class}-bit/{e.endianness}-endian"
        for e in sizes.elves
        if (e.machine, e.elf_class, e.endianness) != (machine, elf_class, endianness)
    ]
    if wrong:
        raise BuildIncomplete(
            f"{where}: {len(wrong)} ELF file(s) are not {machine}/{elf_class}-bit/{endianness}-endian:\n  "
            + "\n  ".join(wrong[:20]),
            hint="a host binary is in the output; check the tool-chain in the configure log",
        )


def strip_copies(stage: Path, elves: tuple[ElfSize, ...], strip: Path, dest: Path, step: Step) -> Path:
    """`strip --strip-unneeded` copies of the stage's ELF files into dest (the stage is untouched)."""
    remove_tree(dest)
    copies = []
    for elf in elves:
        out = dest / elf.path
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(stage / elf.path, out)
        copies.append(out)
    for start in range(0, len(copies), 200):  # one strip per batch, not per file
        step.run([strip, "--strip-unneeded", *copies[start : start + 200]])
    return dest


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """One cell in one variant, as built or stripped."""

    cell: str
    python: str
    triplet: str
    variant: str
    stripped: bool
    elves: tuple[ElfSize, ...]
    tree_bytes: int
    archive_bytes: int = 0

    @property
    def build(self) -> str:
        """Row label: the variant, `+strip` when stripped."""
        return self.variant + ("+strip" if self.stripped else "")

    @property
    def group(self) -> str:
        """What rows are compared within: one CPython version for one target."""
        return f"cp{''.join(self.python.split('.')[:2])}-{self.triplet}"  # 2.7.18 -> cp27, 3.13.5 -> cp313

    def total(self, role: str | None = None, attr: str = "file_size") -> int:
        return sum(getattr(e, attr) for e in self.elves if role is None or e.role == role)

    def totals(self) -> dict[str, int]:
        return {
            "interpreter": self.total("interpreter"),
            "interpreter_text": self.total("interpreter", "text"),
            "interpreter_alloc": self.total("interpreter", "alloc_size"),
            "libpython": self.total("libpython"),
            "extensions": self.total("extension"),
            "extension_count": sum(1 for e in self.elves if e.role == "extension"),
            "elf_total": self.total(),
            "static_archives": self.archive_bytes,
            "tree": self.tree_bytes,
        }


def measure_cell(stage: Path, layout: Layout, matrix: Matrix, runner: Runner) -> list[Measurement]:
    """Measure one staged cell as built and stripped (strip results are reused while the stage is unchanged)."""
    stamp = Stamp(stage).read()
    if not stamp:
        raise ConfigError(f"{stage} has no stamp: it was not made by `invoke stage`/`install`")
    inputs: dict[str, Any] = stamp["inputs"]
    cell_id = str(inputs["cell"])
    target = matrix.target(str(inputs["triplet"]))
    short = ".".join(str(inputs["python"]).split(".")[:2])
    built = measure_tree(stage, short)
    check_identity(built, machine=target.elf_machine, elf_class=target.elf_class, endianness=target.endianness,
                   where=str(stage))  # fmt: skip
    strip = Path(str(inputs["toolchain"]).removesuffix("gcc") + "strip")
    stripped_dir = layout.root / "sizes" / cell_id / "stripped"
    strip_stamp = Stamp(stripped_dir)
    strip_inputs = {"stage": fingerprint(inputs), "strip": str(strip)}
    if not strip_stamp.matches(strip_inputs):
        if not os.access(strip, os.X_OK):
            raise ConfigError(f"{strip} (the cell's tool-chain strip) is missing", hint="run `invoke setup`")
        with runner.step(cell_id, "strip") as step:
            strip_copies(stage, built.elves, strip, stripped_dir, step)
            step.note(f"stripped {len(built.elves)} ELF files with {strip.name} --strip-unneeded")
        strip_stamp.write(strip_inputs)
    stripped = measure_tree(stripped_dir, short)
    # The stripped tree: the stage with its ELF files replaced by their stripped copies.
    stripped_tree = built.tree_bytes - sum(e.file_size for e in built.elves) + sum(e.file_size for e in stripped.elves)
    common = {
        "cell": cell_id,
        "python": str(inputs["python"]),
        "triplet": target.triplet,
        "variant": str(inputs["variant"]),
    }
    return [
        Measurement(
            **common, stripped=False, elves=built.elves, tree_bytes=built.tree_bytes, archive_bytes=built.archive_bytes
        ),
        Measurement(
            **common, stripped=True, elves=stripped.elves, tree_bytes=stripped_tree, archive_bytes=built.archive_bytes
        ),
    ]


def measure_all(layout: Layout, matrix: Matrix, runner: Runner) -> list[Measurement]:
    stages = sorted(p for p in (layout.root / "stage").glob("*") if Stamp(p).read())
    if not stages:
        raise ConfigError(
            "no staged cell to measure", hint="build and stage one first: `invoke cross stage` (or `install`)"
        )
    result: list[Measurement] = []
    for stage in stages:
        result += measure_cell(stage, layout, matrix, runner)
    return result


# ---------------------------------------------------------------- reports


def records(measurements: list[Measurement]) -> list[dict[str, Any]]:
    """One record per cell x variant x stripped x ELF (sizes.json)."""
    rows = []
    for m in measurements:
        for e in m.elves:
            rows.append(
                {"cell": m.cell, "python": m.python, "triplet": m.triplet, "variant": m.variant,
                 "stripped": m.stripped} | asdict(e)
            )  # fmt: skip
    return rows


def to_json(measurements: list[Measurement]) -> dict[str, Any]:
    return {
        "schema": 1,
        "fields": [f.name for f in fields(ElfSize)],
        "totals": [
            {"cell": m.cell, "python": m.python, "triplet": m.triplet, "variant": m.variant, "stripped": m.stripped}
            | m.totals()
            for m in measurements
        ],
        "elves": records(measurements),
    }


def _order(m: Measurement) -> tuple[int, str, bool]:
    return (0 if m.variant == "default" else 1, m.variant, m.stripped)


def _pct(value: int, base: int) -> str:
    if not base:
        return "n/a"
    return f"{(value - base) / base * 100:+.1f} %"


def _mb(value: int) -> str:
    return f"{value / 1e6:.2f} MB" if value >= 1e6 else f"{value / 1e3:.1f} kB"


def groups(measurements: list[Measurement]) -> dict[str, list[Measurement]]:
    out: dict[str, list[Measurement]] = {}
    for m in sorted(measurements, key=_order):
        out.setdefault(m.group, []).append(m)
    return out


def knob_effects(rows: list[Measurement]) -> list[str]:
    """Plain sentences on what each knob saved on the interpreter, from the rows present."""
    by = {m.build: m for m in rows}
    lines = []

    def delta(a: str, b: str, what: str, note: str = "") -> None:
        if a in by and b in by:
            x, y = by[a].totals()["interpreter"], by[b].totals()["interpreter"]
            lines.append(f"- {what}: interpreter {_mb(x)} -> {_mb(y)} ({_pct(y, x)}){note}")

    delta("default", "sections_nogc", "`-ffunction-sections -fdata-sections` alone",
          " - sections alone drop nothing; only the linker's --gc-sections can")  # fmt: skip
    delta("default", "sections", "`-ffunction-sections -fdata-sections` + `-Wl,--gc-sections`",
          " - little: the interpreter is linked with -export-dynamic, which keeps every exported "
          "symbol (the whole C API) alive")  # fmt: skip
    delta("default", "default+strip", "`strip --strip-unneeded` after install",
          " - removes debug sections and the static symbol table; code and data are unchanged")  # fmt: skip
    delta("default+strip", "sections+strip", "sections + gc-sections, both stripped")
    if "default" in by and "sections" in by:
        a, b = by["default"].archive_bytes, by["sections"].archive_bytes
        if a and b != a:
            lines.append(
                f"- static libraries (libpython*.a, installed twice): {_mb(a)} -> {_mb(b)} ({_pct(b, a)}) with "
                "-ffunction-sections: one section header per function in every object; strip does not touch them"
            )
    delta("default+strip", "os+strip", "`-Os` instead of `-O3`, both stripped")
    if "default" in by and "default+strip" in by:
        d = by["default"].elves
        interp = next((e for e in d if e.role == "interpreter"), None)
        if interp:
            lines.append(
                f"- of the unstripped interpreter's {_mb(interp.file_size)}, debug sections are "
                f"{_mb(interp.debug)} and symbol/string tables {_mb(interp.symtab + interp.strtab)}; "
                f".text is {_mb(interp.text)}, .rodata {_mb(interp.rodata)}"
            )
    return lines


def to_markdown(measurements: list[Measurement]) -> str:
    intro = (
        "Measured with lief from each cell's staged install. `+strip`: the target's "
        "`strip --strip-unneeded` applied to copies after install. % against `default` (unstripped)."
    )
    out = ["# Installed size by build", "", intro, ""]
    for group, rows in groups(measurements).items():
        base = next((m for m in rows if m.build == "default"), rows[0]).totals()
        out += [f"## {group}", "",
                "| build | interpreter | % | .text | allocated | extension modules | % | static libs | installed tree | % |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
        for m in rows:
            t = m.totals()
            out.append(
                f"| {m.build} | {t['interpreter']:,} | {_pct(t['interpreter'], base['interpreter'])} "
                f"| {t['interpreter_text']:,} | {t['interpreter_alloc']:,} "
                f"| {t['extensions']:,} ({t['extension_count']}) | {_pct(t['extensions'], base['extensions'])} "
                f"| {t['static_archives']:,} | {t['tree']:,} | {_pct(t['tree'], base['tree'])} |"
            )
        effects = knob_effects(rows)
        if effects:
            out += ["", "What each knob does here:", "", *effects]
        out.append("")
    return "\n".join(out)


def to_html(measurements: list[Measurement], markdown: str) -> str:
    """A self-contained page: an inline SVG bar chart per target, then the tables (no network)."""
    style = (
        "<style>body{font-family:sans-serif;margin:2em}svg text{font-size:12px}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}td{white-space:nowrap}</style>"
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>crosspython sizes</title>",
        style + "</head><body><h1>Installed size by build</h1>",
    ]
    colors = {"interpreter": "#4472c4", "extensions": "#ed7d31", "other": "#a5a5a5"}
    for group, rows in groups(measurements).items():
        biggest = max(m.totals()["elf_total"] for m in rows) or 1
        width, bar_h, label_w = 760, 22, 170
        height = 40 + bar_h * len(rows) * 1.5
        svg = [f"<h2>{group}</h2><svg width='{width}' height='{height:.0f}' role='img'>"]
        for i, m in enumerate(rows):
            t = m.totals()
            y = 30 + i * bar_h * 1.5
            x = float(label_w)
            svg.append(f"<text x='0' y='{y + 15:.0f}'>{m.build}</text>")
            for key, value in (("interpreter", t["interpreter"]), ("extensions", t["extensions"]),
                               ("other", t["elf_total"] - t["interpreter"] - t["extensions"])):  # fmt: skip
                w = (width - label_w - 90) * value / biggest
                svg.append(f"<rect x='{x:.1f}' y='{y:.0f}' width='{w:.1f}' height='{bar_h}' fill='{colors[key]}'>"
                           f"<title>{key}: {value:,} bytes</title></rect>")  # fmt: skip
                x += w
            svg.append(f"<text x='{x + 5:.0f}' y='{y + 15:.0f}'>{_mb(t['elf_total'])}</text>")
        svg.append("".join(
            f"<rect x='{label_w + 130 * j}' y='5' width='12' height='12' fill='{c}'/>"
            f"<text x='{label_w + 130 * j + 16}' y='15'>{k}</text>" for j, (k, c) in enumerate(colors.items())
        ))  # fmt: skip
        svg.append("</svg>")
        parts += svg
    parts.append("<h2>Tables</h2>" + _markdown_tables_to_html(markdown) + "</body></html>")
    return "\n".join(parts)


def _markdown_tables_to_html(markdown: str) -> str:
    """The report's tables and notes, in order: each table closed before the text that follows it."""
    html: list[str] = []
    in_table = False
    for line in markdown.splitlines():
        if line.startswith("| ---"):
            continue
        if line.startswith("|"):
            if not in_table:
                html.append("<table>")
                in_table = True
            cells = [c.strip() for c in line.strip("|").split("|")]
            tag = "th" if cells[0] == "build" else "td"
            html.append("<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>")
            continue
        if in_table:
            html.append("</table>")
            in_table = False
        if line.startswith("## "):
            html.append(f"<h3>{line[3:]}</h3>")
        elif line.startswith("- "):
            html.append(f"<p>{line[2:].replace('`', '')}</p>")
    if in_table:
        html.append("</table>")
    return "\n".join(html)


def write_reports(measurements: list[Measurement], directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    markdown = to_markdown(measurements)
    paths = {"json": directory / "sizes.json", "md": directory / "sizes.md", "html": directory / "sizes.html"}
    paths["json"].write_text(json.dumps(to_json(measurements), indent=1) + "\n")
    paths["md"].write_text(markdown)
    paths["html"].write_text(to_html(measurements, markdown))
    return paths


# ---------------------------------------------------------------- regression gate

BASELINE = Path(__file__).resolve().parents[2] / "matrix" / "sizes-baseline.json"
DEFAULT_THRESHOLD = 2.0


def tracked(m: Measurement, required: tuple[str, ...]) -> dict[str, int]:
    """The numbers the gate watches for one cell: stripped file sizes (independent of build paths,
    unlike debug info), and the interpreter's allocated size as built."""
    assert m.stripped
    out = {"interpreter (stripped)": m.total("interpreter")}
    if m.total("libpython"):
        out["libpython (stripped)"] = m.total("libpython")
    for e in m.elves:
        name = e.path.rsplit("/", 1)[-1].split(".", 1)[0]
        if e.role == "extension" and name in required:
            out[f"{name} (stripped)"] = e.file_size
    out["extension modules total (stripped)"] = m.total("extension")
    out["installed tree total (stripped)"] = m.tree_bytes
    return out


def current_tracked(measurements: list[Measurement], matrix: Matrix) -> dict[str, dict[str, int]]:
    result = {}
    for m in measurements:
        if m.stripped:
            required = matrix.version(".".join(m.python.split(".")[:2])).required_modules
            result[m.cell] = tracked(m, required)
    return result


@dataclass(frozen=True)
class GateRow:
    cell: str
    metric: str
    baseline: int
    current: int

    @property
    def growth(self) -> float:
        return (self.current - self.baseline) / self.baseline * 100 if self.baseline else 0.0


def check(
    current: dict[str, dict[str, int]], baseline: dict[str, Any], threshold: float | None = None
) -> tuple[list[GateRow], list[GateRow], list[str]]:
    """(rows that grew past the threshold, all compared rows, notes). Cells not built now are noted."""
    limit = float(threshold if threshold is not None else baseline.get("threshold_pct", DEFAULT_THRESHOLD))
    grew: list[GateRow] = []
    compared: list[GateRow] = []
    notes: list[str] = []
    for cell, metrics in sorted(baseline.get("cells", {}).items()):
        if cell not in current:
            notes.append(f"{cell}: not built here, not checked")
            continue
        for metric, base in metrics.items():
            if metric not in current[cell]:
                notes.append(f"{cell}: {metric} is gone")
                continue
            row = GateRow(cell, metric, int(base), current[cell][metric])
            compared.append(row)
            if row.growth > limit:
                grew.append(row)
    for cell in sorted(set(current) - set(baseline.get("cells", {}))):
        notes.append(f"{cell}: no baseline (add it with --update-baseline)")
    return grew, compared, notes


def gate_table(rows: list[GateRow]) -> str:
    width = max([len(r.cell) + len(r.metric) + 3 for r in rows] + [10])
    lines = [f"    {'cell / file':<{width}} {'baseline':>12} {'current':>12} {'growth':>8}"]
    lines += [
        f"    {r.cell + ' / ' + r.metric:<{width}} {r.baseline:>12,} {r.current:>12,} {r.growth:>+7.2f}%" for r in rows
    ]
    return "\n".join(lines)


def updated_baseline(current: dict[str, dict[str, int]], old: dict[str, Any]) -> dict[str, Any]:
    cells = dict(old.get("cells", {}))
    cells.update(current)
    return {"threshold_pct": old.get("threshold_pct", DEFAULT_THRESHOLD), "cells": dict(sorted(cells.items()))}


def load_baseline(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"no size baseline at {path}", hint="write one with `invoke sizes --update-baseline`"
        ) from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), dict):
        raise ConfigError(f"{path}: expected {{'threshold_pct': N, 'cells': {{...}}}}")
    return data
