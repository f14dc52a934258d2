"""lief on real cross-compiled ELF files (ARM and big-endian PowerPC), and a staged tree measured."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from crosspython.core.errors import BuildIncomplete
from crosspython.sizes.measure import TreeSizes, check_identity, measure_tree, read_elf

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
