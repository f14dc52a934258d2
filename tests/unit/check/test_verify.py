"""The verify checks, run for real by this host's Python (the target run is an integration test)."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crosspython.check.verify import (
    CHECK_SCRIPT,
    expectations,
    explain,
    modules_to_import,
    parse_results,
    table,
    verify_command,
)
from crosspython.matrix import VERIFY_CHECKS, Matrix, load_matrix
from tests.conftest import FIXTURE_MATRIX

HOST_MODULES = ["_ssl", "_hashlib", "zlib", "_ctypes", "_sqlite3", "_bz2", "_lzma"]


def _host(**overrides: object) -> dict[str, object]:
    """verify's expectations with this build host as the target."""
    base = expectations(
        load_matrix(FIXTURE_MATRIX).cell(python="3.13", triplet="arm-linux-gnueabihf", variant="default")
    )
    return (
        base
        | {
            "version": platform.python_version(),
            "machine": platform.machine(),
            "byteorder": sys.byteorder,
            "bits": 64 if sys.maxsize > 2**32 else 32,
        }
        | overrides
    )


def _run_on_host(**overrides: object) -> list:  # type: ignore[type-arg]
    expect = {
        "version": platform.python_version(),
        "machine": platform.machine(),
        "byteorder": sys.byteorder,
        "bits": 64 if sys.maxsize > 2**32 else 32,
        "modules": HOST_MODULES,
        "checks": list(VERIFY_CHECKS),
        "imports": ["json", "email.mime.text", "sqlite3"],
    }
    expect = _host(**expect) | overrides
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
    assert [r.name for r in results] == list(VERIFY_CHECKS)
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
    cmd = verify_command(cell, tmp_path, "/usr/bin/qemu-arm")
    assert cmd[:4] == ["/usr/bin/qemu-arm", "-L", str(tmp_path), str(tmp_path / "usr/bin/python3.13")]
    expect = json.loads(cmd[-1])
    assert expect == expectations(cell)
    assert expect["machine"] == "armv7l" and expect["bits"] == 32 and expect["byteorder"] == "little"


def test_only_the_checks_asked_for_run_in_their_order() -> None:
    results = _run_on_host(checks=["zlib", "machine", "no such check"])
    assert [r.name for r in results] == ["zlib", "machine", "no such check"]
    assert results[0].ok and results[1].ok
    assert not results[2].ok and "no such check" in results[2].detail  # asked for, so reported, never dropped


def _python27() -> str | None:
    """A working build-host Python 2.7 (pyenv's shims name versions that are not selected)."""
    pyenv = Path.home() / ".pyenv" / "versions"
    candidates = [str(p) for p in sorted(pyenv.glob("2.7*/bin/python2.7"))] if pyenv.is_dir() else []
    candidates += [c for c in [shutil.which("python2.7")] if c]
    for candidate in candidates:
        if subprocess.run([candidate, "-c", "pass"], capture_output=True, check=False).returncode == 0:
            return candidate
    return None


def test_the_script_runs_under_python_2_7(matrix: Matrix) -> None:
    """The target's 2.7 runs the same script: proven here on a build-host 2.7 with 2.7's checks."""
    python27 = _python27()
    if python27 is None:
        pytest.skip("no Python 2.7 on this build host (pyenv's 2.7.18 has one on these machines)")
    v27 = matrix.version("2.7")
    out = subprocess.run(
        [python27, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    )
    expect = _host(
        version=out.stdout.strip(),
        modules=["zlib", "_ctypes"],
        checks=list(v27.checks),
        imports=["json", "email.mime.text"],
    )
    done = subprocess.run(
        [python27, *v27.interpreter_flags, "-c", CHECK_SCRIPT, json.dumps(expect)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = parse_results(done.stdout)
    assert [r.name for r in results] == list(v27.checks)
    # The build host's 2.7 may lack a library (ssl, sqlite3, bz2); the script itself must not fail.
    broken = [r for r in results if not r.ok and "ImportError" not in r.detail]
    assert not broken, table(results)
    assert {r.name for r in results if r.ok} >= {"implementation", "machine", "extension modules", "zlib", "json"}


def test_2_7_runs_without_lzma_and_asyncio_and_without_minus_I(matrix: Matrix, tmp_path: Path) -> None:
    cell = matrix.cell(python="2.7", triplet="powerpc-linux-gnu", variant="default")
    cmd = verify_command(cell, tmp_path, "/usr/bin/qemu-ppc")
    assert cmd[3:7] == [str(tmp_path / "usr/bin/python2.7"), "-B", "-E", "-s"]  # -B: no byte-code written
    assert "lzma" not in expectations(cell)["checks"] and "asyncio" not in expectations(cell)["checks"]


def test_imports_name_the_missing_module(tmp_path: Path) -> None:
    """A kept module whose import needs one that is not there fails, naming both (here: a stand-in
    module importing `pydoc_gone`, as xmlrpc.server imports pydoc)."""
    (tmp_path / "needs_gone.py").write_text("import pydoc_gone\n")
    expect = _host(modules=[], checks=["imports"], imports=["json", "needs_gone"])
    script = f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n" + CHECK_SCRIPT
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(expect)], capture_output=True, text=True, timeout=60, check=False
    )
    (result,) = parse_results(done.stdout)
    assert not result.ok and result.detail == "1 of 2 modules failed to import"
    (failure,) = result.failures
    assert failure.module == "needs_gone" and failure.missing == "pydoc_gone"
    (explained,) = explain([result], lambda module: "documentation browser" if module == "pydoc_gone" else None)
    assert explained.failures[0].dropped_because == "documentation browser"


def test_not_importable_data_is_applied(matrix: Matrix) -> None:
    imports, skipped = modules_to_import(
        ["json", "antigravity", "asyncio.windows_events", "test", "test.test_os", "idlelib.idle", "tkinter"],
        matrix.not_importable,
        matrix.importable_with,
    )
    assert imports == ["json", "test"]
    assert set(skipped) == {"antigravity", "asyncio.windows_events", "test.test_os", "idlelib.idle", "tkinter"}
    assert "_tkinter" in skipped["tkinter"] and all(skipped.values())


def test_a_module_is_imported_where_its_extension_module_was_built(matrix: Matrix) -> None:
    """curses needs _curses, built only when the RFS has ncurses (the source-built powerpc RFS has not)."""
    without, skipped = modules_to_import(["curses", "curses.ascii", "_pyrepl.unix_console"], (), matrix.importable_with)
    assert without == [] and "needs _curses" in skipped["curses"]
    built, skipped = modules_to_import(["_curses", "curses", "_pyrepl.unix_console"], (), matrix.importable_with)
    assert built == ["_curses", "curses", "_pyrepl.unix_console"] and skipped == {}
