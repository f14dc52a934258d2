"""Prove the installed interpreter works on the target: run it from the RFS under qemu-user.

The checks use each module for real (a TLS context and a hash, a zlib round trip, a call into
the target's libc through ctypes, an SQL query, ...), each reported as one JSON line, so that one
failure does not hide the others.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..core.errors import VerifyFailed
from ..core.files import write_json_atomic
from ..core.runner import Runner
from ..matrix import Cell

# Runs on the target, under every version the matrix builds (2.7 included): standard library
# only, syntax both 2.7 and 3.x accept (no f-strings, no print(flush=...); asyncio's coroutines
# are compiled from a string). Prints one JSON object per check, in the order asked for.
CHECK_SCRIPT = r"""
import json, sys

EXPECT = json.loads(sys.argv[1])
CHECKS = {}

def check(name):
    def wrap(fn):
        CHECKS[name] = fn
        return fn
    return wrap

def report(name, ok, detail, failures=None):
    sys.stdout.write(json.dumps({"name": name, "ok": ok, "detail": detail, "failures": failures or []}) + "\n")
    sys.stdout.flush()

class Failures(Exception):
    def __init__(self, failures):
        Exception.__init__(self, "%d failed" % len(failures))
        self.failures = failures

# The identity checks use sys and os only: a profile may leave out platform and struct.
@check("implementation")
def _():
    if hasattr(sys, "implementation"):
        impl = {"cpython": "CPython"}.get(sys.implementation.name, sys.implementation.name)
    else:  # 2.7
        impl = sys.subversion[0]
    assert impl == "CPython", impl
    got = "%d.%d.%d" % sys.version_info[:3]
    assert got == EXPECT["version"], "%s != %s" % (got, EXPECT["version"])
    return "%s %s" % (impl, got)

@check("machine")
def _():
    import os
    machine = os.uname()[4]  # what platform.machine() reports
    assert machine == EXPECT["machine"], "platform.machine() = %r, expected %r" % (str(machine), str(EXPECT["machine"]))
    assert sys.byteorder == EXPECT["byteorder"], "sys.byteorder = %s" % sys.byteorder
    bits = 64 if sys.maxsize > 2 ** 32 else 32
    assert bits == EXPECT["bits"], "%d-bit pointers" % bits
    return "%s, %s-endian, %d-bit" % (machine, sys.byteorder, bits)

@check("extension modules")
def _():
    for name in EXPECT["modules"]:
        __import__(str(name))  # not importlib: 2.7's is a package a profile may leave out
    return ", ".join(EXPECT["modules"])

@check("ssl")
def _():
    import ssl, hashlib
    ctx = ssl.create_default_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    # OpenSSL's sha256 (hashlib.new goes through _hashlib), against the FIPS 180-2 test vector.
    digest = hashlib.new("sha256", b"abc").hexdigest()
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", digest
    return "%s; sha256 ok" % ssl.OPENSSL_VERSION

@check("zlib")
def _():
    import zlib
    data = b"crosspython " * 1000
    packed = zlib.compress(data, 9)
    assert zlib.decompress(packed) == data and len(packed) < len(data) // 10
    runtime = getattr(zlib, "ZLIB_RUNTIME_VERSION", zlib.ZLIB_VERSION)  # 2.7 has only the latter
    return "%d -> %d bytes, zlib %s" % (len(data), len(packed), runtime)

@check("ctypes")
def _():
    import ctypes, os
    libc = ctypes.CDLL("libc.so.6")
    assert libc.getpid() == os.getpid()
    libc.strlen.argtypes = [ctypes.c_char_p]
    assert libc.strlen(b"crosspython") == 11
    return "libc getpid/strlen ok"

@check("sqlite3")
def _():
    import sqlite3
    con = sqlite3.connect(":memory:")
    con.execute("create table t (x integer)")
    con.executemany("insert into t values (?)", [(i,) for i in range(100)])
    (total,) = con.execute("select sum(x) from t").fetchone()
    assert total == 4950, total
    return "SQLite %s" % sqlite3.sqlite_version

@check("bz2")
def _():
    import bz2
    data = b"crosspython " * 1000
    assert bz2.decompress(bz2.compress(data)) == data
    return "round trip ok"

@check("lzma")
def _():
    import lzma
    data = b"crosspython " * 1000
    assert lzma.decompress(lzma.compress(data)) == data
    return "round trip ok"

