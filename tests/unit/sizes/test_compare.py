"""`sizes --compare`: diffs of two reports per cell, ELF, section, symbol and profile; limits; the trailer."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from crosspython.core.errors import ConfigError
from crosspython.sizes import compare
from crosspython.sizes.gate import THRESHOLDS, Limit, Limits, current_tracked, load_limits
from crosspython.sizes.measure import Symbol
from crosspython.sizes.report import to_json
from tests.unit.sizes.fake import MEASURED

CELL = "cp313-arm-linux-gnueabihf-default"
PYTHON = "usr/bin/python3.13"
LIMITS = Limits((Limit(items="interpreter (stripped)", pct=1.0, bytes=8192), Limit(items="*", pct=2.0, bytes=2048)))


def _report(interp_text: int = 365_000, symbols: dict[str, int] | None = None) -> dict[str, Any]:
    """A report as `invoke sizes --symbols` writes it, of made-up measurements (default cell only)."""
    from dataclasses import replace

    measured = []
    for m in MEASURED:
        if m.variant != "default":
            continue
        elves = tuple(
            replace(e, text=interp_text, file_size=e.file_size + (interp_text - 365_000))
            if e.role == "interpreter"
            else e
            for e in m.elves
        )
        table = {
            PYTHON: tuple(
                Symbol(name=n, size=s, section="text", file="ceval.c" if n.startswith("_Py") else "")
                for n, s in (symbols or {"_PyEval_EvalFrameDefault": 60_000, "main": 100}).items()
            )
        }
        measured.append(replace(m, elves=elves, symbols={} if m.stripped else table))
    tracked = {CELL: {"interpreter (stripped)": next(m.total("interpreter") for m in measured if m.stripped)}}
    return json.loads(json.dumps(to_json(measured, [], tracked)))


def test_no_change_is_no_finding() -> None:
    diff = compare.compare(_report(), _report(), LIMITS, base_name="base.json")
    assert not diff.over and not diff.failed and not diff.accepted
    (cell,) = diff.cells
    assert cell.elves == () and cell.grew == () and cell.shrank == ()
    assert "No tracked size grew past its limit" in compare.to_markdown(diff)


def test_growth_is_attributed_to_the_elf_its_section_and_the_symbols() -> None:
    base = _report()
    head = _report(
        interp_text=365_000 + 40_000,
        symbols={"_PyEval_EvalFrameDefault": 90_000, "main": 100, "_Py_NewHelper": 10_000},
    )
    diff = compare.compare(base, head, LIMITS, base_name="base.json")
    (cell,) = diff.cells
    (elf,) = cell.elves
    assert elf.path == PYTHON and elf.file.delta == 40_000
    assert [(s.what, s.delta) for s in elf.sections] == [("text", 40_000)]
    assert [(s.name, s.file, s.delta) for s in cell.grew] == [
        ("_PyEval_EvalFrameDefault", "ceval.c", 30_000),
        ("_Py_NewHelper", "ceval.c", 10_000),  # new in the head
    ]
    (over,) = diff.over
    assert over[1].change.what == "interpreter (stripped)" and over[1].change.delta == 40_000
    assert diff.failed
    text = compare.to_markdown(diff)
    assert "**1 tracked size(s) grew past their limits.**" in text
    assert "| `_PyEval_EvalFrameDefault` | ceval.c | `python3.13` | text | 60,000 | 90,000 | +30,000 |" in text
    assert f"| `{PYTHON}` | " in text and ".text +40,000" in text
    # the same growth, justified by the head commit's trailer: reported, accepted, quoted
    accepted = compare.compare(base, head, LIMITS, base_name="base.json", reason="the JIT's stencils")
    assert accepted.accepted and not accepted.failed
    assert "**accepted**: Size-Increase: the JIT's stencils" in compare.to_markdown(accepted)
    data = compare.to_json(accepted)
    assert data["accepted"] is True and data["over"][0]["metric"] == "interpreter (stripped)"


def test_limits_need_both_the_percentage_and_the_bytes() -> None:
    base = _report()
    # +5,000 B on a 3.65 MB interpreter: under the byte floor (and 0.14 %): not over
    small = compare.compare(base, _report(interp_text=370_000), LIMITS, base_name="b")
    assert not small.over
    # a lower percentage given on the command line (--threshold) replaces every limit's pct, not the bytes
    assert not compare.compare(base, _report(interp_text=370_000), LIMITS.with_pct(0.01), base_name="b").over
    assert compare.compare(base, _report(interp_text=375_000), LIMITS.with_pct(0.01), base_name="b").over


def test_cells_on_one_side_are_listed_not_failed() -> None:
    base, head = _report(), _report()
    other = copy.deepcopy(head)
    for row in other["totals"] + other["elves"]:
        row["cell"] = "cp311-mipsel-linux-gnu-default"
    other["tracked"] = {"cp311-mipsel-linux-gnu-default": head["tracked"][CELL]}
    diff = compare.compare(base, other, LIMITS, base_name="b")
    assert diff.cells == () and diff.only_base == (CELL,) and diff.only_head == ("cp311-mipsel-linux-gnu-default",)
    assert not diff.failed
    assert "Cells only in the base (not built here): " + CELL in compare.to_markdown(diff)


def test_a_report_without_symbols_says_so() -> None:
    base = _report()
    base["symbols"] = {}
    (cell,) = compare.compare(base, _report(), LIMITS, base_name="b").cells
    assert cell.symbols_note == "no symbol tables in the base report (measured without --symbols)"


def test_a_schema_1_report_is_compared_by_its_totals() -> None:
    base = _report()
    del base["tracked"], base["symbols"]
    (cell,) = compare.compare(base, _report(interp_text=500_000), LIMITS, base_name="b").cells
    assert {t.change.what for t in cell.tracked if t.over} == {"interpreter (stripped)"}


def test_footprints_are_compared_per_profile_and_category() -> None:
    def with_footprint(stdlib: int) -> dict[str, Any]:
        report = _report()
        report["footprints"] = [
            {"cell": CELL, "profile": "standard", "categories": {"stdlib bytecode": [10, stdlib], "tests": [0, 0]}},
            {"cell": CELL, "profile": "standard-app-1234", "categories": {"stdlib bytecode": [1, 1]}},
        ]
        return report

    (cell,) = compare.compare(with_footprint(1_000), with_footprint(1_500), LIMITS, base_name="b").cells
    assert [(p, [(c.what, c.delta) for c in cats]) for p, cats in cell.footprints] == [
        ("standard", [("stdlib bytecode", 500)])
    ]


def test_a_bad_report_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no size report"):
        compare.load_report(tmp_path / "missing.json")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a report of `invoke sizes`"):
        compare.load_report(tmp_path / "x.json")


def test_the_committed_limits_load_and_a_bad_one_is_named(tmp_path: Path) -> None:
    limits = load_limits(THRESHOLDS)
    assert limits.for_item("interpreter (stripped)").pct == 1.0
    assert limits.for_item("installed total (profile standard)").bytes == 16384
    assert limits.for_item("_ssl (stripped)").pct == 2.0
    bad = tmp_path / "t.toml"
    bad.write_text('[[limits]]\nitems = "*"\npct = "two"\n')
    with pytest.raises(ConfigError, match=r"limits\[0\]\.pct must be a number"):
        load_limits(bad)
    bad.write_text('[[limits]]\nitems = "*"\npct = 1\nbites = 3\n')
    with pytest.raises(ConfigError, match="keys are items, pct, bytes and why"):
        load_limits(bad)


def test_current_tracked_is_in_the_report() -> None:
    from crosspython.matrix import load_matrix

    tracked = current_tracked(MEASURED, load_matrix())
    report = to_json(MEASURED, [], tracked)
    assert report["schema"] == 2 and report["tracked"][CELL]["interpreter (stripped)"] == 3_650_000


def test_a_report_read_back_is_the_same_report() -> None:
    from crosspython.sizes.report import from_json

    original = _report()
    measurements, footprints = from_json(original)
    again = json.loads(json.dumps(to_json(measurements, footprints, original["tracked"])))
    assert again == original


def test_reports_of_several_jobs_merge_and_a_cell_in_two_is_refused(tmp_path: Path) -> None:
    one = _report()
    two = copy.deepcopy(one)
    for row in two["totals"] + two["elves"]:
        row["cell"] = "cp313-powerpc-linux-gnu-default"
    two["tracked"] = {"cp313-powerpc-linux-gnu-default": one["tracked"][CELL]}
    two["symbols"] = {"cp313-powerpc-linux-gnu-default": one["symbols"][CELL]}
    (tmp_path / "sizes-a").mkdir()
    (tmp_path / "sizes-b").mkdir()
    (tmp_path / "sizes-a" / "sizes.json").write_text(json.dumps(one))
    (tmp_path / "sizes-b" / "sizes.json").write_text(json.dumps(two))
    files = compare.report_files([tmp_path])
    assert [f.parent.name for f in files] == ["sizes-a", "sizes-b"]
    merged = compare.merge_reports([(f, compare.load_report(f)) for f in files])
    assert set(merged["tracked"]) == set(merged["symbols"]) == {CELL, "cp313-powerpc-linux-gnu-default"}
    assert len(merged["totals"]) == len(one["totals"]) * 2
    with pytest.raises(ConfigError, match=f"cell {CELL} is measured in both"):
        compare.merge_reports([(files[0], one), (files[0], one)])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no sizes\.json under"):
        compare.report_files([tmp_path / "empty"])
    with pytest.raises(ConfigError, match="no size report at"):
        compare.report_files([tmp_path / "nothing"])


def test_tracked_sizes_as_openmetrics() -> None:
    from crosspython.sizes.report import openmetrics

    text = openmetrics({CELL: {"interpreter (stripped)": 3_650_000, 'odd "name"': 1}})
    assert text.splitlines() == [
        "# TYPE crosspython_size_bytes gauge",
        "# UNIT crosspython_size_bytes bytes",
        f'crosspython_size_bytes{{cell="{CELL}",item="interpreter (stripped)"}} 3650000',
        f'crosspython_size_bytes{{cell="{CELL}",item="odd \\"name\\""}} 1',
        "# EOF",
    ]


def test_a_symbol_whose_file_is_known_on_one_side_only_is_one_symbol() -> None:
    base, head = _report(), _report()
    base["symbols"][CELL]["usr/bin/python3.13"] = [["PyBytes_Type", 208, "data", ""], ["init", 10, "text", "a.c"]]
    head["symbols"][CELL]["usr/bin/python3.13"] = [
        ["PyBytes_Type", 208, "data", "bytesobject.c"],
        ["init", 10, "text", "a.c"],
        ["init", 30, "text", "b.c"],  # a static of the same name in another file: summed, both named
    ]
    (cell,) = compare.compare(base, head, LIMITS, base_name="b").cells
    assert cell.shrank == ()
    assert [(s.name, s.file, s.base, s.head) for s in cell.grew] == [("init", "a.c, b.c", 10, 40)]
