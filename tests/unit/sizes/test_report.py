"""The size reports: Markdown side by side, one JSON record per ELF, a self-contained HTML chart."""

from __future__ import annotations

import dataclasses
import json

from crosspython.matrix import Knob, Matrix
from crosspython.sizes.report import knob_effects, to_html, to_json, to_markdown
from tests.unit.sizes.fake import MEASURED, measurement


def test_markdown_puts_variants_side_by_side_against_default(matrix: Matrix) -> None:
    text = to_markdown(MEASURED, matrix.knobs)
    assert "## cp313-arm-linux-gnueabihf" in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert [r.split("|")[1].strip() for r in rows[2:]] == [
        "default",
        "default+strip",
        "sections",
        "sections+strip",
        "sections_nogc",
    ]
    assert "| default+strip | 3,650,000 | -87.6 % |" in text
    assert "`-ffunction-sections -fdata-sections` alone: interpreter 29.50 MB -> 29.50 MB" not in text
    assert "`-ffunction-sections -fdata-sections` alone: interpreter 29.40 MB -> 29.50 MB (+0.3 %)" in text
    assert "-export-dynamic" in text
    assert "static libraries (libpython*.a, installed twice): 44.00 MB -> 47.00 MB (+6.8 %)" in text


def test_what_each_knob_means_is_data() -> None:
    """knob_effects names no variant: the lines come from [[knobs]], and a knob whose builds were
    not measured says nothing."""
    knobs = (
        Knob(before="default", after="sections", what="the knob", why="because"),
        Knob(before="default+strip", after="os+strip", what="never measured"),
        Knob(before="default", after="sections", what="archives", why="grew", metric="static libraries"),
        Knob(before="default", after="default", what="same archives", metric="static libraries"),
    )
    lines = knob_effects(MEASURED, knobs)
    assert lines[0] == "- the knob: interpreter 29.40 MB -> 29.00 MB (-1.4 %) - because"
    assert lines[1] == "- archives: 44.00 MB -> 47.00 MB (+6.8 %) grew"
    assert not any("never measured" in line or "same archives" in line for line in lines)
    assert "debug sections" in lines[-1]  # the unstripped interpreter's make-up, from default and default+strip
    assert len(lines) == 3


def test_json_has_one_record_per_cell_variant_strip_and_elf() -> None:
    data = json.loads(json.dumps(to_json(MEASURED)))
    assert len(data["elves"]) == 5 * 3
    record = data["elves"][0]
    assert {
        "cell",
        "variant",
        "stripped",
        "path",
        "file_size",
        "text",
        "rodata",
        "data",
        "bss",
        "symtab",
        "strtab",
        "debug",
        "machine",
        "elf_class",
        "endianness",
        "alloc_size",
    } <= record.keys()
    totals = {(t["variant"], t["stripped"]): t for t in data["totals"]}
    assert totals[("default", True)]["interpreter"] == 3_650_000
    assert totals[("default", False)]["extensions"] == 501_000


def test_html_is_self_contained_with_a_chart(matrix: Matrix) -> None:
    html = to_html(MEASURED, to_markdown(MEASURED, matrix.knobs))
    assert html.count("<svg") == 1 and "<rect" in html and "sections+strip" in html
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_groups_are_named_by_the_versions_tag(matrix: Matrix) -> None:
    """2.7.18 is cp27 (not cp271), 3.13.5 cp313: the tag comes from the matrix, as in cell ids."""
    m = measurement("default", False, 1, 1, 1)
    assert m.group == "cp313-arm-linux-gnueabihf"
    v27 = matrix.version("2.7")
    assert dataclasses.replace(m, python=v27.full, tag=v27.tag).group == "cp27-arm-linux-gnueabihf"
    assert v27.tag == "cp27" and matrix.version("3.13").tag == "cp313"
