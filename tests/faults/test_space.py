"""A full disk: `invoke fetch` unpacking CPython's source into an artifacts directory on a 30 MB
tmpfs (the pinned tarball fits, its 110 MB tree does not). The answer is a message and exit 12,
no traceback, and nothing half-unpacked is left to be trusted.

Needs root and unshare (a private mount namespace); uses the tarball the builds fetched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.integration.test_cross_build import ARTIFACTS

pytestmark = pytest.mark.integration

TARBALL = ARTIFACTS / "downloads" / "Python-3.13.5.tar.xz"


def test_a_full_disk_is_a_message_and_leaves_nothing_trusted() -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a private tmpfs needs root and unshare (util-linux)")
    if not TARBALL.is_file():
        pytest.skip(f"{TARBALL} was not fetched by the builds")
    small = ARTIFACTS / "test" / "small-disk"
    small.mkdir(parents=True, exist_ok=True)
    script = (
        'mount -t tmpfs -o size=30m tmpfs "$1" && mkdir "$1/downloads" && cp "$2" "$1/downloads/" && '
        'INVOKE_CROSSPYTHON_ARTIFACTS="$1" "$3" -m invoke fetch; code=$?; '
        'ls -A "$1/src" 2>/dev/null; exit $code'
    )
    env = {k: v for k, v in os.environ.items() if k != "RFS" and not k.startswith("INVOKE_CROSSPYTHON_")}
    done = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, "sh", str(small), str(TARBALL), sys.executable],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 12, (done.stdout[-2000:], done.stderr[-2000:])
    assert "error: no space left on the device" in done.stderr and "Traceback" not in done.stderr
    # Nothing half-unpacked remains: no source tree, no temporary directory (only the lock dir).
    assert [line for line in done.stdout.splitlines()[-3:] if line.startswith(("Python-", ".Python-"))] == []
