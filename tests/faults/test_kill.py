"""Kill tests with the real `make install` of the armhf cell: SIGTERM and SIGKILL while it runs, then
a rerun. Nothing of the killed run may go on writing, and the rerun's stage must equal an
uninterrupted one, file for file.

Reuses the main job's build (test_cross_build): only `make install` (the stage) is redone.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, lock_free
from tests.integration.test_cross_build import ARTIFACTS, CELL, invoke

pytestmark = pytest.mark.integration

STAGE = ARTIFACTS / "stage" / CELL
LOCK = ARTIFACTS / "locks" / f"cross-{CELL}.lock"


def snapshot(root: Path) -> dict[str, str]:
    """Every staged file's sha256, but `make install`'s own byte-code: its .pyc record the mtime of
    the .py that install copied, which differs from one `make install` to the next (the profiles
    install their own unchecked-hash .pyc, which do not)."""
    out = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            if name.startswith(".crosspython-") or path.parent.name == "__pycache__":
                continue
            rel = str(path.relative_to(root))
            out[rel] = (
                "link " + os.readlink(path) if path.is_symlink() else hashlib.sha256(path.read_bytes()).hexdigest()
            )
    return out


def _same(now: dict[str, str], before: dict[str, str]) -> bool:
    """Equal, or a short account of the difference (pytest's own diff of 7,000 entries takes minutes)."""
    differ = sorted(k for k in set(now) | set(before) if now.get(k) != before.get(k))
    assert not differ, f"{len(differ)} staged files differ from an uninterrupted stage: {differ[:10]}"
    return True


def _writers() -> list[str]:
    """Processes still working on the stage (make install and what it runs), zombies aside."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(STAGE) in cmdline and state != "Z" and "pytest" not in cmdline:
            found.append(cmdline[:120])
    return found


def _start_stage() -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "RFS" and not k.startswith("INVOKE_CROSSPYTHON_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "stage"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for _ in range(300):  # until `make install` is well under way
        if len(_writers()) > 0 and (STAGE / "usr" / "lib").is_dir():
            break
        time.sleep(0.1)
    time.sleep(3)
    return proc


@pytest.fixture(scope="module")
def uninterrupted() -> dict[str, str]:
    done = invoke("native", "cross", "stage")
    assert done.returncode == 0, done.stderr
    return snapshot(STAGE)


def _restage_needed() -> None:
    (STAGE / ".crosspython-stamp.json").unlink(missing_ok=True)


def test_sigterm_during_make_install(uninterrupted: dict[str, str]) -> None:
    _restage_needed()
    proc = _start_stage()
    assert _writers(), "make install was not running"
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    print(f"stopped {time.monotonic() - started:.1f}s after SIGTERM")
    assert proc.returncode == 130 and "interrupted" in out and "Traceback" not in out
    time.sleep(0.5)
    assert _writers() == []  # make and everything it ran: gone
    assert not (STAGE / ".crosspython-stamp.json").exists()  # nothing half-done is trusted
    again = invoke("stage")
    assert again.returncode == 0, again.stderr
    assert _same(snapshot(STAGE), uninterrupted)


def test_sigkill_during_make_install(uninterrupted: dict[str, str]) -> None:
    """SIGKILL leaves crosspython no chance to stop anything. The orphaned make install holds the
    cell's lock for as long as it runs (the lock was passed to it), so a rerun cannot share the stage
    with it; it dies at its next write to the pipe of the killed run (SIGPIPE). The rerun redoes
    the stage from scratch (no stamp was written)."""
    _restage_needed()
    proc = _start_stage()
    assert _writers(), "make install was not running"
    proc.kill()
    proc.wait(timeout=30)
    orphans = _writers()
    locked = not lock_free(LOCK)
    if orphans:
        assert locked, f"orphans without the lock: {orphans}"
    for _ in range(600):
        if not _writers():
            break
        time.sleep(0.1)
    assert _writers() == [], "the orphaned make install went on writing"
    assert not (STAGE / ".crosspython-stamp.json").exists()
    again = invoke("stage")
    assert again.returncode == 0, again.stderr
    assert _same(snapshot(STAGE), uninterrupted)


def test_an_install_racing_a_stage_of_the_same_cell(uninterrupted: dict[str, str]) -> None:
    """Both end correct: the install waits for the cell's lock, and what it installs is the stage's."""
    _restage_needed()
    env = {k: v for k, v in os.environ.items() if k != "RFS" and not k.startswith("INVOKE_CROSSPYTHON_")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "invoke", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in (["stage"], ["install", "verify"])
    ]
    results = [p.communicate(timeout=900) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, (out[-3000:], err[-3000:])
    assert _same(snapshot(STAGE), uninterrupted)
    assert "installed files" in results[1][0] and "FAIL" not in results[1][0]
