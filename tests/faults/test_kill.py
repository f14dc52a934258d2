"""Kill tests of the armhf cell with the real tools: SIGTERM and SIGKILL during the cross `make`, during
`make install` and during the merge into the RFS, each followed by a rerun. Nothing of the killed
run may go on writing, and the rerun's result must equal an uninterrupted one, file for file.

Reuses the main job's build (test_cross_build): the cross make recompiles a part of the build
(ccache serves most of it), `make install` and the merge are redone.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, lock_free
from tests.faults.test_bad_input import tree_state
from tests.integration.test_cross_build import ARTIFACTS, CELL, DEFAULT_RFS, invoke

pytestmark = pytest.mark.integration

STAGE = ARTIFACTS / "stage" / CELL
BUILD = ARTIFACTS / "build" / "cross" / CELL
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


def _writers(directory: Path = STAGE) -> list[str]:
    """Processes still working on `directory`: naming it, or working in it (make, the compilers it
    runs), zombies aside."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        inside = str(directory) in cmdline or cwd == str(directory) or cwd.startswith(f"{directory}/")
        if inside and state != "Z" and "pytest" not in cmdline:
            found.append(cmdline[:120])
    return found


def _start(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "RFS" and not k.startswith("INVOKE_CROSSPYTHON_")}
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _start_stage() -> subprocess.Popen[str]:
    proc = _start("stage")
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
    _sigterm_then_rerun(proc, STAGE, ("stage",), uninterrupted)


