"""Sizes: lief on real cross-compiled ELFs (ARM and big-endian PowerPC), reports, the regression gate."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from crosspython.core.errors import BuildIncomplete
from crosspython.sizes.measure import (
    ElfSize,
    Measurement,
    TreeSizes,
    check,
    check_identity,
    gate_table,
    measure_tree,
    read_elf,
    to_html,
    to_json,
    to_markdown,
    updated_baseline,
)

# Freestanding: the tool-chain packages alone (no target libc) can build it.
PROGRAM = """
static const char table[4096] = "read-only data";
int counter = 7;
char scratch[8192];
int exported(int x) { scratch[x % 8192] = (char)x; return x * counter + table[x % 16] + scratch[x % 4096]; }
void _start(void) { volatile int r = exported(1); (void)r; for (;;) {} }
"""


def _cross_compile(tmp_path: Path, prefix: str) -> Path:
    gcc = shutil.which(f"{prefix}-gcc")
    assert gcc, f"{prefix}-gcc is missing: run `invoke setup` (it installs the matrix's tool-chains)"
    src = tmp_path / "hello.c"
    src.write_text(PROGRAM)
    out = tmp_path / f"hello-{prefix}"
    subprocess.run([gcc, "-g", "-O2", "-ffreestanding", "-nostdlib", "-static", "-o", out, src], check=True)
    return out


@pytest.mark.parametrize(
    ("prefix", "identity"),
    [("arm-linux-gnueabihf", ("ARM", 32, "little")), ("powerpc-linux-gnu", ("PPC", 32, "big"))],
)
def test_lief_reads_real_cross_built_elves(tmp_path: Path, prefix: str, identity: tuple[str, int, str]) -> None:
    binary = _cross_compile(tmp_path, prefix)
    size = read_elf(binary, "usr/bin/hello", "other")
    assert (size.machine, size.elf_class, size.endianness) == identity
    assert size.file_size == binary.stat().st_size
    assert size.text > 0 and size.debug > 0 and size.symtab > 0 and size.strtab > 0
    assert size.rodata >= 4096  # the table
    assert size.bss >= 8192  # scratch
    assert size.data >= 4  # counter: .data, or .sdata on PowerPC
    assert size.alloc_size >= size.text + size.rodata + size.bss
    subprocess.run([f"{prefix}-strip", "--strip-unneeded", binary], check=True)
    stripped = read_elf(binary, "usr/bin/hello", "other")
    assert stripped.debug == 0 and stripped.file_size < size.file_size
    assert (stripped.text, stripped.rodata, stripped.alloc_size) == (size.text, size.rodata, size.alloc_size)


def test_a_host_elf_in_the_tree_is_an_error(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "usr" / "bin").mkdir(parents=True)
    shutil.copy(_cross_compile(tmp_path, "arm-linux-gnueabihf"), tree / "usr" / "bin" / "python3.13")
    shutil.copy("/bin/true", tree / "usr" / "bin" / "true")
    (tree / "usr" / "bin" / "script").write_text("#!/bin/sh\n")
    (tree / "usr" / "lib").mkdir()
    (tree / "usr" / "lib" / "libpython3.13.a").write_bytes(b"!<arch>\n" + b"x" * 92)
    measured = measure_tree(tree, "3.13")
    assert measured.archive_bytes == 100  # static libraries: counted, not read as ELF
    assert {e.path: e.role for e in measured.elves} == {"usr/bin/python3.13": "interpreter", "usr/bin/true": "other"}
    assert measured.tree_bytes == sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
    with pytest.raises(BuildIncomplete, match="usr/bin/true: X86_64/64-bit/little-endian"):
        check_identity(measured, machine="ARM", elf_class=32, endianness="little", where="stage")


def _elf(path: str, role: str, size: int, text: int = 0, debug: int = 0) -> ElfSize:
    return ElfSize(path=path, role=role, file_size=size, alloc_size=text * 2, text=text, rodata=0, data=0, bss=0,
                   symtab=0, strtab=0, debug=debug, machine="ARM", elf_class=32, endianness="little")  # fmt: skip


def _m(variant: str, stripped: bool, interp: int, ssl: int, tree: int) -> Measurement:
    elves = (
        _elf("usr/bin/python3.13", "interpreter", interp, text=interp // 10),
        _elf("usr/lib/python3.13/lib-dynload/_ssl.cpython-313-arm-linux-gnueabihf.so", "extension", ssl),
        _elf("usr/lib/python3.13/lib-dynload/zlib.cpython-313-arm-linux-gnueabihf.so", "extension", 1000),
    )
    archives = 47_000_000 if variant.startswith("sections") else 44_000_000
    return Measurement(cell=f"cp313-arm-linux-gnueabihf-{variant}", python="3.13.5", triplet="arm-linux-gnueabihf",
                       variant=variant, stripped=stripped, elves=elves, tree_bytes=tree,
                       archive_bytes=archives)  # fmt: skip


MEASURED = [
    _m("default", False, 29_400_000, 500_000, 300_000_000),
    _m("default", True, 3_650_000, 100_000, 280_000_000),
    _m("sections", False, 29_000_000, 490_000, 299_000_000),
    _m("sections", True, 3_600_000, 98_000, 279_000_000),
    _m("sections_nogc", False, 29_500_000, 500_000, 300_100_000),
]


def test_markdown_puts_variants_side_by_side_against_default() -> None:
    text = to_markdown(MEASURED)
    assert "## cp313-arm-linux-gnueabihf" in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert [r.split("|")[1].strip() for r in rows[2:]] == [
        "default", "default+strip", "sections", "sections+strip", "sections_nogc",
    ]  # fmt: skip
    assert "| default+strip | 3,650,000 | -87.6 % |" in text
    assert "`-ffunction-sections -fdata-sections` alone: interpreter 29.50 MB -> 29.50 MB" not in text
    assert "`-ffunction-sections -fdata-sections` alone: interpreter 29.40 MB -> 29.50 MB (+0.3 %)" in text
    assert "-export-dynamic" in text
    assert "static libraries (libpython*.a, installed twice): 44.00 MB -> 47.00 MB (+6.8 %)" in text


def test_json_has_one_record_per_cell_variant_strip_and_elf() -> None:
    data = json.loads(json.dumps(to_json(MEASURED)))
    assert len(data["elves"]) == 5 * 3
    record = data["elves"][0]
    assert {"cell", "variant", "stripped", "path", "file_size", "text", "rodata", "data", "bss", "symtab", "strtab",
            "debug", "machine", "elf_class", "endianness", "alloc_size"} <= record.keys()  # fmt: skip
    totals = {(t["variant"], t["stripped"]): t for t in data["totals"]}
    assert totals[("default", True)]["interpreter"] == 3_650_000
    assert totals[("default", False)]["extensions"] == 501_000


def test_html_is_self_contained_with_a_chart() -> None:
    html = to_html(MEASURED, to_markdown(MEASURED))
    assert html.count("<svg") == 1 and "<rect" in html and "sections+strip" in html
    assert "http://" not in html and "https://" not in html and "<script" not in html


def _current(interp: int, ssl: int) -> dict[str, dict[str, int]]:
    return {"cp313-arm-linux-gnueabihf-default": {"interpreter (stripped)": interp, "_ssl (stripped)": ssl}}


BASE = {"threshold_pct": 2.0, "cells": _current(3_650_000, 100_000)}


def test_gate_passes_within_threshold_and_fails_on_growth() -> None:
    grew, compared, notes = check(_current(3_700_000, 101_000), BASE)
    assert grew == [] and len(compared) == 2 and notes == []
    grew, _, _ = check(_current(3_650_000, 110_000), BASE)  # injected growth: +10 % on _ssl
    assert [(g.metric, round(g.growth, 1)) for g in grew] == [("_ssl (stripped)", 10.0)]
    table = gate_table(grew)
    assert "_ssl (stripped)" in table and "100,000" in table and "110,000" in table and "+10.00%" in table
    grew, _, _ = check(_current(3_650_000, 101_500), BASE, threshold=1.0)
    assert len(grew) == 1


def test_gate_notes_cells_it_cannot_check() -> None:
    current = {"cp313-arm-linux-gnueabihf-os": {"interpreter (stripped)": 1}}
    grew, compared, notes = check(current, BASE)
    assert grew == [] and compared == []
    assert any("not built here" in n for n in notes) and any("no baseline" in n for n in notes)


def test_update_baseline_keeps_other_cells() -> None:
    new = updated_baseline({"cp313-arm-linux-gnueabihf-os": {"interpreter (stripped)": 5}}, BASE)
    assert set(new["cells"]) == {"cp313-arm-linux-gnueabihf-default", "cp313-arm-linux-gnueabihf-os"}
    assert new["threshold_pct"] == 2.0


def test_tree_sizes_dataclass_is_frozen() -> None:
    sizes = TreeSizes(elves=(), tree_bytes=0)
    with pytest.raises(AttributeError):
        sizes.tree_bytes = 1  # type: ignore[misc]


def test_groups_are_named_by_major_minor() -> None:
    """2.7.18 is cp27 (not cp271), 3.13.5 cp313: the same tags as cell ids."""
    m = _m("default", False, 1, 1, 1)
    assert m.group == "cp313-arm-linux-gnueabihf"
    assert dataclasses.replace(m, python="2.7.18").group == "cp27-arm-linux-gnueabihf"
    assert dataclasses.replace(m, python="3.11.2").group == "cp311-arm-linux-gnueabihf"
