"""Measurements made up for the report and gate tests (no lief, no tool-chain)."""

from __future__ import annotations

from crosspython.sizes.measure import ElfSize, Measurement, Role


def elf(path: str, role: Role, size: int, text: int = 0, debug: int = 0) -> ElfSize:
    return ElfSize(
        path=path,
        role=role,
        file_size=size,
        alloc_size=text * 2,
        text=text,
        rodata=0,
        data=0,
        bss=0,
        symtab=0,
        strtab=0,
        debug=debug,
        machine="ARM",
        elf_class=32,
        endianness="little",
    )


def measurement(variant: str, stripped: bool, interp: int, ssl: int, tree: int) -> Measurement:
    elves = (
        elf("usr/bin/python3.13", "interpreter", interp, text=interp // 10),
        elf("usr/lib/python3.13/lib-dynload/_ssl.cpython-313-arm-linux-gnueabihf.so", "extension", ssl),
        elf("usr/lib/python3.13/lib-dynload/zlib.cpython-313-arm-linux-gnueabihf.so", "extension", 1000),
    )
    archives = 47_000_000 if variant.startswith("sections") else 44_000_000
    return Measurement(
        cell=f"cp313-arm-linux-gnueabihf-{variant}",
        python="3.13.5",
        tag="cp313",
        triplet="arm-linux-gnueabihf",
        variant=variant,
        stripped=stripped,
        elves=elves,
        tree_bytes=tree,
        archive_bytes=archives,
    )


MEASURED = [
    measurement("default", False, 29_400_000, 500_000, 300_000_000),
    measurement("default", True, 3_650_000, 100_000, 280_000_000),
    measurement("sections", False, 29_000_000, 490_000, 299_000_000),
    measurement("sections", True, 3_600_000, 98_000, 279_000_000),
    measurement("sections_nogc", False, 29_500_000, 500_000, 300_100_000),
]
