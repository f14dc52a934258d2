"""The size reports: sizes.json, a Markdown table per target and version, an HTML page with a chart."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from ..install.profile import CATEGORIES
from ..matrix import DEFAULT_VARIANT, STRIP_SUFFIX, Knob
from .footprint import Footprint
from .footprint import to_json as footprints_json
from .measure import ElfSize, Measurement, symbols_from_json, symbols_to_json


def records(measurements: list[Measurement]) -> list[dict[str, Any]]:
    """One record per cell x variant x stripped x ELF (sizes.json)."""
    rows = []
    for m in measurements:
        for e in m.elves:
            rows.append(
                {"cell": m.cell, "python": m.python, "triplet": m.triplet, "variant": m.variant, "stripped": m.stripped}
                | asdict(e)
            )
    return rows


def symbol_tables(measurements: list[Measurement]) -> dict[str, dict[str, list[list[object]]]]:
    """cell -> ELF path -> [name, bytes, section, source file] of each sized symbol (`--symbols`)."""
    out: dict[str, dict[str, list[list[object]]]] = {}
    for m in measurements:
        if m.symbols:
            out[m.cell] = symbols_to_json(m.symbols)
    return out


def to_json(
    measurements: list[Measurement],
    footprints: list[Footprint] | None = None,
    tracked: dict[str, dict[str, int]] | None = None,
) -> dict[str, Any]:
    """sizes.json. Schema 2 adds the gate's tracked sizes per cell and, when measured with
    --symbols, the symbol tables of the ELF files as built (what `--compare` diffs)."""
    return {
        "schema": 2,
        "tracked": dict(sorted((tracked or {}).items())),
        "symbols": symbol_tables(measurements),
        "footprints": footprints_json(footprints or []),
        "fields": [f.name for f in fields(ElfSize)],
        "totals": [
            {"cell": m.cell, "python": m.python, "triplet": m.triplet, "variant": m.variant, "stripped": m.stripped}
            | m.totals()
            for m in measurements
        ],
        "elves": records(measurements),
    }


def from_json(data: dict[str, Any]) -> tuple[list[Measurement], list[Footprint]]:
    """The measurements and footprints a sizes.json holds (to render a merged report anew)."""
    names = {f.name for f in fields(ElfSize)}
    elves: dict[tuple[str, bool], list[ElfSize]] = {}
    for row in data["elves"]:
        elves.setdefault((row["cell"], bool(row["stripped"])), []).append(
            ElfSize(**{k: v for k, v in row.items() if k in names})
        )
    tables = data.get("symbols") or {}
    measurements = []
    for t in data["totals"]:
        stripped = bool(t["stripped"])
        symbols = {} if stripped else tables.get(t["cell"], {})
        measurements.append(
            Measurement(
                cell=t["cell"],
                python=t["python"],
                tag=str(t["cell"]).split("-", 1)[0],  # cell ids start with the version's tag
                triplet=t["triplet"],
                variant=t["variant"],
                stripped=stripped,
                elves=tuple(elves.get((t["cell"], stripped), ())),
                tree_bytes=int(t["tree"]),
                archive_bytes=int(t.get("static_archives", 0)),
                symbols=symbols_from_json(symbols),
            )
        )
    footprint_names = {f.name for f in fields(Footprint)}
    footprints = [
        Footprint(**{k: v for k, v in f.items() if k in footprint_names}) for f in data.get("footprints") or []
    ]
    return measurements, footprints


def openmetrics(tracked: dict[str, dict[str, int]]) -> str:
    """The tracked sizes as OpenMetrics text: GitLab's metrics report shows them on a merge request
    beside the target branch's."""
    out = ["# TYPE crosspython_size_bytes gauge", "# UNIT crosspython_size_bytes bytes"]
    for cell, metrics in sorted(tracked.items()):
        for metric, value in sorted(metrics.items()):
            label = metric.replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'crosspython_size_bytes{{cell="{cell}",item="{label}"}} {value}')
    out.append("# EOF")
    return "\n".join(out) + "\n"


