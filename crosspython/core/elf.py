"""Read just enough of an ELF header to check that a file was built for the target."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

# e_machine values (ELF gABI), named as lief names them (lief.ELF.ARCH).
MACHINES: dict[int, str] = {
    3: "I386",
    8: "MIPS",
    20: "PPC",
    21: "PPC64",
    40: "ARM",
    62: "X86_64",
    183: "AARCH64",
    243: "RISCV",
}


@dataclass(frozen=True)
class ElfHeader:
    machine: str
    elf_class: int
    endianness: str


def read_header(path: Path) -> ElfHeader | None:
    """The ELF header of `path`, or None when it is not an ELF file."""
    try:
        with path.open("rb") as handle:
            return parse_header(handle.read(20))
    except OSError:
        return None


def parse_header(ident: bytes) -> ElfHeader | None:
    """The ELF header in a file's first 20 bytes, or None when they are not an ELF file's."""
    if len(ident) < 20 or ident[:4] != b"\x7fELF":
        return None
    elf_class = {1: 32, 2: 64}.get(ident[4], 0)
    endianness = {1: "little", 2: "big"}.get(ident[5], "unknown")
    (machine,) = struct.unpack("<H" if endianness == "little" else ">H", ident[18:20])
    return ElfHeader(machine=MACHINES.get(machine, f"EM_{machine}"), elf_class=elf_class, endianness=endianness)


def mismatch(header: ElfHeader, *, machine: str, elf_class: int, endianness: str) -> str | None:
    """What differs from the target, or None."""
    want = ElfHeader(machine, elf_class, endianness)
    if header == want:
        return None
    return f"{describe(header)}, expected {describe(want)}"


def describe(header: ElfHeader) -> str:
    """ARM/32-bit/little-endian: how errors name an ELF identity."""
    return f"{header.machine}/{header.elf_class}-bit/{header.endianness}-endian"