def _sigterm_then_rerun(
    proc: subprocess.Popen[str], directory: Path, rerun: tuple[str, ...], uninterrupted: dict[str, str]
) -> None:
    """SIGTERM: crosspython stops the command group before it exits, and its step is not trusted;
    `rerun` then gives the stage of an uninterrupted run."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    print(f"stopped {time.monotonic() - started:.1f}s after SIGTERM")
    assert proc.returncode == 130 and "interrupted" in out and "Traceback" not in out
    time.sleep(0.5)
    assert _writers(directory) == []  # make and everything it ran (gcc, collect2, ld...): gone
    assert not (directory / ".crosspython-stamp.json").exists()  # nothing half-done is trusted
    _rerun(rerun, uninterrupted)


def _sigkill_then_rerun(
    proc: subprocess.Popen[str], directory: Path, rerun: tuple[str, ...], uninterrupted: dict[str, str]
) -> None:
    """SIGKILL leaves crosspython no chance to stop anything. The orphans hold the cell's lock for as
    long as they run (it was passed to them), so a rerun cannot share the directory with them; they
    die at their next write to the pipe of the killed run (SIGPIPE)."""
    proc.kill()
    proc.wait(timeout=30)
    orphans = _writers(directory)
    if orphans:
        assert not lock_free(LOCK), f"orphans without the lock: {orphans}"
    started = time.monotonic()
    for _ in range(600):
        if not _writers(directory):
            break
        time.sleep(0.1)
    print(f"orphans gone {time.monotonic() - started:.1f}s after SIGKILL")
    assert _writers(directory) == [], "the orphaned make went on"
    assert not (directory / ".crosspython-stamp.json").exists()
    _rerun(rerun, uninterrupted)


def _rerun(args: tuple[str, ...], uninterrupted: dict[str, str]) -> None:
    started = time.monotonic()
    again = invoke(*args)
    print(f"rerun: {time.monotonic() - started:.1f}s")
    assert again.returncode == 0, again.stderr
    assert _same(snapshot(STAGE), uninterrupted)


def test_sigkill_during_make_install(uninterrupted: dict[str, str]) -> None:
    """The orphaned make install dies at its next write; the rerun redoes the stage from scratch."""
    _restage_needed()
    proc = _start_stage()
    assert _writers(), "make install was not running"
    _sigkill_then_rerun(proc, STAGE, ("stage",), uninterrupted)


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


def _start_make() -> subprocess.Popen[str]:
    """`invoke cross` with real work: the objects of Objects/ and Python/ (some 150 files) removed,
    and the build's stamp with them (the stage's too: it is made again from the new build). The
    signal comes while the linker writes: make leaves the half-written `python` in place."""
    for sub in ("Objects", "Python"):
        for obj in (BUILD / sub).rglob("*.o"):
            obj.unlink()
    (BUILD / ".crosspython-stamp.json").unlink()
    _restage_needed()
    proc = _start("cross")
    for _ in range(6000):  # until the linker runs (ccache serves the objects without a compiler)
        if _linking():
            break
        time.sleep(0.01)
    return proc


def _linking() -> bool:
    """`python` (or another program) being linked: the moment a cut leaves a half-written file."""
    return any("collect2" in line or "/bin/ld " in line for line in _writers(BUILD))


def test_sigterm_during_the_cross_make(uninterrupted: dict[str, str]) -> None:
    """make and its compilers stop with the tool; the rerun finishes the build, byte-identical."""
    proc = _start_make()
    assert _linking(), "the linker was not running"
    _sigterm_then_rerun(proc, BUILD, ("cross", "stage"), uninterrupted)


def test_sigkill_during_the_cross_make(uninterrupted: dict[str, str]) -> None:
    """The orphaned make holds the build's lock while it lives (a rerun waits for it); the rerun's
    result is byte-identical."""
    proc = _start_make()
    assert _linking(), "the linker was not running"
    _sigkill_then_rerun(proc, BUILD, ("cross", "stage"), uninterrupted)


def _installed_manifest() -> Path:
    (path,) = ARTIFACTS.glob(f"installs/arm-linux-gnueabihf-*/{CELL}.json")
    return path


@pytest.fixture(scope="module")
def installed_full() -> Iterator[tuple[dict[str, str], str]]:
    """The default RFS after an uninterrupted install of the "full" profile (the biggest merge), and
    its manifest's files; the default profile is installed again afterwards."""
    done = invoke("install", "--profile", "full")
    assert done.returncode == 0, done.stderr
    files = json.dumps(json.loads(_installed_manifest().read_text())["files"], sort_keys=True)
    yield tree_state(DEFAULT_RFS), files
    assert invoke("install").returncode == 0


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_a_kill_during_the_merge(installed_full: tuple[dict[str, str], str], how: str) -> None:
    """standard -> full, killed once the merge has begun (its journal written): the rerun finishes it.
    The RFS then equals the uninterrupted install's, path for path, and so does the manifest."""
    reference, files = installed_full
    assert invoke("install").returncode == 0  # the default profile: the full one has work to do again
    proc = _start("install", "--profile", "full")
    journal = None
    for _ in range(60000):
        journal = next(ARTIFACTS.glob(f"installs/arm-linux-gnueabihf-*/{CELL}.in-progress.json"), None)
        if journal is not None or proc.poll() is not None:
            break
        time.sleep(0.01)
    assert journal is not None, "the merge did not start"
    time.sleep(0.3)
    proc.send_signal(getattr(signal, how))
    out, _ = proc.communicate(timeout=60)
    assert "Traceback" not in out and proc.returncode == (130 if how == "SIGTERM" else -9), out[-2000:]
    assert journal.exists(), "the merge had ended before the kill: nothing was tested"
    assert tree_state(DEFAULT_RFS) != reference  # half merged
    again = invoke("install", "--profile", "full")
    assert again.returncode == 0, again.stderr
    assert not journal.exists()
    now = tree_state(DEFAULT_RFS)
    differ = sorted(k for k in set(now) | set(reference) if now.get(k) != reference.get(k))
    assert not differ, f"{len(differ)} paths differ from an uninterrupted install: {differ[:10]}"
    assert json.dumps(json.loads(_installed_manifest().read_text())["files"], sort_keys=True) == files