def _order(m: Measurement) -> tuple[int, str, bool]:
    return (0 if m.variant == DEFAULT_VARIANT else 1, m.variant, m.stripped)


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


def knob_effects(rows: list[Measurement], knobs: tuple[Knob, ...]) -> list[str]:
    """Plain sentences on what each knob of matrix/variants.toml saved, from the rows present."""
    by = {m.build: m for m in rows}
    lines = []
    for knob in knobs:
        if knob.before not in by or knob.after not in by:
            continue
        before, after = by[knob.before], by[knob.after]
        if knob.metric == "static libraries":
            a, b = before.archive_bytes, after.archive_bytes
            if a and b != a:  # only when they differ: most knobs leave the archives alone
                lines.append(
                    f"- {knob.what}: {_mb(a)} -> {_mb(b)} ({_pct(b, a)})" + (f" {knob.why}" if knob.why else "")
                )
            continue
        x, y = before.totals()["interpreter"], after.totals()["interpreter"]
        lines.append(
            f"- {knob.what}: interpreter {_mb(x)} -> {_mb(y)} ({_pct(y, x)})" + (f" - {knob.why}" if knob.why else "")
        )
    default = by.get(DEFAULT_VARIANT)
    if default is not None and DEFAULT_VARIANT + STRIP_SUFFIX in by:
        interp = next((e for e in default.elves if e.role == "interpreter"), None)
        if interp:
            lines.append(
                f"- of the unstripped interpreter's {_mb(interp.file_size)}, debug sections are "
                f"{_mb(interp.debug)} and symbol/string tables {_mb(interp.symtab + interp.strtab)}; "
                f".text is {_mb(interp.text)}, .rodata {_mb(interp.rodata)}"
            )
    return lines


