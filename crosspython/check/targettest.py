"""CPython's own regression suite on the target, under qemu-user: `invoke test-target`.

Much of the suite re-executes `sys.executable` (regrtest's workers, subprocess tests). For those
children to start, the target's ELF header is registered in binfmt_misc with a small wrapper
as interpreter (it execs `qemu-<arch> -L <RFS> ...`, so even a child started with an empty
environment finds the RFS). The rule is removed on exit, on failure and on Ctrl-C; a rule that was already
there is left alone. Where registration is impossible (not root), the suite runs in one process
and the result says which tests that makes unreliable.
"""

from __future__ import annotations

import fnmatch
import os
import signal
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Literal, cast, get_args

from ..core import pythontree
from ..core.elf import MACHINES
from ..core.errors import ConfigError
from ..core.files import remove_tree, write_json_atomic
from ..install.profile import is_test, module_dropped, modules_in
from ..matrix import MATRIX_DIR, Cell, Fields, Profile, Target, read_toml

BINFMT = Path("/proc/sys/fs/binfmt_misc")
# How the suite runs: child interpreters through a binfmt_misc rule, or all in one process.
RunMode = Literal["binfmt", "single-process"]

# ---------------------------------------------------------------- data


@dataclass(frozen=True, kw_only=True)
class Expected:
    """A test known to fail under emulation (or because of a host-tool artefact), with its reason."""

    test: str  # fnmatch pattern on the test id, e.g. test.test_subprocess.*.test_empty_env
    reason: str
    versions: tuple[str, ...]  # () = every version
    triplets: tuple[str, ...]  # () = every target
    modes: tuple[RunMode, ...]  # () = both

    def applies(self, cell: Cell, mode: RunMode) -> bool:
        return (
            (not self.versions or cell.version.short in self.versions)
            and (not self.triplets or cell.target.triplet in self.triplets)
            and (not self.modes or mode in self.modes)
        )


@dataclass(frozen=True, kw_only=True)
class TargetTests:
    default_tests: tuple[str, ...]
    single_process_unreliable: tuple[str, ...]
    expected: tuple[Expected, ...]


def load_target_tests(path: Path = MATRIX_DIR / "target-tests.toml") -> TargetTests:
    f = Fields(read_toml(path), str(path))
    raw_expected = f.items("expected")
    expected = []
    for i, item in enumerate(raw_expected):
        if not isinstance(item, dict):
            raise ConfigError(f"{path}: [[expected]] #{i + 1} must be a table")
        e = Fields(item, f"{path} [[expected]] #{i + 1}")
        modes = e.texts("modes", [])
        if not set(modes) <= set(get_args(RunMode)):
            raise ConfigError(f"{e.where}: modes must be 'binfmt' and/or 'single-process'")
        expected.append(
            Expected(
                test=e.text("test"),
                reason=e.text("reason"),
                versions=e.texts("versions", []),
                triplets=e.texts("triplets", []),
                modes=cast("tuple[RunMode, ...]", modes),
            )
        )
        e.done()
    data = TargetTests(
        default_tests=f.texts("default_tests"),
        single_process_unreliable=f.texts("single_process_unreliable", []),
        expected=tuple(expected),
    )
    f.done()
    return data


# ---------------------------------------------------------------- binfmt_misc


def binfmt_magic(target: Target) -> tuple[bytes, bytes]:
    """(magic, mask) matching the target's ELF executables and shared objects, as qemu's own rules do."""
    by_name = {name: number for number, name in MACHINES.items()}
    if target.elf_machine not in by_name:
        raise ConfigError(f"no ELF machine number known for {target.elf_machine}")
    order: Literal["little", "big"] = "little" if target.endianness == "little" else "big"
    ident = bytes([0x7F, 0x45, 0x4C, 0x46, 1 if target.elf_class == 32 else 2, 1 if order == "little" else 2, 1])
    magic = ident + bytes(9) + (2).to_bytes(2, order) + by_name[target.elf_machine].to_bytes(2, order)
    # Ignore EI_OSABI..padding, and the low bit of e_type so ET_DYN (3) matches like ET_EXEC (2).
    type_mask = b"\xfe\xff" if order == "little" else b"\xff\xfe"
    mask = b"\xff" * 7 + b"\x00" + b"\xff" * 8 + type_mask + b"\xff\xff"
    return magic, mask


