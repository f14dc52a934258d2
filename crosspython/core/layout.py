"""Where everything lives under artifacts/, stamps that make steps idempotent, and file locks.

A step's output directory is named after what it builds (the cell id); a stamp inside records
the fingerprint of its inputs and is written last, atomically. A step whose stamp matches does
nothing; a step that starts work removes the stamp first, so an interrupted step is never trusted.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..matrix import Cell, Version

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STAMP_NAME = ".crosspython-stamp.json"


@dataclass(frozen=True)
class Layout:
    """Paths under the artifacts directory (git-ignored)."""

    root: Path

    @property
    def downloads(self) -> Path:
        return self.root / "downloads"

    def source_dir(self, version: Version) -> Path:
        return self.root / "src" / version.source_dirname

    def native_dir(self, version: Version) -> Path:
        return self.root / "build" / "native" / version.tag

    def cross_dir(self, cell: Cell) -> Path:
        return self.root / "build" / "cross" / cell.id

    def stage_dir(self, cell: Cell) -> Path:
        return self.root / "stage" / cell.id

    def default_rfs(self, triplet: str) -> Path:
        return self.root / "rfs" / triplet

    def apt_dir(self, name: str) -> Path:
        return self.root / "apt" / name

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def manifest(self, cell: Cell) -> Path:
        return self.logs / cell.id / "manifest.json"

    def lock(self, name: str) -> Path:
        return self.root / "locks" / f"{name}.lock"


def fingerprint(inputs: dict[str, Any]) -> str:
    """A short stable hash of a step's inputs."""
    blob = json.dumps(inputs, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class Stamp:
    """The record, inside an output directory, of the inputs that produced it."""

    def __init__(self, directory: Path, name: str = "") -> None:
        self.path = directory / (STAMP_NAME.replace("stamp", f"{name}-stamp") if name else STAMP_NAME)

    def read(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None

    def matches(self, inputs: dict[str, Any]) -> bool:
        data = self.read()
        return data is not None and data.get("fingerprint") == fingerprint(inputs)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def write(self, inputs: dict[str, Any]) -> None:
        write_json_atomic(self.path, {"fingerprint": fingerprint(inputs), "inputs": inputs})


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_if_different(path: Path, text: str) -> bool:
    """Write `text` unless the file already holds it (keeps mtimes, so make does not rebuild)."""
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    write_text_atomic(path, text)
    return True


def remove_tree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


@contextmanager
def file_lock(path: Path, what: str) -> Iterator[None]:
    """An exclusive lock shared by every crosspython process on this machine (flock).

    Two runs that need the same native build, download or RFS wait for each other instead of
    writing into the same directory at once.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"    waiting for {what}: another crosspython run holds {path}", file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
