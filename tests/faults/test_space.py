"""A full disk: `invoke fetch` unpacking CPython's source into an artifacts directory on a 30 MB
tmpfs (the pinned tarball fits, its 110 MB tree does not), and `invoke install` of the "full"
profile into an RFS on a tmpfs with 30 MB to spare (it needs some 270 MB more). The answer is a
message and exit 12, no traceback, nothing half-unpacked left to be trusted, and the RFS
byte-identical.

Needs root and unshare (a private mount namespace); uses the tarball and the build the main job made.
"""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import run_unshared
from tests.integration.test_cross_build import ARTIFACTS, DEFAULT_RFS, invoke

pytestmark = pytest.mark.integration

TARBALL = ARTIFACTS / "downloads" / "Python-3.13.5.tar.xz"


def test_a_full_disk_is_a_message_and_leaves_nothing_trusted() -> None:
    if not TARBALL.is_file():
        pytest.skip(f"{TARBALL} was not fetched by the builds")
    small = ARTIFACTS / "test" / "small-disk"
    small.mkdir(parents=True, exist_ok=True)
    script = (
        'mount -t tmpfs -o size=30m tmpfs "$1" && mkdir "$1/downloads" && cp "$2" "$1/downloads/" && '
        'INVOKE_CROSSPYTHON_ARTIFACTS="$1" "$3" -m invoke fetch; code=$?; '
        'ls -A "$1/src" 2>/dev/null; exit $code'
    )
    done = run_unshared(script, str(small), str(TARBALL), timeout=600)
    assert done.returncode == 12, (done.stdout[-2000:], done.stderr[-2000:])
    assert "error: no space left on the device" in done.stderr and "Traceback" not in done.stderr
    # Nothing half-unpacked remains: no source tree, no temporary directory (only the lock dir).
    assert [line for line in done.stdout.splitlines()[-3:] if line.startswith(("Python-", ".Python-"))] == []


# In a private mount namespace: the default RFS's path is covered by a small tmpfs holding a copy of
# it (the build's inputs name that path); a hash of paths, kinds, modes, link targets and contents
# is taken before and after the install.
_FULL_RFS = r"""
rfs=$1 keep=$2 py=$3
state() { (cd "$rfs" && find . -printf '%p %y %m %l\n' | LC_ALL=C sort &&
           find . -type f -exec sha256sum {} + | LC_ALL=C sort) | sha256sum; }
cp -a "$rfs/." "$keep/" && mount -t tmpfs -o size=100m tmpfs "$rfs" && cp -a "$keep/." "$rfs/" || exit 99
df -m "$rfs" | tail -1
before=$(state)
"$py" -m invoke install --profile full; code=$?
echo "before: $before"; echo "after: $(state)"
exit $code
"""


def test_an_rfs_without_room_for_the_install_is_refused_before_a_file_lands() -> None:
    built = invoke("native", "cross", "install")
    assert built.returncode == 0, built.stderr
    keep = ARTIFACTS / "test" / "rfs-copy"
    shutil.rmtree(keep, ignore_errors=True)
    keep.mkdir(parents=True)
    try:
        done = run_unshared(_FULL_RFS, str(DEFAULT_RFS), str(keep), timeout=900)
    finally:
        shutil.rmtree(keep, ignore_errors=True)
    assert done.returncode == 12, (done.stdout[-2000:], done.stderr[-2000:])
    assert "error: not enough space in" in done.stderr and "nothing was written" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    states = [line.split(": ", 1)[1] for line in done.stdout.splitlines() if line.startswith(("before: ", "after: "))]
    assert len(states) == 2 and states[0] == states[1], done.stdout[-2000:]
    assert not list(ARTIFACTS.glob("installs/*/*.in-progress.json"))  # refused before the journal
