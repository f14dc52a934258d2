"""A real big-endian cell: CPython 3.13 for 32-bit PowerPC (the recipe's own family).

Debian ships no powerpc libraries, so this also exercises `deps`: zlib, bzip2, xz, libffi, sqlite
and OpenSSL cross-built from pinned sources into an RFS seeded with the tool-chain's libc, which
qemu-ppc then runs the interpreter from. Slow: minutes, once; ccache makes reruns fast.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from crosspython.core.elf import read_header
from tests.integration.test_cross_build import ARTIFACTS, installed_manifest, invoke, verify_checks, verify_rows

pytestmark = pytest.mark.integration

TRIPLET = "powerpc-linux-gnu"
CELL = f"cp313-{TRIPLET}-default"
RFS = ARTIFACTS / "rfs" / TRIPLET


@pytest.fixture(scope="module")
def powerpc_job() -> subprocess.CompletedProcess[str]:
    return invoke("native", "cross", "install", "verify", "--triplet", TRIPLET)


def test_powerpc_builds_its_libraries_and_runs_under_qemu_ppc(powerpc_job: subprocess.CompletedProcess[str]) -> None:
    assert powerpc_job.returncode == 0, powerpc_job.stderr
    rows = verify_rows(CELL)
    assert set(rows) >= {"machine", "extension modules", "ssl", "zlib", "ctypes", "sqlite3", "bz2", "lzma"}
    assert set(rows.values()) == {"ok"}, rows
    assert verify_checks(CELL)["machine"]["detail"] == "ppc, big-endian, 32-bit"


def test_the_powerpc_rfs_is_the_toolchains_libc_plus_source_built_libraries(
    powerpc_job: subprocess.CompletedProcess[str],
) -> None:
    assert powerpc_job.returncode == 0
    for path in (
        "lib/ld.so.1",
        "lib/libc.so.6",
        "usr/lib/libssl.so.3",
        "usr/lib/libffi.so.8",
        "usr/lib/libz.so.1",
        "usr/lib/liblzma.so.5",
        "usr/lib/libsqlite3.so.0",
        "usr/bin/python3.13",
    ):
        header = read_header(RFS / path)
        assert header is not None, path
        assert (header.machine, header.elf_class, header.endianness) == ("PPC", 32, "big"), path
    assert not list(RFS.rglob("*.la"))  # libtool archives name build-host paths
    manifest = json.loads(installed_manifest(RFS, CELL).read_text())
    assert manifest["inputs"]["triplet"] == TRIPLET


def test_a_second_run_builds_nothing(powerpc_job: subprocess.CompletedProcess[str]) -> None:
    assert powerpc_job.returncode == 0
    again = invoke("deps", "--triplet", TRIPLET)
    assert again.returncode == 0, again.stderr
    for name in ("zlib", "bzip2", "xz", "libffi", "sqlite", "openssl", "rfs"):
        assert f"] {name}: up to date" in again.stdout, name
    assert "$ " not in again.stdout  # no command ran
