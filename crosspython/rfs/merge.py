"""Merging a staged tree into an RFS: a dry run that finds what would stop it, then the copy.

Nothing is written until the dry run found nothing in the way; each file lands by an atomic rename.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Literal

from .confine import RfsEscape, RfsView, inside, resolve

# What a staged entry is; a symlinked directory stays a link (it is not descended into).
EntryKind = Literal["dir", "file", "link"]
Entry = tuple[str, EntryKind]
TMP_SUFFIX = ".crosspython-tmp"


def staged_entries(stage: Path) -> list[Entry]:
    """(relative path, kind) for everything staged, parents before children; kind: dir|file|link."""
    entries: list[Entry] = []
    for dirpath, dirnames, filenames in os.walk(stage):
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted(dirnames + filenames):
            if name.startswith(".crosspython-"):
                continue  # our stamp, not part of the install
            path = base / name
            rel = str(path.relative_to(stage))
            kind: EntryKind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
            entries.append((rel, kind))
        # os.walk does not descend into symlinked directories: they stay links.
        dirnames[:] = [d for d in dirnames if not (base / d).is_symlink()]
    return entries


def destination(rfs: Path, rel: str, kind: EntryKind) -> Path:
    """Where an entry lands in `rfs`, resolved as the board resolves it (rfs/confine.py): a directory
    is followed through links (the board's `lib -> usr/lib`); a file or link replaces what is there."""
    return resolve(rfs, rel) if kind == "dir" else inside(rfs, rel)


def merge_problems(stage: Path, rfs: Path, entries: list[Entry]) -> list[str]:
    """A dry run of the merge: what would stop it, found before anything is written."""
    problems: list[str] = []
    if not os.access(rfs, os.W_OK | os.X_OK):
        return [f"{rfs} is not writable by this user (crosspython never uses sudo)"]
    planned: set[Path] = set()  # directories the merge will make
    blocked: set[Path] = set()  # directories that cannot be made: what goes in them is not named again
    for rel, kind in entries:
        try:
            dest = destination(rfs, rel, kind)
        except RfsEscape as exc:
            problems.append(exc.message)
            continue
        if dest.parent in blocked:
            blocked.add(dest)
            continue
        exists = dest.is_symlink() or dest.exists()
        if not exists:
            if not (dest.parent.is_dir() or dest.parent in planned):
                blocked.add(dest)
                problems.append(f"{rel} leads to {dest} through the RFS's links, and the RFS has no {dest.parent}")
            elif kind == "dir":
                planned.add(dest)
            continue
        if kind == "dir" and not dest.is_dir():
            blocked.add(dest)
            problems.append(f"{dest} is a file, but a directory must be installed there")
        elif kind == "dir" and not os.access(dest, os.W_OK | os.X_OK):
            problems.append(f"{dest} is not writable by this user")
        elif kind != "dir" and dest.is_dir() and not dest.is_symlink():
            problems.append(f"{dest} is a directory, but a {kind} must be installed there")
    return problems


def space_needed(stage: Path, rfs: Path, entries: list[Entry]) -> int:
    """Bytes the merge takes from the RFS's file system at its peak, counted in its blocks: the new
    files and directories, less the files they replace, plus the largest file (it is written beside
    the one it replaces before the rename). Files of a previous install that are removed afterwards
    do not count: they are still there while the merge runs."""
    block = os.statvfs(rfs).f_frsize or 4096

    def blocks(size: int) -> int:
        return -(-size // block) * block

    needed = largest = 0
    for rel, kind in entries:
        try:
            dest = destination(rfs, rel, kind)
        except RfsEscape:
            continue  # merge_problems names it; nothing is written
        if kind == "dir":
            needed += 0 if dest.is_dir() else block
            continue
        size = blocks((stage / rel).lstat().st_size) if kind == "file" else block
        largest = max(largest, size)
        needed += size
        if not dest.is_symlink() and dest.is_file():
            needed -= blocks(dest.stat().st_size)
    return max(needed, 0) + largest


def merge(stage: Path, rfs: Path, entries: list[Entry]) -> None:
    """Copy the staged tree into the RFS; each file lands by an atomic rename.

    Every destination is resolved inside the RFS first: nothing is written through a link as the
    build host would follow it.
    """
    for rel, kind in entries:
        src = stage / rel
        dest = destination(rfs, rel, kind)
        if kind == "dir":
            dest.mkdir(exist_ok=True)
            shutil.copystat(src, dest, follow_symlinks=False)
            continue
        tmp = dest.with_name(f".{dest.name}{TMP_SUFFIX}")
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        if kind == "link":
            tmp.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, tmp, follow_symlinks=False)
        os.replace(tmp, dest)


def remove(rfs: Path, rel: str) -> Path:
    """Remove the entry `rel` of `rfs` (a file or a link, never what a link points to); returns
    where it was, resolved inside the RFS."""
    path = inside(rfs, rel)
    path.unlink()
    return path


def clean_leftovers(rfs: Path, entries: list[Entry]) -> int:
    """Remove the temporary files (.<name>.crosspython-tmp) an interrupted merge left in the
    directories this merge writes into; returns how many."""
    view = RfsView(rfs)
    removed = 0
    for directory in sorted({view.inside(rel).parent for rel, _ in entries}):
        for tmp in directory.glob(f".*{TMP_SUFFIX}") if directory.is_dir() else []:
            if tmp.is_file() or tmp.is_symlink():
                tmp.unlink()
                removed += 1
    return removed
