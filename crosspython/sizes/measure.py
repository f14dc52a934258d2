"""Measuring what an install costs in bytes: lief reads every ELF of each staged cell, as built and stripped.

Each cell's stage (artifacts/stage/<cell>/, made by `install`/`stage`) is measured as built, and
again after the target's `strip --strip-unneeded` on copies of its ELF files (stripping is a
knob applied after install: it never rebuilds). Every ELF must be the target's: a host ELF in the
output is an error.
"""

from __future__ import annotations

import bisect
import json
import os
import shutil
import stat
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ..core import pythontree
from ..core.errors import BuildIncomplete, ConfigError
from ..core.files import remove_tree, write_json_atomic
from ..core.layout import Layout
from ..core.runner import Runner, Step
from ..core.stamps import Stamp, fingerprint
from ..install.stage import StageRecord, read_stage_record
from ..matrix import STRIP_SUFFIX, Matrix
from .dwarf import CodeMap, Sections, code_map

# What an ELF file of an installed CPython is, for the report's columns.
Role = Literal["interpreter", "libpython", "extension", "other"]

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


@dataclass(frozen=True, kw_only=True)
class ElfSize:
    """One ELF file as lief reads it."""

    path: str
    role: Role
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


@dataclass(frozen=True)
class Symbol:
    """A sized symbol of an ELF's symbol table (.symtab: present until stripped)."""

    name: str
    size: int
    section: str  # its section's group (text, rodata, data, bss), else the section's own name
    file: str  # the source file it came from, where the symbol table says it (see attribute_files)


@dataclass(frozen=True)
class RawSymbol:
    """A symbol-table entry as read, in table order (what attribute_files needs)."""

    name: str
    address: int
    size: int
    section: str
    local: bool
    file: str  # the STT_FILE entry before it, for a local symbol; "" for a global one


def attribute_files(raw: list[RawSymbol], code: CodeMap | None = None) -> tuple[Symbol, ...]:
    """Sized symbols with their source files, as far as the debug info or the symbol table tells them.

    Code first by the debug info (`code`: the compile unit whose ranges hold its address). Else a
    local symbol follows the STT_FILE entry of its source file (the table lists each object's
    locals after its file's name), and a global one gets the file of the local symbols on both
    sides of it in its section, when they are of the same file (the linker keeps each object's
    sections together); else "".
    """
    by_section: dict[str, list[tuple[int, str]]] = {}
    for r in raw:
        if r.local and r.file and r.size:
            by_section.setdefault(r.section, []).append((r.address, r.file))
    for located in by_section.values():
        located.sort()
    out = []
    for r in raw:
        if not r.size:
            continue
        file = code.file_at(r.address) if code is not None and r.section == "text" else ""
        if not file and r.local:
            file = r.file
        elif not file:
            located = by_section.get(r.section, [])
            after = bisect.bisect_right(located, (r.address, "\uffff"))
            before = located[after - 1][1] if after > 0 else ""
            following = located[after][1] if after < len(located) else ""
            file = before if before and before == following else ""
        out.append(Symbol(name=r.name, size=r.size, section=r.section, file=file))
    return tuple(out)


def _group(name: str) -> str | None:
    for group, prefixes in SECTION_GROUPS:
        if any(
            name == p or name.startswith(p + ".") or (p == ".debug" and name.startswith(".debug_")) for p in prefixes
        ):
            return group
    return None


def read_elf(path: Path, rel: str, role: Role) -> ElfSize:
    """Sizes of `path` by section group, with its ELF identity."""
    return _read(path, rel, role, symbols=False)[0]


def read_elf_symbols(path: Path, rel: str, role: Role) -> tuple[ElfSize, tuple[Symbol, ...]]:
    """read_elf, and the sized symbols of its symbol table (none once stripped)."""
    return _read(path, rel, role, symbols=True)


