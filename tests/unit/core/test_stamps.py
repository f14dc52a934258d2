"""Stamps, locks, atomic writes, and the one cached-step helper every step runs through."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from crosspython.core.files import write_if_different
from crosspython.core.locks import file_lock
from crosspython.core.stamps import Stamp, cached_step


def _hold(path: str, log: str, tag: str) -> None:
    with file_lock(Path(path), "test"):
        with open(log, "a") as handle:
            handle.write(f"{tag} in {time.monotonic()}\n")
        time.sleep(0.5)
        with open(log, "a") as handle:
            handle.write(f"{tag} out {time.monotonic()}\n")


def test_file_lock_serializes_processes(tmp_path: Path) -> None:
    lock, log = tmp_path / "x.lock", tmp_path / "log"
    spawn = multiprocessing.get_context("spawn")  # fork from a threaded pytest is deprecated
    procs = [spawn.Process(target=_hold, args=(str(lock), str(log), t)) for t in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(10)
    events = [line.split()[:2] for line in log.read_text().splitlines()]
    # Never two "in" in a row: the second waited for the first to leave.
    assert [e[1] for e in events] == ["in", "out", "in", "out"]
    assert events[0][0] == events[1][0]


def test_stamp_matches_only_the_same_inputs(tmp_path: Path) -> None:
    stamp = Stamp(tmp_path)
    assert not stamp.matches({"a": 1})
    stamp.write({"a": 1})
    assert stamp.matches({"a": 1}) and not stamp.matches({"a": 2})
    stamp.clear()
    assert not stamp.matches({"a": 1})
    assert Stamp(tmp_path, "configure").path != stamp.path


def test_write_if_different_keeps_mtime(tmp_path: Path) -> None:
    path = tmp_path / "config.site"
    assert write_if_different(path, "a=1\n")
    os.utime(path, (1, 1))
    assert not write_if_different(path, "a=1\n")
    assert path.stat().st_mtime == 1


def test_cached_step_does_the_work_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    calls: list[str] = []
    skipped: list[str] = []

    def work() -> str:
        out.mkdir(exist_ok=True)
        (out / "product").write_text("made")
        calls.append("work")
        return "result"

    args = {"lock": tmp_path / "locks" / "x.lock", "holder": "x", "skip": skipped.append, "reason": "same"}
    assert cached_step(Stamp(out), {"a": 1}, work, **args) == "result"
    assert cached_step(Stamp(out), {"a": 1}, work, **args) is None
    assert calls == ["work"] and skipped == ["same"]
    assert cached_step(Stamp(out), {"a": 2}, work, **args) == "result"  # other inputs: redone
    assert calls == ["work", "work"]


def test_cached_step_checks_fresh_too(tmp_path: Path) -> None:
    out = tmp_path / "out"
    runs: list[int] = []
    lock = tmp_path / "x.lock"
    cached_step(Stamp(out), {"a": 1}, lambda: runs.append(1), lock=lock, holder="x")
    cached_step(Stamp(out), {"a": 1}, lambda: runs.append(2), lock=lock, holder="x", fresh=lambda: False)
    assert runs == [1, 2]  # the stamp matched, but the output was not there


def test_an_interrupted_in_place_step_is_not_trusted(tmp_path: Path) -> None:
    out = tmp_path / "out"
    lock = tmp_path / "x.lock"
    cached_step(Stamp(out), {"a": 1}, lambda: None, lock=lock, holder="x")

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cached_step(Stamp(out), {"a": 2}, interrupted, lock=lock, holder="x")
    assert Stamp(out).read() is None  # neither the old inputs nor the new ones are claimed
    # A step that builds aside and renames keeps the old output's stamp until its rename.
    cached_step(Stamp(out), {"a": 1}, lambda: None, lock=lock, holder="x")
    with pytest.raises(KeyboardInterrupt):
        cached_step(Stamp(out), {"a": 2}, interrupted, lock=lock, holder="x", in_place=False)
    assert Stamp(out).matches({"a": 1})


def _cached_work(out: str, lock: str, log: str) -> None:
    def work() -> None:
        with open(log, "a") as handle:
            handle.write("work\n")
        time.sleep(0.5)

    cached_step(Stamp(Path(out)), {"a": 1}, work, lock=Path(lock), holder="x")


def test_concurrent_runs_do_the_work_once(tmp_path: Path) -> None:
    """The second process waits for the lock, then finds the stamp written by the first."""
    spawn = multiprocessing.get_context("spawn")
    args = (str(tmp_path / "out"), str(tmp_path / "x.lock"), str(tmp_path / "log"))
    procs = [spawn.Process(target=_cached_work, args=args) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(20)
    assert (tmp_path / "log").read_text() == "work\n"
