"""What a build needs to know about an RFS: its library, header and pkg-config directories, and its libc.

One rule decides whether an RFS holds a C library (`libc_runtime`), for every step that asks:
the cross build (is the RFS a whole sysroot?) and `deps` (must the tool-chain's libc be added?).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.elf import ElfHeader, describe, read_header
from ..core.errors import ConfigError
from ..matrix import Target

# Where a glibc-based RFS keeps libc.so.6: plain, or in a Debian multiarch subdirectory.
_LIBC_PLACES = ("lib/libc.so.6", "lib/*/libc.so.6", "usr/lib/libc.so.6", "usr/lib/*/libc.so.6")


def libc_runtime(rfs: Path) -> Path | None:
    """The RFS's C run-time library (libc.so.6), or None when it has none."""
    for pattern in _LIBC_PLACES:
        for found in sorted(rfs.glob(pattern)):
            if found.is_file() or found.is_symlink():
                return found
    return None


def has_libc_headers(rfs: Path) -> bool:
    return (rfs / "usr" / "include" / "stdio.h").exists()


@dataclass(frozen=True, kw_only=True)
class RfsLayout:
    """What the planner needs to know about an RFS (found by `inspect_rfs`)."""

    root: Path
    has_libc: bool  # a C library and its headers: the RFS can be the compiler's --sysroot
    include_dirs: tuple[Path, ...]
    lib_dirs: tuple[Path, ...]
    pkgconfig_dirs: tuple[Path, ...]


def inspect_rfs(rfs: Path, multiarch: str) -> RfsLayout:
    """The RFS's include, lib and pkg-config directories (Debian multiarch and plain).

    The lists are the same whatever exists: installing into the RFS creates directories
    (usr/lib/pkgconfig for python3.pc), and that must not change the next build's inputs.
    Compilers and pkg-config skip directories that do not exist.
    """
    lib_dirs = (rfs / "usr" / "lib" / multiarch, rfs / "lib" / multiarch, rfs / "usr" / "lib", rfs / "lib")
    include_dirs = (rfs / "usr" / "include" / multiarch, rfs / "usr" / "include")
    pkgconfig = (
        rfs / "usr" / "lib" / multiarch / "pkgconfig",
        rfs / "usr" / "lib" / "pkgconfig",
        rfs / "usr" / "share" / "pkgconfig",
    )
    return RfsLayout(
        root=rfs,
        has_libc=libc_runtime(rfs) is not None and has_libc_headers(rfs),
        include_dirs=include_dirs,
        lib_dirs=lib_dirs,
        pkgconfig_dirs=pkgconfig,
    )


def check_target(rfs: Path, target: Target) -> None:
    """Refuse an RFS whose C library (or, without one, whose first shared library) is not for `target`."""
    sample = libc_runtime(rfs)
    if sample is None:
        sample = next(
            (p for d in ("lib", "usr/lib") for p in sorted((rfs / d).glob("**/lib*.so*"))[:50] if read_header(p)),
            None,
        )
    if sample is None:
        return  # no binaries to judge by: the build finds out (it links against the RFS)
    header = read_header(sample)
    want = ElfHeader(target.elf_machine, target.elf_class, target.endianness)
    if header is not None and header != want:
        raise ConfigError(
            f"the RFS {rfs} is for {describe(header)} ({sample.relative_to(rfs)}), "
            f"but {target.triplet} is {describe(want)}",
            hint="give the RFS of a board of this target (`--rfs`), or the target of this RFS (`--triplet`)",
        )
