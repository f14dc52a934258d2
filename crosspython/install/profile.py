"""What an install profile keeps of a staged tree, and why it leaves the rest out (pure).

Every staged path is put into a category (the footprint report's rows) and, under the stdlib,
mapped to the module it belongs to; the profile's path patterns, its dropped modules and, for a
profile with a module list, the import closure then decide what is kept.
"""

from __future__ import annotations

import fnmatch
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal, get_args

from ..core import pythontree
from ..matrix import Profile
from ..rfs.merge import Entry

# The rows of the installed-footprint report.
Category = Literal[
    "interpreter",
    "libpython",
    "extension modules",
    "stdlib bytecode",
    "stdlib sources",
    "stdlib zip",
    "tests",
    "static libraries",
    "headers and config",
    "other",
]
CATEGORIES: tuple[Category, ...] = get_args(Category)
FileKind = Literal["source", "bytecode", "extension", "data"]
# Directories under the stdlib that are not module packages.
_NOT_MODULES = ("site-packages", "lib-dynload")
# Module names (or components) that make a file part of a test suite.
_TEST_PARTS = ("test", "tests", "idle_test")


@dataclass(frozen=True)
class StdlibFile:
    """A file under usr/lib/python<X.Y>/: the module it belongs to (a package for its data files)."""

    module: str | None  # None: not a module's file (LICENSE.txt, config-*/, site-packages/)
    kind: FileKind


def stdlib_file(rel: str, short: str) -> StdlibFile | None:
    """What `rel` is in the stdlib of Python `short`, or None when it is not under the stdlib."""
    root = pythontree.stdlib(short) + "/"
    if not rel.startswith(root):
        return None
    parts = rel[len(root) :].split("/")
    if parts[0] == "site-packages" or (len(parts) > 1 and pythontree.is_config_dir(parts[0])):
        return StdlibFile(None, "data")
    name = parts[-1]
    if parts[0] == "lib-dynload":
        if name.endswith(".so"):
            return StdlibFile(pythontree.module_name(name), "extension")
        return StdlibFile(None, "data")
    if not parts[0].replace("_", "a").isalnum() and len(parts) > 1:
        parts = parts[1:]  # 2.7's lib-tk/, plat-linux2/: directories on sys.path, not packages
    dirs = [p for p in parts[:-1] if p != "__pycache__"]
    if name.endswith(".py"):
        stem, kind = name[:-3], "source"
    elif name.endswith((".pyc", ".pyo")):
        # __pycache__/os.cpython-313.opt-1.pyc, or os.pyc beside os.py (2.7, pyc-only layouts)
        stem, kind = (name.split(".", 1)[0] if "__pycache__" in parts else name[:-4]), "bytecode"
    elif name.endswith(".so"):
        stem, kind = pythontree.module_name(name), "extension"
    else:
        return StdlibFile(".".join(dirs) or None, "data")
    module = ".".join(dirs if stem == "__init__" else [*dirs, stem])
    return StdlibFile(module, kind)  # type: ignore[arg-type]


def is_test(module: str | None) -> bool:
    if module is None:
        return False
    parts = module.split(".")
    return any(p in _TEST_PARTS for p in parts) or parts[0].startswith("_test") or parts[0] == "_ctypes_test"


def category(rel: str, short: str, *, is_elf: bool = False) -> Category:
    """The footprint row of an installed path."""
    if rel == pythontree.interpreter(short):
        return "interpreter"
    if rel.endswith(".a"):
        return "static libraries"
    if rel.startswith(pythontree.libpython_prefix(short)):
        return "libpython"
    if rel == pythontree.stdlib_zip(short):
        return "stdlib zip"
    if rel.startswith("usr/include/") or rel.startswith("usr/lib/pkgconfig/") or rel.endswith("-config"):
        return "headers and config"
    found = stdlib_file(rel, short)
    if found is not None:
        if found.module is None and pythontree.is_config_dir(rel[len(pythontree.stdlib(short)) + 1 :].split("/")[0]):
            return "headers and config"
        if is_test(found.module):
            return "tests"
        if found.kind == "extension" or is_elf:
            return "extension modules"
        if found.kind == "bytecode":
            return "stdlib bytecode"
        if found.kind == "source":
            return "stdlib sources"
    return "other"