@check("json")
def _():
    value = {u"a": [1, 2.5, None, True], u"b": u"\u00e9"}
    assert json.loads(json.dumps(value)) == value
    return "round trip ok"

@check("asyncio")
def _():
    import asyncio
    scope = {"asyncio": asyncio}
    exec(compile(
        "async def add(a, b):\n"
        "    await asyncio.sleep(0)\n"
        "    return a + b\n"
        "async def main():\n"
        "    return await asyncio.gather(add(1, 2), add(3, 4))\n",
        "<asyncio check>", "exec"), scope)
    assert asyncio.run(scope["main"]()) == [3, 7]
    return "gather ok"

@check("tls")
def _():
    # A TLS handshake with a server on the loopback, the server's certificate verified by name.
    import socket, ssl, threading
    paths = [EXPECT["tls"]["cert"], EXPECT["tls"]["key"]]  # build-host paths: qemu-user opens them there
    protocol = getattr(ssl, "PROTOCOL_TLS_SERVER", ssl.PROTOCOL_SSLv23)  # 2.7 has only the latter
    server_ctx = ssl.SSLContext(protocol)
    server_ctx.load_cert_chain(paths[0], paths[1])
    client_ctx = ssl.create_default_context(cafile=paths[0])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    got = []

    def serve():
        conn, _ = listener.accept()
        with_tls = server_ctx.wrap_socket(conn, server_side=True)
        got.append(with_tls.recv(5))
        with_tls.sendall(b"pong!")
        with_tls.close()

    thread = threading.Thread(target=serve)
    thread.start()
    raw = socket.create_connection(listener.getsockname(), timeout=60)
    client = client_ctx.wrap_socket(raw, server_hostname="localhost")
    client.sendall(b"ping!")
    answer = client.recv(5)
    version, cipher = client.version(), client.cipher()[0]
    client.close()
    thread.join(60)
    listener.close()
    assert got == [b"ping!"] and answer == b"pong!", (got, answer)
    return "%s %s with localhost, certificate verified" % (version, cipher)

@check("zoneinfo")
def _():
    # The zoneinfo machinery (the C _zoneinfo and its TZif parser) on a rule with summer time.
    import zoneinfo
    from datetime import datetime, timedelta
    with open(EXPECT["tzif"], "rb") as handle:  # a build-host path: qemu-user opens it there
        zone = zoneinfo.ZoneInfo.from_file(handle, key="Europe/Berlin")
    summer = datetime(2024, 7, 1, 12, tzinfo=zone).utcoffset()
    winter = datetime(2024, 1, 1, 12, tzinfo=zone).utcoffset()
    assert (summer, winter) == (timedelta(hours=2), timedelta(hours=1)), (summer, winter)
    return "Europe/Berlin: UTC+2 in July, UTC+1 in January"

@check("imports")
def _():
    # Every module the install keeps, imported: a module whose import needs one the profile left
    # out fails here. Last, so that the checks above run on a fresh interpreter.
    failed = []
    sys.path[:0] = EXPECT["path"]  # the application's directory, for its own modules
    for name in EXPECT["imports"]:
        try:
            __import__(name)
        except BaseException as exc:
            missing = getattr(exc, "name", None)
            if missing is None and str(exc).startswith("No module named "):
                missing = str(exc)[len("No module named "):].strip("'").split(".")[0]  # 2.7
            failed.append({"module": name, "error": "%s: %s" % (type(exc).__name__, exc), "missing": missing})
    if failed:
        raise Failures(failed)
    return "%d modules imported" % len(EXPECT["imports"])

for name in EXPECT["checks"]:
    fn = CHECKS.get(name)
    if name in EXPECT["skip"]:
        report(name, True, "skipped: " + EXPECT["skip"][name])
        continue
    try:
        if fn is None:
            raise LookupError("no such check")
        report(name, True, str(fn()))
    except Failures as exc:
        report(name, False, "%d of %d modules failed to import" % (len(exc.failures), len(EXPECT["imports"])),
               exc.failures)
    except BaseException as exc:
        report(name, False, "%s: %s" % (type(exc).__name__, exc))