def _read(
    path: Path, rel: str, role: Role, *, symbols: bool, size: int | None = None
) -> tuple[ElfSize, tuple[Symbol, ...]]:
    import lief  # here, not at the top: only `sizes` needs it, and it costs a quarter second to import

    binary = lief.ELF.parse(str(path))
    if binary is None:
        raise BuildIncomplete(f"lief could not read {path} as ELF")
    found = _symbols(binary, lief) if symbols else ()
    groups = dict.fromkeys((g for g, _ in SECTION_GROUPS), 0)
    alloc = 0
    for section in binary.sections:
        if section.has(lief.ELF.Section.FLAGS.ALLOC):
            alloc += section.size
        group = _group(str(section.name))
        if group:
            groups[group] += section.size
    header = binary.header
    measured = ElfSize(
        path=rel,
        role=role,
        file_size=path.stat().st_size if size is None else size,
        alloc_size=alloc,
        machine=str(header.machine_type).split(".")[-1],
        elf_class={lief.ELF.Header.CLASS.ELF32: 32, lief.ELF.Header.CLASS.ELF64: 64}.get(header.identity_class, 0),
        endianness={lief.ELF.Header.ELF_DATA.LSB: "little", lief.ELF.Header.ELF_DATA.MSB: "big"}.get(
            header.identity_data, "unknown"
        ),
        **groups,
    )
    return measured, found


def _dwarf(binary: Any) -> CodeMap | None:
    """The code map of the ELF's debug info, when it has some."""
    found = {}
    for name in (".debug_aranges", ".debug_info", ".debug_abbrev", ".debug_str", ".debug_line_str"):
        section = binary.get_section(name)
        found[name] = bytes(section.content) if section is not None else b""
    if not (found[".debug_aranges"] and found[".debug_info"] and found[".debug_abbrev"]):
        return None
    little = str(binary.header.identity_data).endswith("LSB")
    return code_map(
        Sections(
            aranges=found[".debug_aranges"],
            info=found[".debug_info"],
            abbrev=found[".debug_abbrev"],
            str=found[".debug_str"],
            line_str=found[".debug_line_str"],
            little=little,
        )
    )


def _symbols(binary: Any, lief: Any) -> tuple[Symbol, ...]:
    """The sized, defined symbols of .symtab, each with its section's group and source file."""
    sections = [str(s.name) for s in binary.sections]
    file_type = lief.ELF.Symbol.TYPE.FILE
    local = lief.ELF.Symbol.BINDING.LOCAL
    raw: list[RawSymbol] = []
    current = ""
    for sym in binary.symtab_symbols:
        if sym.type == file_type:
            current = str(sym.name)
            continue
        index = sym.shndx
        if not sym.size or index == 0 or index >= len(sections):  # undefined, absolute or common
            continue
        section = sections[index]
        is_local = sym.binding == local
        raw.append(
            RawSymbol(
                name=str(sym.name),
                address=sym.value,
                size=sym.size,
                section=_group(section) or section,
                local=is_local,
                file=current if is_local else "",
            )
        )
    return attribute_files(raw, _dwarf(binary))


