"""The recipe's own line: CPython 2.7.18 for 32-bit PowerPC, run under qemu-ppc from the RFS.

2.7 has no --with-build-python: its configure takes python2.7 from PATH, so the native build is
set aside as for-build/python2.7 and put first on PATH; patches/2.7 teach setup.py to search
the RFS and never the build host. Shares the powerpc RFS (and its source-built libraries) with
test_big_endian. Slow the first time (native + cross 2.7: minutes); ccache makes reruns fast.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from crosspython.core.elf import read_header
from tests.integration.test_cross_build import ARTIFACTS, ROOT, installed_manifest, invoke, verify_checks, verify_rows

pytestmark = pytest.mark.integration

TRIPLET = "powerpc-linux-gnu"
CELL = f"cp27-{TRIPLET}-default"
RFS = ARTIFACTS / "rfs" / TRIPLET
BUILD = ARTIFACTS / "build" / "cross" / CELL


@pytest.fixture(scope="module")
def py27_job() -> subprocess.CompletedProcess[str]:
    return invoke("native", "cross", "install", "verify", "--python", "2.7", "--triplet", TRIPLET)


def test_2_7_builds_with_the_patches_and_runs_under_qemu_ppc(py27_job: subprocess.CompletedProcess[str]) -> None:
    assert py27_job.returncode == 0, py27_job.stderr
    assert "def add_rfs_paths" in (ARTIFACTS / "src" / "Python-2.7.18" / "setup.py").read_text()  # patched
    rows = verify_rows(CELL)
    # 2.7's checks: no lzma module, no asyncio; everything else as for 3.x.
    assert set(rows) == {
        "implementation",
        "machine",
        "extension modules",
        "ssl",
        "zlib",
        "ctypes",
        "sqlite3",
        "bz2",
        "json",
        "tls",
        "imports",
        "installed files",
    }, rows
    assert set(rows.values()) == {"ok"}, rows
    assert verify_checks(CELL)["implementation"]["detail"] == "CPython 2.7.18"
    assert verify_checks(CELL)["machine"]["detail"] == "ppc, big-endian, 32-bit"


def test_the_cross_build_used_the_native_python_and_no_target_pgen(
    py27_job: subprocess.CompletedProcess[str],
) -> None:
    assert py27_job.returncode == 0
    makefile = (BUILD / "Makefile").read_text()
    build_line = next(line for line in makefile.splitlines() if line.startswith("PYTHON_FOR_BUILD="))
    assert build_line.rstrip().endswith(" python2.7")  # found on PATH: for-build/ comes first there
    # 2.7.18 regenerates its grammar only on `make regen-grammar`: no pgen was built (nor run).
    assert not (BUILD / "Parser" / "pgen").exists()
    make_log = (ARTIFACTS / "logs" / CELL / "make.log").read_text()
    assert "-I/usr/include " not in make_log and "-L/usr/lib " not in make_log


def test_2_7_installs_target_binaries_only(py27_job: subprocess.CompletedProcess[str]) -> None:
    assert py27_job.returncode == 0
    for path in (
        "usr/bin/python2.7",
        "usr/lib/python2.7/lib-dynload/_ssl.so",
        "usr/lib/python2.7/lib-dynload/_ctypes.so",
    ):
        header = read_header(RFS / path)
        assert header is not None, path
        assert (header.machine, header.elf_class, header.endianness) == ("PPC", 32, "big"), path
    # compileall ran with the build-host python2.7 (not the target's modules): byte code is there.
    assert (RFS / "usr/lib/python2.7/os.pyc").is_file()


def test_two_cells_install_into_one_rfs_at_once(py27_job: subprocess.CompletedProcess[str]) -> None:
    """2.7 and 3.13 for powerpc, installed into the same RFS by two processes at once: both end
    correct (the RFS's lock serializes the merges), and each verifies against its manifest."""
    assert py27_job.returncode == 0
    for cell in (CELL, "cp313-powerpc-linux-gnu-default"):
        installed_manifest(RFS, cell).unlink()  # both must merge again
    env = {k: v for k, v in os.environ.items() if k != "RFS" and not k.startswith("INVOKE_CROSSPYTHON_")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "invoke", "install", *args, "--triplet", TRIPLET],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in (["--python", "2.7"], ["--python", "3.13"])
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, (out[-3000:], err[-3000:])
    for python in ("2.7", "3.13"):
        done = invoke("verify", "--python", python, "--triplet", TRIPLET)
        assert done.returncode == 0, done.stderr
