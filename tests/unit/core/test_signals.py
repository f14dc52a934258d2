"""Interruptions: SIGTERM/SIGHUP end the running command's whole process group; after SIGKILL of
crosspython itself, the lock stays held by the orphaned command, so a rerun cannot share its work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import lock_free

ROOT = Path(__file__).resolve().parents[3]

# A step as crosspython runs one: under a lock, through the runner, with cli's signal handling.
STEP = """
import sys
from pathlib import Path
from crosspython.cli import stop_on_signals
from crosspython.core.locks import file_lock
from crosspython.core.runner import Runner
stop_on_signals()
lock, pidfile = Path(sys.argv[1]), Path(sys.argv[2])
runner = Runner(log_root=lock.parent / "logs")
try:
    with file_lock(lock, "test"), runner.step("s", "long") as step:
        step.run(["sh", "-c", f"echo $$ > {pidfile}; sleep 300 & sleep 300; wait"])
except KeyboardInterrupt as exc:
    print("interrupted", exc)
    sys.exit(130)
"""


def _start(tmp_path: Path) -> tuple[subprocess.Popen[str], Path, int]:
    lock, pidfile = tmp_path / "x.lock", tmp_path / "child.pid"
    proc = subprocess.Popen(
        [sys.executable, "-c", STEP, str(lock), str(pidfile)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        # as from a terminal: a suite started in the background by a shell inherits SIGINT
        # ignored, and Python then leaves it ignored (Ctrl-C would not reach it either)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    for _ in range(100):
        if pidfile.is_file() and pidfile.read_text().strip():
            break
        time.sleep(0.1)
    child = int(pidfile.read_text())
    return proc, lock, child


def _group_alive(pgid: int) -> bool:
    """A process of the group still runs (zombies, which this container's PID 1 may never reap, do not)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_ends_the_whole_command_group(tmp_path: Path, signum: int) -> None:
    proc, lock, child = _start(tmp_path)
    pgid = os.getpgid(child)  # the runner starts each command in a session of its own
    assert pgid != os.getpgid(proc.pid) and not lock_free(lock)
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in out
    time.sleep(0.2)
    assert not _group_alive(pgid)  # the shell and both sleeps are gone
    assert lock_free(lock)


def test_after_sigkill_the_orphaned_command_keeps_the_lock(tmp_path: Path) -> None:
    proc, lock, child = _start(tmp_path)
    pgid = os.getpgid(child)
    proc.kill()
    proc.wait(timeout=10)
    try:
        assert _group_alive(pgid)  # SIGKILL leaves no chance to stop the command ...
        assert not lock_free(lock)  # ... but it still holds the step's lock: a rerun waits for it
    finally:
        os.killpg(pgid, signal.SIGKILL)
    for _ in range(50):
        if lock_free(lock):
            break
        time.sleep(0.1)
    assert lock_free(lock)  # gone with the last process that held it
