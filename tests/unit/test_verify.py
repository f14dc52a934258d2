"""The verify checks, run for real by this host's Python (the target run is an integration test)."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

from crosspython.matrix import Matrix
from crosspython.verify import CHECK_SCRIPT, EXPECTED_CHECKS, expectations, parse_results, table, verify_command

HOST_MODULES = ["_ssl", "_hashlib", "zlib", "_ctypes", "_sqlite3", "_bz2", "_lzma"]


def _run_on_host(**overrides: object) -> list:  # type: ignore[type-arg]
    expect = {
        "version": platform.python_version(),
        "machine": platform.machine(),
        "byteorder": sys.byteorder,
        "bits": 64 if sys.maxsize > 2**32 else 32,
        "modules": HOST_MODULES,
    } | overrides
    done = subprocess.run(
        [sys.executable, "-I", "-c", CHECK_SCRIPT, json.dumps(expect)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return parse_results(done.stdout)


def test_every_check_passes_on_a_working_interpreter() -> None:
    results = _run_on_host()
    assert [r.name for r in results] == list(EXPECTED_CHECKS)
    assert all(r.ok for r in results), table(results)
    ssl_detail = next(r.detail for r in results if r.name == "ssl")
    assert "OpenSSL" in ssl_detail


def test_wrong_machine_and_missing_module_fail() -> None:
    results = {r.name: r for r in _run_on_host(machine="armv7l", modules=["zlib", "_no_such_module"])}
    assert not results["machine"].ok and "expected 'armv7l'" in results["machine"].detail
    assert not results["extension modules"].ok and "_no_such_module" in results["extension modules"].detail
    assert results["zlib"].ok  # one failure does not hide the others


def test_parse_ignores_noise() -> None:
    output = 'qemu: warning\n{"name": "zlib", "ok": true, "detail": "x"}\n{broken json\n{"other": 1}\n'
    results = parse_results(output)
    assert len(results) == 1 and results[0].name == "zlib" and results[0].ok


def test_command_runs_the_rfs_interpreter_under_qemu(matrix: Matrix, tmp_path: Path) -> None:
    cell = matrix.cell(python="3.13", triplet="arm-linux-gnueabihf", variant="default")
    cmd = verify_command(cell, tmp_path, "/usr/bin/qemu-arm", "usr/bin/python3.13")
    assert cmd[:4] == ["/usr/bin/qemu-arm", "-L", str(tmp_path), str(tmp_path / "usr/bin/python3.13")]
    expect = json.loads(cmd[-1])
    assert expect == expectations(cell)
    assert expect["machine"] == "armv7l" and expect["bits"] == 32 and expect["byteorder"] == "little"
