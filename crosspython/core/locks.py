"""Exclusive locks shared by every crosspython process on this machine (flock)."""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# The descriptors of the locks this process holds: every command it runs inherits them (the
# runner passes them on), so that a lock outlives a crosspython killed with SIGKILL for as long as
# the build it started goes on: a rerun waits for that build instead of sharing its directory.
_HELD: set[int] = set()
_HELD_PATHS: dict[str, int] = {}  # lock file -> how deep this process holds it (locks are re-entrant)


def held_fds() -> tuple[int, ...]:
    return tuple(sorted(_HELD))


@contextmanager
def file_lock(path: Path, what: str) -> Iterator[None]:
    """Hold the lock file `path`; `what` names what it protects in the "waiting for" line.

    Two runs that need the same native build, download or RFS wait for each other instead of
    writing into the same directory at once. A lock this process already holds is taken again at
    once (an install holds its cell's lock across stage, board and merge; the stage takes it too).
    """
    key = os.path.realpath(path)
    if key in _HELD_PATHS:
        _HELD_PATHS[key] += 1
        try:
            yield
        finally:
            _HELD_PATHS[key] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"    waiting for {what}: another crosspython run holds {path}", file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        _HELD.add(handle.fileno())
        _HELD_PATHS[key] = 1
        try:
            yield
        finally:
            del _HELD_PATHS[key]
            _HELD.discard(handle.fileno())
            fcntl.flock(handle, fcntl.LOCK_UN)
