"""File helpers every step shares: content hashes, atomic writes, removal."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .errors import ConfigError

CHUNK = 1 << 16


def sha256_of(path: Path) -> str:
    """The sha256 of a file's content, read in chunks (tarballs, installed files, patches)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


def read_json(path: Path, *, what: str, hint: str) -> Any:
    """The JSON document at `path`; a missing or malformed file is a ConfigError naming `what` it is."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no {what} at {path}", hint=hint) from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


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
    """Remove a file, a link (never what it points to) or a directory tree; nothing if absent."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