"""


@dataclass(frozen=True)
class ImportFailure:
    module: str
    error: str
    missing: str | None = None  # the module the import did not find
    dropped_because: str = ""  # the installed profile's reason for leaving `missing` out


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    failures: tuple[ImportFailure, ...] = ()


# The module each functional check exercises: a check whose module the install left out is skipped.
CHECK_MODULES = {
    "ssl": "ssl",
    "zlib": "zlib",
    "ctypes": "ctypes",
    "sqlite3": "sqlite3",
    "bz2": "bz2",
    "lzma": "lzma",
    "json": "json",
    "asyncio": "asyncio",
    "tls": "ssl",
    "zoneinfo": "zoneinfo",
}
DATA = Path(__file__).resolve().parent / "data"
# A self-signed certificate for localhost (valid to 2126) and its key: only ever used for the
# loopback handshake of the "tls" check. A TZif file of the tz database (public domain).
TLS_CERT = DATA / "localhost.pem"
TLS_KEY = DATA / "localhost.key"
TZIF = DATA / "Europe-Berlin.tzif"


def expectations(
    cell: Cell, imports: list[str] | None = None, installed: list[str] | None = None, path: tuple[Path, ...] = ()
) -> dict[str, object]:
    """What the check script expects. With `installed` (the modules in the RFS), the checks and
    required extension modules of modules an install profile left out are skipped, saying so."""
    target = cell.target
    required = list(cell.version.required_modules)
    skip: dict[str, str] = {}
    if installed is not None:
        present = set(installed)
        required = [m for m in required if m in present]
        skip = {
            check: f"{CHECK_MODULES[check]} is not installed (the profile leaves it out)"
            for check in cell.version.checks
            if check in CHECK_MODULES and CHECK_MODULES[check] not in present
        }
    return {
        "version": cell.version.full,
        "machine": target.platform_machine,
        "byteorder": target.endianness,
        "bits": target.elf_class,
        "modules": required,
        "checks": list(cell.version.checks),
        "imports": list(imports or []),
        "path": [str(p) for p in path],
        "skip": skip,
        "tls": {"cert": str(TLS_CERT), "key": str(TLS_KEY)},
        "tzif": str(TZIF),
    }


def verify_command(
    cell: Cell,
    rfs: Path,
    qemu: str,
    imports: list[str] | None = None,
    installed: list[str] | None = None,
    path: tuple[Path, ...] = (),
) -> list[str]:
    flags = list(cell.version.interpreter_flags)
    interpreter = str(rfs / cell.version.interpreter)
    expect = expectations(cell, imports, installed, path)
    # -B: verify never writes byte-code into the RFS (an interpreter importing a module without
    # a .pyc would write one, and that file would be no install's, left behind by a profile switch).
    return [qemu, "-L", str(rfs), interpreter, "-B", *flags, "-c", CHECK_SCRIPT, json.dumps(expect)]


def modules_to_import(
    installed: list[str],
    not_importable: tuple[tuple[str, str], ...],
    importable_with: tuple[tuple[str, str], ...] = (),
) -> tuple[list[str], dict[str, str]]:
    """(the installed modules `verify` imports, {skipped module: why}) after the data's [not_importable]
    and [importable_with] (a module whose extension module was not built is not imported)."""
    present = set(installed)
    imports, skipped = [], {}
    for name in installed:
        why = next((w for pattern, w in not_importable if _names(name, pattern)), None)
        if why is None:
            why = next(
                (
                    f"needs {ext}, which this build has not (its library is not in the RFS)"
                    for pattern, ext in importable_with
                    if _names(name, pattern) and ext not in present and name != ext
                ),
                None,
            )
        if why is None:
            imports.append(name)
        else:
            skipped[name] = why
    return imports, skipped


def _names(module: str, pattern: str) -> bool:
    parts = module.split(".")
    return any(fnmatch.fnmatchcase(".".join(parts[: i + 1]), pattern) for i in range(len(parts)))


def parse_results(output: str) -> list[CheckResult]:
    results = []
    for line in output.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and {"name", "ok", "detail"} <= data.keys():
            failures = tuple(
                ImportFailure(module=str(f["module"]), error=str(f["error"]), missing=f.get("missing"))
                for f in data.get("failures") or []
                if isinstance(f, dict) and "module" in f and "error" in f
            )
            results.append(CheckResult(str(data["name"]), bool(data["ok"]), str(data["detail"]), failures))
    return results


def table(results: list[CheckResult]) -> str:
    width = max([len(r.name) for r in results] + [5])
    rows = [f"    {'check':<{width}}  result  detail"]
    rows += [f"    {r.name:<{width}}  {'ok' if r.ok else 'FAIL':<6}  {r.detail}" for r in results]
    return "\n".join(rows)


def write_record(
    path: Path,
    cell: Cell,
    rfs: Path,
    qemu: str,
    results: list[CheckResult],
    returncode: int,
    *,
    profile: str = "",
    skipped: dict[str, str] | None = None,
) -> None:
    """verify's JSON record (artifacts/reports/verify/<cell>.json): what tests and CI read, not the table."""
    write_json_atomic(
        path,
        {
            "cell": cell.id,
            "rfs": str(rfs),
            "qemu": qemu,
            "interpreter": cell.version.interpreter,
            "profile": profile,
            "not_imported": skipped or {},
            "returncode": returncode,
            "ok": returncode == 0 and all(r.ok for r in results),
            "checks": [asdict(r) for r in results],
        },
    )


