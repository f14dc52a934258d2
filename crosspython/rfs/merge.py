"""Merging a staged tree into an RFS: a dry run that finds what would stop it, then the copy.

Nothing is written until the dry run found nothing in the way; each file lands by an atomic rename.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Literal

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


def merge_problems(stage: Path, rfs: Path, entries: list[Entry]) -> list[str]:
    """A dry run of the merge: what would stop it, found before anything is written."""
    problems: list[str] = []
    if not os.access(rfs, os.W_OK | os.X_OK):
        return [f"{rfs} is not writable by this user (crosspython never uses sudo)"]
    for rel, kind in entries:
        dest = rfs / rel
        exists = dest.is_symlink() or dest.exists()
        if not exists:
            continue
        if kind == "dir" and not dest.is_dir():
            problems.append(f"{dest} is a file, but a directory must be installed there")
        elif kind == "dir" and not os.access(dest, os.W_OK | os.X_OK):
            problems.append(f"{dest} is not writable by this user")
        elif kind != "dir" and dest.is_dir() and not dest.is_symlink():
            problems.append(f"{dest} is a directory, but a {kind} must be installed there")
    return problems


def merge(stage: Path, rfs: Path, entries: list[Entry]) -> None:
    """Copy the staged tree into the RFS; each file lands by an atomic rename."""
    for rel, kind in entries:
        src = stage / rel
        dest = rfs / rel
        if kind == "dir":
            dest.mkdir(exist_ok=True)
            shutil.copystat(src, dest)
            continue
        tmp = dest.with_name(f".{dest.name}{TMP_SUFFIX}")
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        if kind == "link":
            tmp.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, tmp)
        os.replace(tmp, dest)
