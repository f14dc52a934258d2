"""The install manifest: what `install` put into an RFS, with the inputs that made it.

Written and read here only (artifacts/logs/<cell>/manifest.json); the JSON keeps the shape it
has always had: {"inputs", "interpreter", "total_bytes", "files": [{path, kind, size, sha256} |
{path, kind, target}]}.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..core.files import sha256_of, write_json_atomic
from ..rfs.confine import RfsEscape, RfsView, inside
from ..rfs.merge import Entry


@dataclass(frozen=True, kw_only=True)
class ManifestFile:
    """One installed file (size and sha256) or symbolic link (its target)."""

    path: str
    kind: Literal["file", "link"]
    size: int = 0
    sha256: str = ""
    target: str = ""

    def to_json(self) -> dict[str, Any]:
        if self.kind == "link":
            return {"path": self.path, "kind": self.kind, "target": self.target}
        return {"path": self.path, "kind": self.kind, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True, kw_only=True)
class Manifest:
    inputs: dict[str, Any]
    interpreter: str
    files: tuple[ManifestFile, ...]
    profile: str = ""
    left_out: dict[str, list[int]] = field(default_factory=dict)  # category -> [files, bytes]
    modules: tuple[str, ...] = ()  # a package's importable top-level names (`verify` imports them)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "interpreter": self.interpreter,
            "profile": self.profile,
            "left_out": self.left_out,
            **({"modules": list(self.modules)} if self.modules else {}),
            "total_bytes": self.total_bytes,
            "files": [f.to_json() for f in self.files],
        }

    def present_in(self, rfs: Path) -> bool:
        """Every file is in `rfs` with its size, every link is a link (a cheap check, no hashing).

        One lstat per entry, on plain strings: an unchanged install's rerun checks thousands of files.
        """
        view = RfsView(rfs)
        for entry in self.files:
            try:
                st = os.lstat(view.inside(entry.path))
            except (OSError, RfsEscape):
                return False
            if entry.kind == "file" and (not stat.S_ISREG(st.st_mode) or st.st_size != entry.size):
                return False
            if entry.kind == "link" and not stat.S_ISLNK(st.st_mode):
                return False
        return True

    def changed_in(self, rfs: Path) -> list[str]:
        """The installed files and links that are not as this install left them (size, sha256, target)."""
        return [entry.path for entry in self.files if not self.still_installed(rfs, entry)]

    def still_installed(self, rfs: Path, entry: ManifestFile) -> bool:
        """`entry` is in `rfs` as this install left it (same content, or the same link)."""
        try:
            path = inside(rfs, entry.path)
        except RfsEscape:
            return False
        if entry.kind == "link":
            return path.is_symlink() and os.readlink(path) == entry.target
        return (
            path.is_file()
            and not path.is_symlink()
            and path.stat().st_size == entry.size
            and sha256_of(path) == entry.sha256
        )


def files_of(stage: Path, entries: list[Entry]) -> tuple[ManifestFile, ...]:
    """The manifest's records of a staged tree's files and links (directories are not recorded)."""
    files = []
    for rel, kind in entries:
        if kind == "file":
            path = stage / rel
            files.append(ManifestFile(path=rel, kind="file", size=path.stat().st_size, sha256=sha256_of(path)))
        elif kind == "link":
            files.append(ManifestFile(path=rel, kind="link", target=os.readlink(stage / rel)))
    return tuple(files)


def write_manifest(path: Path, manifest: Manifest) -> None:
    write_json_atomic(path, manifest.to_json())


def read_manifest(path: Path) -> Manifest | None:
    """The manifest at `path`, or None when there is none or it is not one of ours."""
    try:
        data = json.loads(path.read_text())
        files = tuple(
            ManifestFile(
                path=str(f["path"]),
                kind="link" if f["kind"] == "link" else "file",
                size=int(f.get("size", 0)),
                sha256=str(f.get("sha256", "")),
                target=str(f.get("target", "")),
            )
            for f in data["files"]
        )
        return Manifest(
            inputs=dict(data["inputs"]),
            interpreter=str(data["interpreter"]),
            files=files,
            profile=str(data.get("profile", "")),
            left_out={str(k): [int(n), int(b)] for k, (n, b) in data.get("left_out", {}).items()},
            modules=tuple(str(m) for m in data.get("modules", ())),
        )
    except (FileNotFoundError, ValueError, KeyError, TypeError, AttributeError):
        return None
