"""Reading just enough of an ELF header to tell whose binary it is."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from crosspython.core.elf import ElfHeader, mismatch, read_header


def test_elf_header_of_a_host_binary() -> None:
    if platform.machine() != "x86_64":
        pytest.skip(f"this check knows an x86_64 build host's /bin/true; this host is {platform.machine()}")
    assert read_header(Path("/bin/true")) == ElfHeader("X86_64", 64, "little")


def test_elf_header_big_endian_powerpc(tmp_path: Path) -> None:
    path = tmp_path / "ppc"
    path.write_bytes(b"\x7fELF\x01\x02\x01" + b"\0" * 9 + b"\x00\x02" + b"\x00\x14" + b"\0" * 40)
    header = read_header(path)
    assert header == ElfHeader("PPC", 32, "big")
    assert mismatch(header, machine="PPC", elf_class=32, endianness="big") is None
    assert mismatch(header, machine="ARM", elf_class=32, endianness="little") is not None


def test_non_elf_is_none(tmp_path: Path) -> None:
    (tmp_path / "script").write_text("#!/bin/sh\n")
    assert read_header(tmp_path / "script") is None
