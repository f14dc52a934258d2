"""A link farm: the RFS's shared-library links as the board sees them, for the build host's linker.

Board RFS copies (and `dpkg -x` of Debian's -dev packages) hold absolute links such as
usr/lib/arm-linux-gnueabihf/libbz2.so -> /lib/arm-linux-gnueabihf/libbz2.so.1.0. On the build
host they dangle, and the linker silently takes libbz2.a instead (an extension module four times
the size). The RFS is never edited: the farm, under artifacts/, holds for each such link one that
leads to the same file resolved inside the RFS (rfs/confine.py), and the build searches it first.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.files import remove_tree
from .confine import RfsEscape, resolve
from .sysroot import RfsLayout


def farm_links(rfs: RfsLayout) -> dict[str, Path]:
    """{path in the farm (relative): the RFS file it stands for} for every shared-library link of the
    RFS's library directories that the build host cannot follow but the board can (pure: reads only)."""
    root = rfs.root
    links: dict[str, Path] = {}
    for libdir in rfs.lib_dirs:
        if not libdir.is_dir():
            continue
        for entry in sorted(libdir.iterdir()):
            if not entry.is_symlink() or not entry.name.startswith("lib") or ".so" not in entry.name:
                continue
            if entry.exists():
                continue  # the build host follows it to the same file: nothing to stand in for
            try:
                target = resolve(root, str(entry.relative_to(root)))
            except RfsEscape:
                continue
            if target.is_file():
                links[str(entry.relative_to(root))] = target
    return links


def make_farm(rfs: RfsLayout, farm: Path) -> tuple[Path, ...]:
    """Write the farm (replacing an old one); returns its library directories, in the RFS's order."""
    links = farm_links(rfs)
    remove_tree(farm)
    for rel, target in links.items():
        dest = farm / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.symlink_to(target)
    dirs = []
    for libdir in rfs.lib_dirs:
        mirrored = farm / libdir.relative_to(rfs.root)
        if mirrored.is_dir() and any(p.is_symlink() for p in mirrored.iterdir()):
            dirs.append(mirrored)
    return tuple(dirs)


def describe_farm(farm_dirs: tuple[Path, ...]) -> list[str]:
    """The farm's links, for the build's inputs: a changed RFS link means another build."""
    return sorted(f"{d.name}/{e.name}->{os.readlink(e)}" for d in farm_dirs for e in d.iterdir())
