"""Stamps that make steps idempotent, and the one helper every cached step runs through.

A step's output directory is named after what it builds (the cell id); a stamp inside records
the fingerprint of its inputs and is written last, atomically. A step whose stamp matches does
nothing; a step that starts work in place removes the stamp first, so an interrupted step is
never trusted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .files import write_json_atomic
from .locks import file_lock

STAMP_NAME = ".crosspython-stamp.json"
T = TypeVar("T")


def fingerprint(inputs: Mapping[str, Any]) -> str:
    """A short stable hash of a step's inputs."""
    blob = json.dumps(inputs, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class StampRecord:
    """What a stamp file holds: the inputs that made the output, and their fingerprint."""

    fingerprint: str
    inputs: dict[str, Any]


class Stamp:
    """The record, inside an output directory, of the inputs that produced it."""

    def __init__(self, directory: Path, name: str = "") -> None:
        self.path = directory / (STAMP_NAME.replace("stamp", f"{name}-stamp") if name else STAMP_NAME)

    def read(self) -> StampRecord | None:
        """The record, or None when there is none (or it is not one of ours)."""
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("inputs"), dict):
            return None
        return StampRecord(fingerprint=str(data.get("fingerprint")), inputs=data["inputs"])

    def matches(self, inputs: Mapping[str, Any]) -> bool:
        record = self.read()
        return record is not None and record.fingerprint == fingerprint(inputs)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def write(self, inputs: Mapping[str, Any]) -> None:
        write_json_atomic(self.path, {"fingerprint": fingerprint(inputs), "inputs": dict(inputs)})


def cached_step(
    stamp: Stamp,
    inputs: Mapping[str, Any],
    work: Callable[[], T],
    *,
    lock: Path,
    holder: str,
    skip: Callable[[str], None] | None = None,
    reason: str = "made from the same inputs",
    fresh: Callable[[], bool] | None = None,
    in_place: bool = True,
) -> T | None:
    """Run `work` unless `stamp` already records `inputs`; its result, or None when skipped.

    The pattern of every step: check the stamp, take the lock (`holder` names what it protects),
    check again (a concurrent run may have done the work meanwhile), do the work, write the stamp.
    `fresh` checks more than the stamp (e.g. that the interpreter is still there). With
    `in_place` the work writes into the stamped directory itself, so the stamp is removed before
    it starts: an interrupted step is never trusted. A step that builds aside and renames into
    place (in_place=False) leaves the old output, and its stamp, valid until the rename.
    """

    def up_to_date() -> bool:
        return stamp.matches(inputs) and (fresh is None or fresh())

    if up_to_date():
        if skip is not None:
            skip(reason)
        return None
    with file_lock(lock, holder):
        if up_to_date():
            if skip is not None:
                skip("made by a concurrent run")
            return None
        if in_place:
            stamp.clear()
        result = work()
        stamp.write(inputs)
    return result