def explain(results: list[CheckResult], dropped_because: Callable[[str], str | None]) -> list[CheckResult]:
    """Name, for each failed import, why the installed profile left out the module it needed."""
    out = []
    for r in results:
        failures = tuple(
            replace(f, dropped_because=dropped_because(f.missing) or "") if f.missing else f for f in r.failures
        )
        out.append(replace(r, failures=failures))
    return out


def _failure_lines(results: list[CheckResult], profile: str) -> list[str]:
    lines = []
    for r in results:
        for f in r.failures:
            line = f"{f.module}: {f.error}"
            if f.dropped_because:
                line += f" ({f.missing} is left out by profile {profile}: {f.dropped_because})"
            lines.append(line)
    return lines


def run_verify(
    cell: Cell,
    rfs: Path,
    qemu: str,
    runner: Runner,
    record: Path,
    *,
    imports: list[str] | None = None,
    installed: list[str] | None = None,
    path: tuple[Path, ...] = (),
    skipped: dict[str, str] | None = None,
    profile: str = "",
    dropped_because: Callable[[str], str | None] = lambda module: None,
    changed: list[str] | None = None,
) -> list[CheckResult]:
    """Run the checks under qemu-user and write their record; raise VerifyFailed unless every one passed.

    `imports` are the installed modules the "imports" check imports (`skipped`: the others, with why).
    """
    if not (rfs / cell.version.interpreter).is_file():
        raise VerifyFailed(f"no interpreter at {rfs / cell.version.interpreter}", hint="run `invoke install` first")
    # A run that fails before its end must not leave the previous run's record to be read as its own.
    record.unlink(missing_ok=True)
    with runner.step(cell.id, "verify") as step:
        if skipped:
            step.note(f"not imported ({len(skipped)}, matrix/profiles.toml [not_importable]): {', '.join(skipped)}")
        # Emulated start-up and imports take seconds; allow plenty.
        result = step.run(verify_command(cell, rfs, qemu, imports, installed, path), check=False, timeout=900)
        results = explain(parse_results(result.output), dropped_because)
        if changed is not None:
            # The RFS against the install's manifest: every file's size and sha256, every link's target.
            more = " ..." if len(changed) > 10 else ""
            results.insert(
                0,
                CheckResult("installed files", True, "all as installed (manifest)")
                if not changed
                else CheckResult(
                    "installed files", False, f"{len(changed)} changed since install: {', '.join(changed[:10])}{more}"
                ),
            )
        seen = {r.name for r in results}
        for name in cell.version.checks:
            if name not in seen:
                results.append(CheckResult(name, False, "did not run (interpreter exited early)"))
        write_record(record, cell, rfs, qemu, results, result.returncode, profile=profile, skipped=skipped or {})
        failures = _failure_lines(results, profile)
        step.note(
            "results under "
            + qemu
            + ":\n"
            + table(results)
            + "".join(f"\n      {line}" for line in failures)
            + f"\n    record: {record}"
        )
        failed = [r.name for r in results if not r.ok]
        if failed or result.returncode != 0:
            raise VerifyFailed(
                f"{cell.id}: {len(failed)} check(s) failed under {qemu}: {', '.join(failed) or '(none)'}"
                + (f"; the interpreter exited with {result.returncode}" if result.returncode else "")
                + "".join(f"\n  {line}" for line in failures[:20]),
                hint=f"see {step.log}",
            )
    return results