def _is_elf(path: str | Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:
        return False


def role_of(rel: str, short: str) -> Role:
    if rel == pythontree.interpreter(short):
        return "interpreter"
    if rel.startswith(pythontree.libpython_prefix(short)):
        return "libpython"
    if rel.startswith(pythontree.lib_dynload(short) + "/"):
        return "extension"
    return "other"


@dataclass(frozen=True, kw_only=True)
class TreeSizes:
    """A staged tree, measured: its ELF files and its total bytes."""

    elves: tuple[ElfSize, ...]
    tree_bytes: int  # apparent size of every regular file in the tree
    archive_bytes: int = 0  # static libraries (*.a, e.g. libpython3.13.a): not ELF, but part of the tree
    symbols: dict[str, tuple[Symbol, ...]] = field(default_factory=dict)  # by ELF path, when read


# Files by these endings are never ELF: their first bytes are not read (a stage holds thousands).
_NOT_ELF = (".py", ".pyc", ".h", ".txt", ".rst", ".html", ".css", ".js", ".json", ".xml", ".toml", ".cfg", ".pem")


def measure_tree(root: Path, short: str, *, symbols: bool = False) -> TreeSizes:
    """Every ELF of the tree measured (with symbols=True, also its symbol table), and its bytes."""
    elves: list[ElfSize] = []
    table: dict[str, tuple[Symbol, ...]] = {}
    total = archives = 0
    top = str(root)
    # Plain strings and one lstat per file: pathlib's objects were most of a stage's walk.
    for dirpath, _, filenames in os.walk(top):
        for name in sorted(filenames):
            if name.startswith(".crosspython-"):
                continue
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            total += st.st_size
            if name.endswith(".a"):
                archives += st.st_size
            if not name.endswith(_NOT_ELF) and _is_elf(path):
                rel = os.path.relpath(path, top)
                elf, found = _read(Path(path), rel, role_of(rel, short), symbols=symbols, size=st.st_size)
                elves.append(elf)
                if found:
                    table[rel] = found
    return TreeSizes(
        elves=tuple(sorted(elves, key=lambda e: e.path)), tree_bytes=total, archive_bytes=archives, symbols=table
    )


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
    python: str  # the full release
    tag: str  # the version's tag (cp313), as in cell ids
    triplet: str
    variant: str
    stripped: bool
    elves: tuple[ElfSize, ...]
    tree_bytes: int
    archive_bytes: int = 0
    # the symbol tables of its ELF files, by path (as built: a stripped file has none)
    symbols: dict[str, tuple[Symbol, ...]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def build(self) -> str:
        """Row label: the variant, `+strip` when stripped."""
        return self.variant + (STRIP_SUFFIX if self.stripped else "")

    @property
    def group(self) -> str:
        """What rows are compared within: one CPython version for one target."""
        return f"{self.tag}-{self.triplet}"

    def total(self, role: Role | None = None, attr: str = "file_size") -> int:
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


def measure_cell(
    stage: Path, layout: Layout, matrix: Matrix, runner: Runner, *, symbols: bool = False
) -> list[Measurement]:
    """Measure one staged cell as built and stripped (strip results are reused while the stage is unchanged).
    symbols=True also reads the symbol tables of the ELF files as built (what `--compare` diffs)."""
    record = read_stage_record(stage)
    if record is None:
        raise ConfigError(f"{stage} has no stamp: it was not made by `invoke stage`/`install`")
    return _measure(stage, record, layout, matrix, runner, symbols=symbols)


def symbols_to_json(tables: dict[str, tuple[Symbol, ...]]) -> dict[str, list[list[object]]]:
    """ELF path -> [name, bytes, section, source file] of each symbol: how sizes.json and a kept
    measurement hold symbol tables (a list per symbol: there are thousands)."""
    return {path: [[x.name, x.size, x.section, x.file] for x in found] for path, found in sorted(tables.items())}


def symbols_from_json(tables: dict[str, list[list[Any]]]) -> dict[str, tuple[Symbol, ...]]:
    return {
        path: tuple(Symbol(name=str(n), size=int(z), section=str(sec), file=str(f)) for n, z, sec, f in rows)
        for path, rows in tables.items()
    }


def _tree_to_json(tree: TreeSizes) -> dict[str, Any]:
    return {
        "elves": [asdict(e) for e in tree.elves],
        "tree_bytes": tree.tree_bytes,
        "archive_bytes": tree.archive_bytes,
        "symbols": symbols_to_json(tree.symbols),
    }


def _tree_from_json(data: dict[str, Any]) -> TreeSizes:
    return TreeSizes(
        elves=tuple(ElfSize(**e) for e in data["elves"]),
        tree_bytes=int(data["tree_bytes"]),
        archive_bytes=int(data["archive_bytes"]),
        symbols=symbols_from_json(data["symbols"]),
    )


# What a kept measurement is named by, beside the stage: a change of how trees are measured
# (this module) must not read measurements made the old way.
MEASURE_VERSION = 1


def _kept(path: Path, key: str, symbols: bool) -> tuple[TreeSizes, TreeSizes] | None:
    """The measurement kept for this stage (when it read the symbol tables, if they are wanted)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != key or (symbols and not data.get("symbols")):
        return None
    try:
        return _tree_from_json(data["built"]), _tree_from_json(data["stripped"])
    except (KeyError, TypeError, ValueError):
        return None


def _measure(
    stage: Path, record: StageRecord, layout: Layout, matrix: Matrix, runner: Runner, *, symbols: bool
) -> list[Measurement]:
    target = matrix.target(record.triplet)
    version = matrix.version(record.python)
    strip = Path(record.strip)
    stripped_dir = layout.stripped_copies(record.cell)
    strip_inputs = {"stage": fingerprint(record.to_inputs()), "strip": str(strip)}
    # A stage is written only by `stage`, which writes its stamp last: while the stamp is the one
    # written then (its record and its time), the stage is what was measured (lief is not even
    # imported then). A stage made again, even from the same inputs, is measured again.
    made = Stamp(stage).path.stat().st_mtime_ns
    key = fingerprint({**strip_inputs, "made": made, "version": MEASURE_VERSION})
    kept = _kept(layout.measured(record.cell), key, symbols)
    if kept is not None:
        built, stripped = kept
    else:
        # Symbol tables only when asked: reading them costs more than the rest of a cell's measurement.
        built = measure_tree(stage, version.short, symbols=symbols)
        check_identity(
            built,
            machine=target.elf_machine,
            elf_class=target.elf_class,
            endianness=target.endianness,
            where=str(stage),
        )
        strip_stamp = Stamp(stripped_dir)
        if not strip_stamp.matches(strip_inputs):
            if not os.access(strip, os.X_OK):
                raise ConfigError(f"{strip} (the cell's tool-chain strip) is missing", hint="run `invoke setup`")
            with runner.step(record.cell, "strip") as step:
                strip_copies(stage, built.elves, strip, stripped_dir, step)
                step.note(f"stripped {len(built.elves)} ELF files with {strip.name} --strip-unneeded")
            strip_stamp.write(strip_inputs)
        stripped = measure_tree(stripped_dir, version.short)
        data = {"key": key, "symbols": symbols, "built": _tree_to_json(built), "stripped": _tree_to_json(stripped)}
        write_json_atomic(layout.measured(record.cell), data)
    # The stripped tree: the stage with its ELF files replaced by their stripped copies.
    stripped_tree = built.tree_bytes - sum(e.file_size for e in built.elves) + sum(e.file_size for e in stripped.elves)
    as_built = Measurement(
        cell=record.cell,
        python=version.full,
        tag=version.tag,
        triplet=target.triplet,
        variant=record.variant,
        stripped=False,
        elves=built.elves,
        tree_bytes=built.tree_bytes,
        archive_bytes=built.archive_bytes,
        symbols=built.symbols if symbols else {},
    )
    return [as_built, replace(as_built, stripped=True, elves=stripped.elves, tree_bytes=stripped_tree, symbols={})]


def measure_all(layout: Layout, matrix: Matrix, runner: Runner, *, symbols: bool = False) -> list[Measurement]:
    """Every complete stage under artifacts/stage/, measured."""
    stages = [(p, r) for p in sorted(layout.stages.glob("*")) if (r := read_stage_record(p)) is not None]
    if not stages:
        raise ConfigError(
            "no staged cell to measure", hint="build and stage one first: `invoke cross stage` (or `install`)"
        )
    result: list[Measurement] = []
    for stage, record in stages:
        result += _measure(stage, record, layout, matrix, runner, symbols=symbols)
    return result