def _escape(data: bytes) -> str:
    return "".join(f"\\x{b:02x}" for b in data)


def binfmt_rule(name: str, target: Target, interpreter: Path) -> str:
    magic, mask = binfmt_magic(target)
    return f":{name}:M::{_escape(magic)}:{_escape(mask)}:{interpreter}:"


def existing_rule(root: Path, target: Target) -> str | None:
    """The name of an enabled rule that already handles the target's ELF files, if any."""
    magic, mask = binfmt_magic(target)
    for entry in sorted(root.iterdir()) if root.is_dir() else []:
        if entry.name in ("register", "status"):
            continue
        try:
            text = entry.read_text()
        except OSError:
            continue
        lines = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
        if text.startswith("enabled") and lines.get("magic") == magic.hex() and lines.get("mask") == mask.hex():
            return entry.name
    return None


WRAPPER_C = r"""
/* crosspython binfmt_misc interpreter: run the target program under qemu-user with -L <RFS>.
 * A compiled exec, not a shell script: the child's environment passes through untouched (a shell
 * adds PWD and drops variables it cannot decode, which the subprocess tests notice).
 * Which qemu and which RFS are read from <this program>.conf (two lines), never compiled in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static int line(FILE *f, char *buf, size_t size) {
    if (!fgets(buf, (int)size, f)) return 0;
    size_t n = strlen(buf);
    if (n == 0 || buf[n - 1] != '\n') return 0;
    buf[n - 1] = '\0';
    return 1;
}
int main(int argc, char **argv) {
    static char self[4096], conf[4120], qemu[4096], rfs[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 127;
    self[n] = '\0';
    snprintf(conf, sizeof conf, "%s.conf", self);
    FILE *f = fopen(conf, "r");
    if (!f || !line(f, qemu, sizeof qemu) || !line(f, rfs, sizeof rfs)) return 127;
    fclose(f);
    char **args = calloc((size_t)argc + 3, sizeof *args);
    if (!args) return 127;
    args[0] = qemu; args[1] = "-L"; args[2] = rfs;
    for (int i = 1; i < argc; i++) args[i + 2] = argv[i];
    execv(qemu, args);
    return 127;
}
"""
# As root, the wrapper (which the kernel runs for every target program) lives where only root can
# write: /var/lib/crosspython, not in an artifacts directory that others might be able to change.
ROOT_WRAPPER_DIR = Path("/var/lib/crosspython/binfmt")


def wrapper_dir(fallback: Path) -> Path:
    return ROOT_WRAPPER_DIR if os.geteuid() == 0 else fallback


