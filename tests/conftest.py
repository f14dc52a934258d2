"""Shared fixtures: a test-only matrix (and the shipped one), a Runner writing into tmp_path."""

from __future__ import annotations

import fcntl
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crosspython.core.runner import Runner
from crosspython.matrix import Matrix, load_matrix

ROOT = Path(__file__).resolve().parent.parent


# A matrix of made-up releases and pins (tests/fixtures/matrix/): unit tests name no shipped
# release number or hash, so moving a pin in matrix/ breaks none of them.
FIXTURE_MATRIX = ROOT / "tests" / "fixtures" / "matrix"


@pytest.fixture(scope="session")
def matrix() -> Matrix:
    return load_matrix(FIXTURE_MATRIX)


@pytest.fixture(scope="session")
def shipped_matrix() -> Matrix:
    """matrix/ as shipped: for tests of the data itself (it loads, it is consistent)."""
    return load_matrix()


@pytest.fixture
def runner(tmp_path: Path) -> Runner:
    return Runner(log_root=tmp_path / "logs", out=io.StringIO(), heartbeat=3600)


def run_invoke(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run this project's `invoke` as a user would, free of the caller's crosspython settings."""
    full_env = {k: v for k, v in os.environ.items() if k != "RFS" and not k.startswith("INVOKE_CROSSPYTHON_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


def lock_free(lock: Path) -> bool:
    """Nobody holds the flock of `lock` (taken and given back at once)."""
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def run_unshared(script: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """A sh `script` in a private mount namespace (its tmpfs and bind mounts vanish with it), with
    `args` as $1.. and this Python as the last one; skipped without root and unshare."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a private mount needs root and unshare (util-linux)")
    env = {k: v for k, v in os.environ.items() if k != "RFS" and not k.startswith("INVOKE_CROSSPYTHON_")}
    return subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, "sh", *args, sys.executable],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