def to_markdown(measurements: list[Measurement], knobs: tuple[Knob, ...] = ()) -> str:
    intro = (
        "Measured with lief from each cell's staged install. `+strip`: the target's "
        "`strip --strip-unneeded` applied to copies after install. % against `default` (unstripped)."
    )
    out = ["# Installed size by build", "", intro, ""]
    for group, rows in groups(measurements).items():
        base = next((m for m in rows if m.build == DEFAULT_VARIANT), rows[0]).totals()
        out += [
            f"## {group}",
            "",
            "| build | interpreter | % | .text | allocated | extension modules | % | static libs "
            "| installed tree | % |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for m in rows:
            t = m.totals()
            out.append(
                f"| {m.build} | {t['interpreter']:,} | {_pct(t['interpreter'], base['interpreter'])} "
                f"| {t['interpreter_text']:,} | {t['interpreter_alloc']:,} "
                f"| {t['extensions']:,} ({t['extension_count']}) | {_pct(t['extensions'], base['extensions'])} "
                f"| {t['static_archives']:,} | {t['tree']:,} | {_pct(t['tree'], base['tree'])} |"
            )
        effects = knob_effects(rows, knobs)
        if effects:
            out += ["", "What each knob does here:", "", *effects]
        out.append("")
    return "\n".join(out)


def to_html(
    measurements: list[Measurement],
    markdown: str,
    footprints: list[Footprint] | None = None,
    history: list[dict[str, Any]] | None = None,
) -> str:
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
        bars = []
        for m in rows:
            totals = m.totals()
            other = totals["elf_total"] - totals["interpreter"] - totals["extensions"]
            bars.append(
                (
                    m.build,
                    [("interpreter", totals["interpreter"]), ("extensions", totals["extensions"]), ("other", other)],
                )
            )
        parts.append(f"<h2>{group}</h2>" + stacked_bars(bars, colors, label_w=170, width=760))
    if footprints:
        parts.append(footprint_svg(footprints))
    if history:
        parts.append(trend_svg(history))
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
            tag = "th" if cells[0] in ("build", "variant") else "td"
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


def write_reports(
    measurements: list[Measurement],
    directory: Path,
    knobs: tuple[Knob, ...] = (),
    footprints: list[Footprint] | None = None,
    tracked: dict[str, dict[str, int]] | None = None,
    history: list[dict[str, Any]] | None = None,
) -> tuple[dict[str, Path], dict[str, Any]]:
    """sizes.json, sizes.md and sizes.html in `directory`; returns their paths and sizes.json's document."""
    directory.mkdir(parents=True, exist_ok=True)
    markdown = to_markdown(measurements, knobs)
    if footprints:
        markdown += "\n" + footprint_markdown(footprints)
    paths = {"json": directory / "sizes.json", "md": directory / "sizes.md", "html": directory / "sizes.html"}
    document = to_json(measurements, footprints, tracked)
    paths["json"].write_text(json.dumps(document, indent=1) + "\n")
    paths["md"].write_text(markdown)
    paths["html"].write_text(to_html(measurements, markdown, footprints, history))
    return paths, document


# ---- installed footprint per profile

CATEGORY_COLORS = {
    "interpreter": "#4472c4",
    "libpython": "#2f5597",
    "extension modules": "#ed7d31",
    "stdlib bytecode": "#70ad47",
    "stdlib sources": "#a9d18e",
    "stdlib zip": "#548235",
    "tests": "#ff0000",
    "static libraries": "#7f6000",
    "headers and config": "#ffc000",
    "other": "#a5a5a5",
}


def footprint_markdown(footprints: list[Footprint]) -> str:
    """Per cell, a row per install profile: bytes per category of what lands in the RFS."""
    if not footprints:
        return ""
    out = [
        "# Installed footprint by profile",
        "",
        "What each install profile puts into the RFS (its board-ready tree), in MB (10^6 bytes).",
        "Start-up: `python -c pass` under qemu-user, median of 5 (`invoke sizes --startup`).",
        "",
    ]
    by_group: dict[str, list[Footprint]] = {}
    for f in sorted(footprints, key=lambda f: (f.group, f.variant, -f.total)):
        by_group.setdefault(f.group, []).append(f)
    for group, rows in by_group.items():
        used = [c for c in CATEGORIES if any(f.categories[c][1] for f in rows)]
        out += [f"## {group}", ""]
        out.append("| variant | profile | " + " | ".join(used) + " | total | start-up |")
        out.append("| --- | --- | " + " | ".join("---:" for _ in used) + " | ---: | ---: |")
        for f in rows:
            cells = " | ".join(f"{f.categories[c][1] / 1e6:.2f}" for c in used)
            startup = f"{f.startup_s:.2f} s" if f.startup_s is not None else "-"
            out.append(f"| {f.variant} | {f.profile} | {cells} | **{f.total / 1e6:.2f}** | {startup} |")
        for f in rows:
            top = ", ".join(f"{name} {size / 1e3:.0f} kB" for name, size in f.top_packages)
            out.append("")
            out.append(f"- {f.variant}/{f.profile}, largest stdlib packages: {top}")
        out.append("")
    return "\n".join(out)


def footprint_svg(footprints: list[Footprint]) -> str:
    """A stacked bar per profile (full / standard / minimal side by side), per cell."""
    parts = []
    by_group: dict[str, list[Footprint]] = {}
    for f in sorted(footprints, key=lambda f: (f.group, f.variant, -f.total)):
        by_group.setdefault(f.group, []).append(f)
    for group, rows in by_group.items():
        bars = [(f"{f.variant}/{f.profile}", [(str(c), f.categories[c][1]) for c in CATEGORIES]) for f in rows]
        parts.append(f"<h2>{group}: installed footprint</h2>" + stacked_bars(bars, CATEGORY_COLORS))
    return "\n".join(parts)


def stacked_bars(
    bars: list[tuple[str, list[tuple[str, int]]]], colors: dict[str, str], *, label_w: int = 190, width: int = 860
) -> str:
    """An inline SVG: one labelled bar of stacked parts per row, scaled to the largest, with a legend."""
    per_row, bar_h = 5, 22
    legend_rows = (len(colors) + per_row - 1) // per_row
    top = 10 + 18 * legend_rows
    biggest = max((sum(v for _, v in parts) for _, parts in bars), default=0) or 1
    height = top + bar_h * len(bars) * 1.5
    svg = [f"<svg width='{width}' height='{height:.0f}' role='img'>"]
    for i, (label, parts) in enumerate(bars):
        y = top + i * bar_h * 1.5
        x = float(label_w)
        svg.append(f"<text x='0' y='{y + 15:.0f}'>{label}</text>")
        for key, value in parts:
            if not value:
                continue
            w = (width - label_w - 90) * value / biggest
            svg.append(
                f"<rect x='{x:.1f}' y='{y:.0f}' width='{w:.1f}' height='{bar_h}' fill='{colors[key]}'>"
                f"<title>{key}: {value:,} bytes</title></rect>"
            )
            x += w
        svg.append(f"<text x='{x + 5:.0f}' y='{y + 15:.0f}'>{_mb(sum(v for _, v in parts))}</text>")
    svg += [
        f"<rect x='{(j % per_row) * 170}' y='{5 + (j // per_row) * 18}' width='12' height='12' fill='{c}'/>"
        f"<text x='{(j % per_row) * 170 + 16}' y='{15 + (j // per_row) * 18}'>{k}</text>"
        for j, (k, c) in enumerate(colors.items())
    ]
    svg.append("</svg>")
    return "".join(svg)


# ---- the trend over commits (artifacts/reports/history.jsonl, sizes/history.py)

TREND_METRICS = ("interpreter (stripped)", "installed total (profile standard)", "installed total (profile minimal)")
TREND_COLORS = ("#4472c4", "#70ad47", "#ed7d31")


def trend_svg(history: list[dict[str, Any]], *, width: int = 760, height: int = 160) -> str:
    """Per cell, a line per tracked size over the commits history.jsonl holds (oldest left)."""
    by_cell: dict[str, list[dict[str, Any]]] = {}
    for line in history:
        by_cell.setdefault(str(line["cell"]), []).append(line)
    parts = []
    for cell, lines in sorted(by_cell.items()):
        svg = [f"<svg width='{width}' height='{height + 40}' role='img'>"]
        for j, (metric, color) in enumerate(zip(TREND_METRICS, TREND_COLORS, strict=True)):
            points = [(i, int(x["sizes"][metric])) for i, x in enumerate(lines) if metric in x["sizes"]]
            svg.append(
                f"<rect x='{j * 250}' y='0' width='12' height='12' fill='{color}'/>"
                f"<text x='{j * 250 + 16}' y='10'>{metric}</text>"
            )
            if not points:
                continue
            low, high = min(v for _, v in points), max(v for _, v in points)
            span = (high - low) or 1
            step = (width - 120) / max(len(lines) - 1, 1)
            xy = [(10 + i * step, 30 + (height - 20) * (1 - (v - low) / span)) for i, v in points]
            svg.append(
                f"<polyline fill='none' stroke='{color}' stroke-width='2' points='"
                + " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
                + "'/>"
            )
            for (x, y), (i, v) in zip(xy, points, strict=True):
                svg.append(
                    f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3' fill='{color}'>"
                    f"<title>{lines[i]['commit'][:10]}: {v:,} bytes</title></circle>"
                )
            svg.append(f"<text x='{xy[-1][0] + 6:.0f}' y='{xy[-1][1] + 4:.0f}'>{_mb(points[-1][1])}</text>")
        svg.append("</svg>")
        commits = ", ".join(x["commit"][:7] for x in lines[-8:])
        parts.append(f"<h2>{cell}: over {len(lines)} commits</h2>" + "".join(svg) + f"<p>latest: {commits}</p>")
    return "\n".join(parts)