def write_wrapper(path: Path, qemu: str, rfs: Path, cc: str = "gcc") -> Path:
    """Compile the binfmt interpreter into `path` (once: its source names no path) and write its
    configuration, `path`.conf: the qemu to run and the RFS to give it."""
    for what, value in (("qemu", qemu), ("RFS", str(rfs))):
        if "\n" in value or "\0" in value:
            raise ConfigError(f"the {what} path {value!r} holds a newline: the binfmt wrapper cannot take it")
    for directory in reversed((path.parent, *path.parent.parents)):
        if directory.exists():
            continue
        directory.mkdir(mode=0o755)
    source = path.with_suffix(".c")
    if not (path.is_file() and source.is_file() and source.read_text() == WRAPPER_C):
        source.write_text(WRAPPER_C)
        done = subprocess.run([cc, "-O2", "-o", str(path), str(source)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ConfigError(f"could not build the binfmt wrapper: {done.stderr.strip()[:300]}")
        path.chmod(0o755)
    conf = path.with_name(path.name + ".conf")
    text = f"{qemu}\n{rfs}\n"
    if not conf.is_file() or conf.read_text() != text:
        tmp = conf.with_name(conf.name + ".tmp")
        tmp.write_text(text)
        tmp.chmod(0o644)
        os.replace(tmp, conf)
    return path


@dataclass
class Registration:
    """What `binfmt` did: the mode the suite runs in and why."""

    mode: RunMode
    rule: str | None = None  # the rule used (ours or the existing one)
    ours: bool = False
    note: str = ""


@contextmanager
def binfmt(
    target: Target, interpreter: Path, *, root: Path = BINFMT, name: str | None = None
) -> Iterator[Registration]:
    """Register `interpreter` for the target's ELF files for the duration of the block.

    Our rule is removed however the block ends (exception, Ctrl-C, SIGTERM); an existing rule is
    used and left alone; without the rights to register, the block runs in single-process mode.
    """
    name = name or f"crosspython-{target.qemu}-{os.getpid()}"
    mounted = False
    if not (root / "register").exists():
        if os.geteuid() != 0:
            yield Registration("single-process", note="binfmt_misc is not mounted and this user cannot mount it")
            return
        done = subprocess.run(
            ["mount", "-t", "binfmt_misc", "binfmt_misc", str(root)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            yield Registration("single-process", note=f"cannot mount binfmt_misc: {done.stderr.strip()}")
            return
        mounted = True
    try:
        stale = remove_stale_rules(root)
        found = existing_rule(root, target)
        if found:
            yield Registration("binfmt", rule=found, note=f"existing binfmt rule {found!r} used and left alone")
            return
        try:
            (root / "register").write_text(binfmt_rule(name, target, interpreter))
        except OSError as exc:
            yield Registration("single-process", note=f"cannot register a binfmt rule: {exc.strerror or exc}")
            return
        previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}

        def on_term(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt  # unwinds through the finally below

        for signum in previous:
            signal.signal(signum, on_term)
        note = f"binfmt rule {name!r} registered" + (f" (stale rules removed: {', '.join(stale)})" if stale else "")
        try:
            yield Registration("binfmt", rule=name, ours=True, note=note)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            remove_rule(root, name)
    finally:
        if mounted:
            subprocess.run(["umount", str(root)], capture_output=True, check=False)


def remove_stale_rules(root: Path) -> list[str]:
    """Remove the crosspython-*-<pid> rules of processes that are gone (killed with SIGKILL): a stale
    rule is never adopted, its wrapper's RFS may be long gone."""
    removed = []
    for entry in sorted(root.glob("crosspython-*")) if root.is_dir() else []:
        pid = entry.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or Path(f"/proc/{pid}").exists():
            continue
        remove_rule(root, entry.name)
        removed.append(entry.name)
    return removed


def remove_rule(root: Path, name: str) -> None:
    entry = root / name
    if entry.exists():
        entry.write_text("-1")


# ---------------------------------------------------------------- running and results


@dataclass(frozen=True, kw_only=True)
class Failure:
    test: str
    message: str
    expected_reason: str = ""


@dataclass(kw_only=True)
class Result:
    cell: str
    mode: RunMode
    note: str
    tests: list[str]
    run: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    expected_failures: int = 0
    duration_s: float = 0.0
    returncode: int = 0
    failures: list[Failure] = field(default_factory=list)
    unreliable: list[str] = field(default_factory=list)

    @property
    def real_failures(self) -> list[Failure]:
        return [f for f in self.failures if not f.expected_reason]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["real_failures"] = len(self.real_failures)
        return data


def regrtest_command(
    qemu: str,
    rfs: Path,
    interpreter: str,
    tests: list[str],
    *,
    mode: RunMode,
    jobs: int,
    junit: Path,
    timeout: int,
    extra: list[str],
) -> list[str]:
    parallel = [f"-j{jobs}"] if mode == "binfmt" else ["--single-process"]
    return [
        qemu,
        "-L",
        str(rfs),
        str(rfs / interpreter),
        "-m",
        "test",
        *parallel,
        "--junit-xml",
        str(junit),
        "--timeout",
        str(timeout),
        *extra,
        *tests,
    ]


def parse_junit(path: Path) -> tuple[int, int, list[tuple[str, str]]]:
    """(run, skipped, [(test id, message) of failures and errors]) from regrtest's JUnit XML."""
    root = ET.parse(path).getroot()
    run = skipped = 0
    failures: list[tuple[str, str]] = []
    for case in root.iter("testcase"):
        run += 1
        for child in case:
            if child.tag == "skipped":
                skipped += 1
            elif child.tag in ("failure", "error"):
                message = (child.get("message") or child.text or "").strip().splitlines()
                failures.append((str(case.get("name")), message[0][:200] if message else child.tag))
    return run, skipped, failures


def classify(cell: Cell, mode: RunMode, data: TargetTests, failures: list[tuple[str, str]]) -> list[Failure]:
    rules = [e for e in data.expected if e.applies(cell, mode)]
    out = []
    for test, message in failures:
        reason = next((e.reason for e in rules if fnmatch.fnmatchcase(test, e.test)), "")
        out.append(Failure(test=test, message=message, expected_reason=reason))
    return out


def summary(result: Result) -> str:
    head = (
        f"    {result.cell}: {result.run} tests, {result.passed} passed, {len(result.real_failures)} failed, "
        f"{result.expected_failures} expected failures, {result.skipped} skipped in {result.duration_s:.0f}s "
        f"({result.mode})"
    )
    lines = [head]
    for f in result.real_failures:
        lines.append(f"      FAILED  {f.test}: {f.message[:120]}")
    # Expected failures are counted per reason here; each test is listed in the JSON record.
    by_reason: dict[str, int] = {}
    for f in result.failures:
        if f.expected_reason:
            by_reason[f.expected_reason] = by_reason.get(f.expected_reason, 0) + 1
    for reason, count in by_reason.items():
        lines.append(f"      expected x{count}: {reason}")
    if result.unreliable:
        lines.append(
            "    single-process mode: these tests start child interpreters and cannot pass here, "
            f"so their results are unreliable: {', '.join(result.unreliable)}"
        )
    return "\n".join(lines)


def test_overlay(rfs: Path, stage: Path, overlay: Path, short: str, profile: Profile | None) -> Path | None:
    """A directory of links to the stage's test suite (the `test` package and the C test helpers),
    for PYTHONPATH, when the RFS's install profile left them out; None when the RFS has them.

    The RFS is never written: the tests come from the stage for the run only.
    """
    if "test" in modules_in(rfs, short):
        return None
    if profile is None:
        raise ConfigError(
            f"the RFS {rfs} has no test suite (usr/lib/python{short}/test) and no install record says why",
            hint="install the cell into it with `invoke install --profile full` (or standard), then run test-target",
        )
    if profile.by_closure:
        raise ConfigError(
            f"profile {profile.name} keeps only its module list's imports: CPython's test suite needs much that it "
            "leaves out (unittest, ...)",
            hint="install `--profile standard` (or full) into a copy of the RFS for test-target (`--rfs COPY`)",
        )
    remove_tree(overlay)
    overlay.mkdir(parents=True)
    (overlay / "test").symlink_to(stage / pythontree.stdlib(short) / "test")
    for ext in sorted((stage / pythontree.lib_dynload(short)).glob("*.so")):
        name = pythontree.module_name(ext)
        if is_test(name) and module_dropped(name, profile):
            (overlay / ext.name).symlink_to(ext)
    return overlay


def collect_result(
    cell: Cell,
    registration: Registration,
    data: TargetTests,
    *,
    names: list[str],
    junit: Path,
    returncode: int,
    duration_s: float,
) -> Result:
    """The run's Result from regrtest's JUnit XML: counts, failures classified, unreliable tests named."""
    run, skipped, failures = parse_junit(junit)
    classified = classify(cell, registration.mode, data, failures)
    real = [f for f in classified if not f.expected_reason]
    unreliable = []
    if registration.mode == "single-process":
        unreliable = [t for t in data.single_process_unreliable if not names or t in names]
    return Result(
        cell=cell.id,
        mode=registration.mode,
        note=registration.note,
        tests=names or ["all"],
        run=run,
        passed=run - skipped - len(failures),
        failed=len(real),
        skipped=skipped,
        expected_failures=len(classified) - len(real),
        duration_s=round(duration_s, 1),
        returncode=returncode,
        failures=classified,
        unreliable=unreliable,
    )


def write_result(result: Result, path: Path) -> None:
    write_json_atomic(path, result.to_json())