def _matches(module: str, pattern: str) -> bool:
    """`pattern` names `module` or one of the packages it is in."""
    parts = module.split(".")
    return any(fnmatch.fnmatchcase(".".join(parts[: i + 1]), pattern) for i in range(len(parts)))


def module_dropped(module: str, profile: Profile) -> str | None:
    """Why `profile` drops `module` (its reason in the data), or None."""
    for pattern, why in profile.drop_modules:
        if _matches(module, pattern):
            return why
    return None


def why_left_out(module: str, profile: Profile) -> str | None:
    """Why an install of `profile` lacks `module`: it drops it, or its closure does not follow it."""
    return module_dropped(module, profile) or next(
        (why for pattern, why in profile.closure_excludes if _matches(module, pattern)), None
    )


def path_patterns(patterns: tuple[str, ...], short: str) -> tuple[str, ...]:
    return tuple(p.format(stdlib=pythontree.stdlib(short), version=short) for p in patterns)


@dataclass(frozen=True)
class Dropped:
    path: str
    category: Category
    why: str


@dataclass(frozen=True)
class Selection:
    """The staged entries a profile keeps (parents before children) and those it leaves out."""

    kept: tuple[Entry, ...]
    dropped: tuple[Dropped, ...]


def select(entries: list[Entry], profile: Profile, short: str, *, closure: frozenset[str] | None = None) -> Selection:
    """Apply `profile` to a stage's entries. `closure` is the import closure of a profile with a
    module list (modules, extension modules included, that its list needs)."""
    drop = path_patterns(profile.drop, short)
    keep = path_patterns(profile.keep, short)
    kept_files: list[Entry] = []
    dropped: list[Dropped] = []
    for rel, kind in entries:
        if kind == "dir":
            continue
        why = _why_dropped(rel, profile, short, drop, keep, closure)
        if why is None:
            kept_files.append((rel, kind))
        else:
            dropped.append(Dropped(rel, category(rel, short), why))
    parents = {str(parent) for rel, _ in kept_files for parent in PurePosixPath(rel).parents if str(parent) != "."}
    kept = [(rel, kind) for rel, kind in entries if (kind == "dir" and rel in parents) or (rel, kind) in kept_files]
    return Selection(kept=tuple(kept), dropped=tuple(dropped))


def _why_dropped(
    rel: str,
    profile: Profile,
    short: str,
    drop: tuple[str, ...],
    keep: tuple[str, ...],
    closure: frozenset[str] | None,
) -> str | None:
    for pattern in drop:
        if fnmatch.fnmatchcase(rel, pattern) and not any(fnmatch.fnmatchcase(rel, k) for k in keep):
            return f"the profile drops {pattern}"
    found = stdlib_file(rel, short)
    if found is None:
        return None
    if found.module is not None:
        why = module_dropped(found.module, profile)
        if why is not None:
            return why
    if closure is None:
        return None
    if found.module is None:
        return (
            None
            if rel.startswith(pythontree.lib_dynload(short) + "/")
            else "not a module: the module list needs it not"
        )
    if found.kind == "data":
        # A package's data goes with the package.
        return None if found.module in closure else f"data of {found.module}, which the module list does not import"
    if found.module not in closure:
        return "not imported by the profile's module list"
    return None


def modules_in(root: Path, short: str) -> list[str]:
    """Every stdlib module installed under `root` (an RFS or a tree): .py, .pyc, extension modules,
    and the modules of the stdlib zip. site-packages is not the stdlib's."""
    names: set[str] = set()
    stdlib = root / pythontree.stdlib(short)
    for dirpath, dirnames, filenames in os.walk(stdlib):
        dirnames[:] = sorted(d for d in dirnames if d != "site-packages" and not pythontree.is_config_dir(d))
        for name in filenames:
            rel = str((Path(dirpath) / name).relative_to(root))
            found = stdlib_file(rel, short)
            if found is not None and found.module and found.kind != "data":
                names.add(found.module)
    archive = root / pythontree.stdlib_zip(short)
    if archive.is_file():
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if member.endswith((".pyc", ".py")):
                    found = stdlib_file(f"{pythontree.stdlib(short)}/{member}", short)
                    if found is not None and found.module:
                        names.add(found.module)
    return sorted(names)
