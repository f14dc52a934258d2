"""Exclusive locks shared by every crosspython process on this machine (flock)."""

from __future__ import annotations

import fcntl
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def file_lock(path: Path, what: str) -> Iterator[None]:
    """Hold the lock file `path`; `what` names what it protects in the "waiting for" line.

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
