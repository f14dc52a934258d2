"""Paths inside an RFS, resolved as the board resolves them: nothing escapes the root.

On the build host an RFS is a directory, and its symbolic links are meant for the board: an
absolute link `usr/lib -> /usr/lib` means the board's /usr/lib, not the build host's. Followed
with the host's view, writing through it would write into the build host (as root). Every path
crosspython writes into (or removes from) an RFS is resolved here first: absolute link targets
are re-rooted at the RFS, and a link whose `..` climbs above the root is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import CrossPythonError

MAX_LINKS = 40  # as Linux's ELOOP limit


class RfsEscape(CrossPythonError):
    """A path in the RFS leads out of it (a link climbs above its root, or links loop)."""

    exit_code = 11


def resolve(rfs: Path, rel: str, *, follow_last: bool = True) -> Path:
    """The build-host path of `rel` inside `rfs`, every symbolic link followed as the board would.

    With follow_last=False a link that is the last component is not followed (it is the entry
    itself, which an install replaces). The result is always under `rfs` (its real path).
    """
    root = Path(os.path.realpath(rfs))
    current = root
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    followed = 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            if current == root:
                raise RfsEscape(
                    f"{rel!r} in the RFS {rfs} climbs above its root",
                    hint="the RFS holds a relative link with too many `..`: fix the link, or give another --rfs",
                )
            current = current.parent
            continue
        candidate = current / name
        if candidate.is_symlink() and (parts or follow_last):
            followed += 1
            if followed > MAX_LINKS:
                raise RfsEscape(f"{rel!r} in the RFS {rfs}: too many levels of symbolic links (a loop)")
            target = os.readlink(candidate)
            if target.startswith("/"):
                current = root  # the board's root, not the build host's
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        current = candidate
    return current


def inside(rfs: Path, rel: str) -> Path:
    """Where an install writes the entry `rel`: its directory resolved board-style, the entry itself
    not followed (a link there is replaced, never written through)."""
    parent, _, name = rel.rpartition("/")
    return resolve(rfs, parent) / name if name else resolve(rfs, rel)


class RfsView:
    """`inside` for many entries of one RFS: each directory is resolved once."""

    def __init__(self, rfs: Path) -> None:
        self.rfs = rfs
        self._dirs: dict[str, Path] = {}

    def inside(self, rel: str) -> Path:
        parent, _, name = rel.rpartition("/")
        if parent not in self._dirs:
            self._dirs[parent] = resolve(self.rfs, parent)
        return self._dirs[parent] / name
