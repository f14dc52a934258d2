"""lief on real cross-compiled ELF files (ARM and big-endian PowerPC), and a staged tree measured."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from crosspython.core.errors import BuildIncomplete
from crosspython.sizes.measure import (
    RawSymbol,
    TreeSizes,
    attribute_files,
    check_identity,
    measure_tree,
    read_elf,
    read_elf_symbols,
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
    if gcc is None:
        pytest.skip(f"{prefix}-gcc is not installed (`invoke setup` installs the matrix's tool-chains)")
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
    # Any ELF of the build host's own, whatever its architecture, is not the target's.
    shutil.copy("/bin/true", tree / "usr" / "bin" / "true")
    (tree / "usr" / "bin" / "script").write_text("#!/bin/sh\n")
    (tree / "usr" / "lib" / "python3.13" / "lib-dynload").mkdir(parents=True)
    shutil.copy(tree / "usr" / "bin" / "python3.13", tree / "usr" / "lib" / "python3.13" / "lib-dynload" / "_x.so")
    (tree / "usr" / "lib" / "libpython3.13.a").write_bytes(b"!<arch>\n" + b"x" * 92)
    measured = measure_tree(tree, "3.13")
    assert measured.archive_bytes == 100  # static libraries: counted, not read as ELF
    assert {e.path: e.role for e in measured.elves} == {
        "usr/bin/python3.13": "interpreter",
        "usr/bin/true": "other",
        "usr/lib/python3.13/lib-dynload/_x.so": "extension",
    }
    assert measured.tree_bytes == sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
    host = next(e for e in measured.elves if e.path == "usr/bin/true")
    with pytest.raises(BuildIncomplete, match=f"usr/bin/true: {host.machine}/{host.elf_class}-bit/"):
        check_identity(measured, machine="ARM", elf_class=32, endianness="little", where="stage")


def test_tree_sizes_dataclass_is_frozen() -> None:
    sizes = TreeSizes(elves=(), tree_bytes=0)
    with pytest.raises(AttributeError):
        sizes.tree_bytes = 1  # type: ignore[misc]


# Two translation units: each file's static (local) symbols follow its STT_FILE entry; the
# global ones are attributed by the file whose locals surround them.
UNIT_A = """
static int helper_a(int x) { return x * 3 + 1; }
int table_a[300] = {1};
int global_a(int x) { return helper_a(x) + table_a[x % 300]; }
static int helper_a2(int x) { return x - 5; }
int use_a2(int x) { return helper_a2(x); }
extern int global_b(int);
void _start(void) { volatile int r = global_a(1) + global_b(2) + use_a2(3); (void)r; for (;;) {} }
"""
UNIT_B = """
int first_b(int x) { return x + 1; }
static const char message_b[1000] = "b";
static int helper_b(int x) { return message_b[x % 1000]; }
int global_b(int x) { return helper_b(x) * 2; }
static int helper_b2(int x) { return x + 7; }
int use_b2(int x) { return helper_b2(x); }
"""


@pytest.mark.parametrize(
    ("prefix", "debug"),
    [
        ("arm-linux-gnueabihf", []),
        ("arm-linux-gnueabihf", ["-g"]),  # DWARF 5, GCC 12's default
        ("arm-linux-gnueabihf", ["-gdwarf-4"]),
        ("powerpc-linux-gnu", ["-g"]),  # big-endian
    ],
)
def test_symbols_with_their_sections_and_source_files(tmp_path: Path, prefix: str, debug: list[str]) -> None:
    gcc = shutil.which(f"{prefix}-gcc")
    if gcc is None:
        pytest.skip(f"{prefix}-gcc is not installed")
    (tmp_path / "a.c").write_text(UNIT_A)
    (tmp_path / "b.c").write_text(UNIT_B)
    out = tmp_path / "two"
    flags = ["-O0", "-ffreestanding", "-nostdlib", "-static", *debug]
    subprocess.run([gcc, *flags, "-o", out, "a.c", "b.c"], check=True, cwd=tmp_path)
    size, symbols = read_elf_symbols(out, "usr/bin/two", "other")
    assert size.text > 0 and (size.debug > 0) == bool(debug)
    found = {s.name: s for s in symbols}
    assert (found["table_a"].section, found["table_a"].size) == ("data", 1200)
    assert (found["message_b"].section, found["message_b"].file) == ("rodata", "b.c")
    assert found["helper_a"].file == "a.c" and found["helper_a"].section == "text"
    assert found["helper_b"].file == "b.c"
    # globals: between two locals of their file, or by the debug info
    assert found["global_a"].file == "a.c" and found["global_b"].file == "b.c"
    # b.c's first function precedes its locals: only the debug info knows whose it is
    assert found["first_b"].file == ("b.c" if debug else "")
    subprocess.run([f"{prefix}-strip", "--strip-unneeded", out], check=True)
    assert read_elf_symbols(out, "usr/bin/two", "other")[1] == ()  # stripped: no symbol table


def test_a_global_symbol_gets_the_file_of_the_locals_around_it() -> None:
    def local(name: str, address: int, file: str, section: str = "text") -> RawSymbol:
        return RawSymbol(name=name, address=address, size=10, section=section, local=True, file=file)

    def global_(name: str, address: int, section: str = "text") -> RawSymbol:
        return RawSymbol(name=name, address=address, size=4, section=section, local=False, file="")

    raw = [
        local("a1", 0, "a.c"),
        local("a2", 20, "a.c"),
        local("b1", 50, "b.c"),
        local("b2", 100, "b.c"),
        local("a_part.cold", 200, "a.c"),  # placed apart, as GCC does with cold code
        global_("g_a", 10),
        global_("g_between", 30),
        global_("g_b", 80),
        global_("g_after_cold_gap", 150),
        global_("g_last", 300),
        global_("g_data", 80, section="data"),
        RawSymbol(name="unsized", address=5, size=0, section="text", local=True, file="a.c"),
    ]
    files = {s.name: s.file for s in attribute_files(raw)}
    assert files == {
        "a1": "a.c",
        "a2": "a.c",
        "b1": "b.c",
        "b2": "b.c",
        "a_part.cold": "a.c",
        "g_a": "a.c",
        "g_between": "",
        "g_b": "b.c",
        "g_after_cold_gap": "",
        "g_last": "",
        "g_data": "",
    }


def test_debug_info_that_cannot_be_read_names_no_file() -> None:
    from crosspython.sizes.dwarf import Sections, code_map

    garbage = Sections(
        aranges=b"\x1c\x00\x00\x00\x02\x00" + b"\xff" * 30, info=b"\x01", abbrev=b"", str=b"", line_str=b"", little=True
    )
    assert code_map(garbage).file_at(0x1000) == ""
    truncated = Sections(aranges=b"\x1c\x00", info=b"", abbrev=b"", str=b"", line_str=b"", little=True)
    assert code_map(truncated).starts == ()


def test_a_stage_is_measured_once_while_it_is_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The measurement is kept beside the stripped copies; a stage made again is measured again."""
    import os

    from crosspython.core.layout import Layout
    from crosspython.core.runner import Runner
    from crosspython.core.stamps import Stamp
    from crosspython.install.stage import StageRecord
    from crosspython.matrix import load_matrix
    from crosspython.sizes import measure

    matrix = load_matrix()
    binary = _cross_compile(tmp_path, "arm-linux-gnueabihf")
    layout = Layout(tmp_path / "artifacts")
    cell = "cp313-arm-linux-gnueabihf-default"
    stage = layout.stages / cell
    (stage / "usr" / "bin").mkdir(parents=True)
    shutil.copy(binary, stage / "usr" / "bin" / "python3.13")
    (stage / "usr" / "lib").mkdir()
    (stage / "usr" / "lib" / "os.py").write_text("# the stdlib\n")
    record = StageRecord(
        cell=cell,
        python="3.13.5",
        sha256="0" * 64,
        triplet="arm-linux-gnueabihf",
        variant="default",
        cflags=(),
        ldflags=(),
        configure=(),
        toolchain="arm-linux-gnueabihf-gcc",
        toolchain_version="12",
        strip=shutil.which("arm-linux-gnueabihf-strip") or "",
        build="b",
    )
    Stamp(stage).write(record.to_inputs())
    runner = Runner(log_root=tmp_path / "logs")
    first = measure.measure_cell(stage, layout, matrix, runner, symbols=True)
    assert first[0].symbols and first[1].elves[0].debug == 0 < first[0].elves[0].debug
    reads: list[str] = []
    real = measure._read

    def counting(*args: object, **kwargs: object) -> object:
        reads.append(str(args[1]))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(measure, "_read", counting)
    assert measure.measure_cell(stage, layout, matrix, runner) == first  # kept: nothing read
    assert measure.measure_cell(stage, layout, matrix, runner)[0].symbols == {}  # as asked
    assert reads == []
    stamp = Stamp(stage).path
    os.utime(stamp, ns=(stamp.stat().st_mtime_ns + 10**9,) * 2)  # the stage made again
    again = measure.measure_cell(stage, layout, matrix, runner)
    assert reads == ["usr/bin/python3.13", "usr/bin/python3.13"]  # the stage and its stripped copy
    assert again == first
