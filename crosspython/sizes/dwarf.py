"""Which compile unit (source file) each code address came from: the DWARF of an ELF built with -g.

Just enough of DWARF 2-5 for that: `.debug_aranges` lists each compile unit's code ranges and
where the unit starts in `.debug_info`; the unit's first entry (DW_TAG_compile_unit) carries
its DW_AT_name, read with the unit's abbreviations from `.debug_abbrev`. (lief's own DWARF
support is not in its free build.) A unit this cannot read is left out: its symbols keep what
the symbol table tells.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass

DW_AT_NAME = 0x03
# form -> its size in a .debug_info entry, for fixed-size forms (32-bit DWARF; address forms apart)
_FIXED = {
    0x0B: 1,  # data1
    0x05: 2,  # data2
    0x06: 4,  # data4
    0x07: 8,  # data8
    0x1E: 16,  # data16
    0x0C: 1,  # flag
    0x19: 0,  # flag_present
    0x21: 0,  # implicit_const (its value is in the abbreviation)
    0x0E: 4,  # strp
    0x1F: 4,  # line_strp
    0x17: 4,  # sec_offset
    0x10: 4,  # ref_addr (version 3 and later)
    0x11: 1,  # ref1
    0x12: 2,  # ref2
    0x13: 4,  # ref4
    0x14: 8,  # ref8
    0x25: 1,  # strx1
    0x26: 2,  # strx2
    0x27: 3,  # strx3
    0x28: 4,  # strx4
    0x29: 1,  # addrx1
    0x2A: 2,  # addrx2
    0x2B: 3,  # addrx3
    0x2C: 4,  # addrx4
    0x20: 8,  # ref_sig8
}
_ULEB_FORMS = {0x0F, 0x15, 0x1A, 0x1B, 0x22, 0x23}  # udata, ref_udata, strx, addrx, loclistx, rnglistx


class _Unreadable(Exception):
    pass


@dataclass
class _Reader:
    data: bytes
    pos: int
    little: bool

    def u(self, size: int) -> int:
        if self.pos + size > len(self.data):
            raise _Unreadable("past the end")
        value = int.from_bytes(self.data[self.pos : self.pos + size], "little" if self.little else "big")
        self.pos += size
        return value

    def uleb(self) -> int:
        # byte by byte, without u(): abbreviation tables are read by the thousand entries
        data, pos, result, shift = self.data, self.pos, 0, 0
        try:
            while True:
                byte = data[pos]
                pos += 1
                result |= (byte & 0x7F) << shift
                if byte < 0x80:
                    self.pos = pos
                    return result
                shift += 7
        except IndexError:
            raise _Unreadable("past the end") from None

    def sleb(self) -> int:
        result = shift = 0
        while True:
            byte = self.u(1)
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result - (1 << shift) if byte & 0x40 else result

    def cstring(self) -> bytes:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise _Unreadable("an unterminated string")
        text = self.data[self.pos : end]
        self.pos = end + 1
        return text


@dataclass(frozen=True)
class Sections:
    """The DWARF sections of one ELF, as bytes (empty when absent)."""

    aranges: bytes
    info: bytes
    abbrev: bytes
    str: bytes
    line_str: bytes
    little: bool


def _cstring_at(data: bytes, offset: int) -> str:
    end = data.find(b"\0", offset)
    if offset >= len(data) or end < 0:
        raise _Unreadable("a string offset out of range")
    return data[offset:end].decode("utf-8", "replace")


def _abbreviation(abbrev: bytes, offset: int, code: int, little: bool) -> list[tuple[int, int]]:
    """The (attribute, form) list of abbreviation `code` in the table at `offset`."""
    r = _Reader(abbrev, offset, little)
    while True:
        found = r.uleb()
        if found == 0:
            raise _Unreadable(f"no abbreviation {code}")
        r.uleb()  # tag
        r.pos += 1  # has children
        specs = []
        while True:
            attribute, form = r.uleb(), r.uleb()
            if attribute == 0 and form == 0:
                break
            if form == 0x21:
                r.sleb()  # implicit_const's value
            specs.append((attribute, form))
        if found == code:
            return specs


def unit_name(s: Sections, offset: int) -> str:
    """DW_AT_name of the compile unit at `offset` in .debug_info."""
    r = _Reader(s.info, offset, s.little)
    if r.u(4) == 0xFFFFFFFF:
        raise _Unreadable("64-bit DWARF")
    version = r.u(2)
    if version >= 5:
        r.u(1)  # unit type
        address_size = r.u(1)
        abbrev_offset = r.u(4)
    else:
        abbrev_offset = r.u(4)
        address_size = r.u(1)
    code = r.uleb()
    for attribute, form in _abbreviation(s.abbrev, abbrev_offset, code, s.little):
        if attribute == DW_AT_NAME:
            if form == 0x08:  # string, in place
                return r.cstring().decode("utf-8", "replace")
            if form == 0x0E:  # strp
                return _cstring_at(s.str, r.u(4))
            if form == 0x1F:  # line_strp
                return _cstring_at(s.line_str, r.u(4))
            raise _Unreadable(f"DW_AT_name in form {form:#x}")
        if form in _FIXED:
            r.pos += _FIXED[form]
        elif form == 0x01:  # addr
            r.pos += address_size
        elif form in _ULEB_FORMS:
            r.uleb()
        elif form == 0x0D:  # sdata
            r.sleb()
        elif form == 0x08:
            r.cstring()
        elif form in (0x0A, 0x03, 0x04, 0x09, 0x18):  # block1, block2, block4, block, exprloc
            size = {0x0A: 1, 0x03: 2, 0x04: 4}.get(form)
            r.pos += r.u(size) if size else r.uleb()
        else:
            raise _Unreadable(f"form {form:#x}")
    raise _Unreadable("no DW_AT_name")


@dataclass(frozen=True)
class CodeMap:
    """Code address ranges, each with the source file (its base name) it was compiled from."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]
    files: tuple[str, ...]

    def file_at(self, address: int) -> str:
        i = bisect.bisect_right(self.starts, address) - 1
        return self.files[i] if i >= 0 and address < self.ends[i] else ""


def code_map(s: Sections) -> CodeMap:
    """The ranges .debug_aranges lists, named after their units (those this can read)."""
    names: dict[int, str] = {}
    ranges: list[tuple[int, int, str]] = []
    r = _Reader(s.aranges, 0, s.little)
    while r.pos < len(s.aranges):
        try:
            start = r.pos
            length = r.u(4)
            if length == 0xFFFFFFFF:
                break  # 64-bit DWARF: not on these targets
            end = start + 4 + length
            r.u(2)  # version
            info_offset = r.u(4)
            address_size, segment_size = r.u(1), r.u(1)
            if address_size not in (4, 8) or segment_size:
                r.pos = end
                continue
            # the tuples start at a multiple of twice the address size from the set's start
            pad = (-(r.pos - start)) % (2 * address_size)
            r.pos += pad
            if info_offset not in names:
                try:
                    names[info_offset] = unit_name(s, info_offset).rsplit("/", 1)[-1]
                except _Unreadable:
                    names[info_offset] = ""
            while r.pos + 2 * address_size <= end:
                address, size = r.u(address_size), r.u(address_size)
                if address == 0 and size == 0:
                    break
                if names[info_offset]:
                    ranges.append((address, address + size, names[info_offset]))
            r.pos = end
        except (_Unreadable, struct.error):
            break
    ranges.sort()
    return CodeMap(
        starts=tuple(a for a, _, _ in ranges), ends=tuple(b for _, b, _ in ranges), files=tuple(n for _, _, n in ranges)
    )
