"""The board-ready tree of an install profile: what `install` merges into the RFS.

From the cell's stage (never rebuilt), per profile: the entries the profile keeps are copied into
artifacts/board/<cell>/<profile>/tree/; ELF files are stripped with the target's
`strip --strip-unneeded` after their debug information went to artifacts/debug/<cell>/ as .debug
files, linked with --add-gnu-debuglink (gdb on the build host finds them); the stdlib is compiled
by the build interpreter into one .pyc per module (unchecked-hash, PEP 552, where the version has
it), with or without its sources, or zipped. The tree is stamped with its inputs: a rerun with
the same stage, profile and application does nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..core import pythontree
from ..core.elf import read_header
from ..core.errors import BuildIncomplete
from ..core.files import remove_tree, write_json_atomic
from ..core.layout import Layout
from ..core.runner import Runner, Step
from ..core.stamps import Stamp, cached_step, fingerprint
from ..matrix import Profile, Version
from ..rfs.merge import Entry, staged_entries
from .closure import Closure, app_fingerprint, run_closure
from .profile import CATEGORIES, Category, Dropped, category, select, stdlib_file
from .stage import InstallPlan


@dataclass(frozen=True, kw_only=True)
class BoardPlan:
    install: InstallPlan
    profile: Profile
    directory: Path  # artifacts/board/<cell>/<profile>[-app-<hash>]/
    debug_dir: Path  # artifacts/debug/<cell>/
    build_python: Path  # the native interpreter: compiles the pyc, computes the closure
    strip: str
    objcopy: str
    app: Path | None
    inputs: dict[str, Any]

    @property
    def tree(self) -> Path:
        return self.directory / "tree"

    @property
    def report_path(self) -> Path:
        return self.directory / "report.json"

    @property
    def version(self) -> Version:
        return self.install.cross.cell.version


def plan_board(
    install: InstallPlan,
    profile: Profile,
    *,
    layout: Layout,
    build_python: Path,
    strip: str,
    objcopy: str,
    app: Path | None = None,
) -> BoardPlan:
    cell = install.cross.cell
    app_files = app_fingerprint(app)
    key = profile.name + (f"-app-{fingerprint(app_files)[:8]}" if app is not None else "")
    inputs = {
        "stage": fingerprint(install.record.to_inputs()),
        "profile": asdict(profile),
        "app": app_files,
        "strip": strip,
        "objcopy": objcopy,
    }
    return BoardPlan(
        install=install,
        profile=profile,
        directory=layout.board_dir(cell, key),
        debug_dir=layout.debug_dir(cell),
        build_python=build_python,
        strip=strip,
        objcopy=objcopy,
        app=app,
        inputs=inputs,
    )


@dataclass
class BoardReport:
    """What a profile left out and added, for `install`'s summary and the manifest."""

    profile: str
    kept_files: int = 0
    kept_bytes: int = 0
    dropped: dict[str, list[int]] = field(default_factory=dict)  # category -> [files, bytes]
    closure_size: int = 0
    closure_extensions: dict[str, str] = field(default_factory=dict)  # extension module -> importer
    closure_absent: list[str] = field(default_factory=list)  # modules of the list this stdlib lacks
    app_modules: list[str] = field(default_factory=list)
    sources_compiled: int = 0
    debug_files: int = 0

    def lines(self) -> list[str]:
        out = [f"profile {self.profile}: {self.kept_files} files, {self.kept_bytes / 1e6:.2f} MB"]
        if self.dropped:
            parts = [f"{cat} {n} files {b / 1e6:.2f} MB" for cat, (n, b) in sorted(self.dropped.items())]
            out.append("left out: " + "; ".join(parts))
        if self.closure_size:
            out.append(
                f"import closure: {self.closure_size} modules; extension modules it needs (imported by): "
                + ", ".join(f"{m} ({why or 'the list'})" for m, why in sorted(self.closure_extensions.items()))
            )
        if self.closure_absent:
            out.append(f"not in this version's stdlib, so not in the closure: {', '.join(self.closure_absent)}")
        if self.app_modules:
            out.append(f"application modules seen: {', '.join(self.app_modules)}")
        if self.debug_files:
            out.append(f"{self.debug_files} ELF files stripped; debug information kept in .debug files on this host")
        return out


def read_report(path: Path) -> BoardReport | None:
    try:
        return BoardReport(**json.loads(path.read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def run_board(plan: BoardPlan, runner: Runner, layout: Layout) -> tuple[BoardReport, bool]:
    """Make (or reuse) the profile's tree; returns what it kept and left out, and whether it was made now
    (its step then printed the report)."""
    scope = plan.install.cross.cell.id
    name = f"board {plan.directory.name}"

    def build() -> bool:
        with runner.step(scope, f"board-{plan.directory.name}") as step:
            report = _build(plan, step)
            write_json_atomic(plan.report_path, asdict(report))
            for line in report.lines():
                step.note(line)
        return True

    made = cached_step(
        Stamp(plan.directory),
        plan.inputs,
        build,
        lock=layout.lock(f"board-{scope}"),
        holder=f"the board trees of {scope}",
        skip=lambda why: runner.skip(scope, name, why),
        reason=f"{plan.tree} made from the same stage and profile",
        fresh=plan.tree.is_dir,
    )
    report = read_report(plan.report_path)
    if report is None:
        raise BuildIncomplete(f"{plan.report_path} is missing or damaged", hint=f"remove {plan.directory} and rerun")
    return report, bool(made)


def _build(plan: BoardPlan, step: Step) -> BoardReport:
    version = plan.version
    short = version.short
    stage = plan.install.stage
    closure = _closure(plan, step) if plan.profile.by_closure else None
    selection = select(staged_entries(stage), plan.profile, short, closure=closure.names if closure else None)
    report = BoardReport(profile=plan.profile.name)
    _count_dropped(report, selection.dropped, stage)
    if closure is not None:
        report.closure_size = len(closure.modules)
        report.closure_extensions = {m: closure.modules[m] for m in closure.extensions}
        report.app_modules = list(closure.app_modules)
        report.closure_absent = list(closure.absent)
        write_json_atomic(plan.directory / "closure.json", closure.modules)
    remove_tree(plan.tree)
    _copy(stage, plan.tree, selection.kept)
    if plan.profile.strip:
        report.debug_files = _strip(plan, step)
    if plan.profile.stdlib in ("pyc", "zip"):
        report.sources_compiled = _compile(plan, step)
    if plan.profile.stdlib == "zip":
        _zip(plan, step)
    files = [p for p in _files(plan.tree)]
    report.kept_files = len(files)
    report.kept_bytes = sum(p.stat().st_size for p in files)
    return report


def _closure(plan: BoardPlan, step: Step) -> Closure:
    profile = plan.profile
    closure = run_closure(
        step,
        plan.build_python,
        plan.install.stage,
        plan.version.short,
        list(profile.modules),
        [name for name, _ in profile.closure_excludes],
        plan.app,
    )
    step.note(f"import closure of {len(profile.modules)} modules: {len(closure.modules)} modules")
    return closure


def _count_dropped(report: BoardReport, dropped: tuple[Dropped, ...], stage: Path) -> None:
    for d in dropped:
        path = stage / d.path
        size = 0 if path.is_symlink() else path.stat().st_size
        counts = report.dropped.setdefault(d.category, [0, 0])
        counts[0] += 1
        counts[1] += size


def _copy(stage: Path, tree: Path, kept: tuple[Entry, ...]) -> None:
    tree.mkdir(parents=True)
    for rel, kind in kept:
        src, dest = stage / rel, tree / rel
        if kind == "dir":
            dest.mkdir(exist_ok=True)
        elif kind == "link":
            dest.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, dest)


def _files(root: Path) -> Iterator[Path]:
    for dirpath, _, filenames in os.walk(root):
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if not path.is_symlink():
                yield path


# For each (ELF file, .debug file) pair: keep the debug information, strip, link the two.
_STRIP_SCRIPT = """
objcopy=$1 strip=$2; shift 2
while [ "$#" -gt 0 ]; do
    "$objcopy" --only-keep-debug "$1" "$2"
    "$strip" --strip-unneeded "$1"
    (cd "$(dirname "$2")" && "$objcopy" --add-gnu-debuglink="$(basename "$2")" "$1")
    shift 2
done
"""


def _strip(plan: BoardPlan, step: Step) -> int:
    return strip_elf_files(plan.tree, plan.debug_dir, objcopy=plan.objcopy, strip=plan.strip, step=step)


def strip_elf_files(tree: Path, debug_dir: Path, *, objcopy: str, strip: str, step: Step) -> int:
    """Strip every ELF file of `tree`; its debug information goes to a .debug file linked back by
    gnu-debuglink. Returns how many were stripped.

    The .debug files mirror the RFS's paths (artifacts/debug/<cell>/usr/bin/python3.13.debug): gdb
    on the build host finds them with `set debug-file-directory artifacts/debug/<cell>`.
    """
    pairs: list[str] = []
    for path in _files(tree):
        if read_header(path) is None:
            continue
        debug = debug_dir / (str(path.relative_to(tree)) + ".debug")
        debug.parent.mkdir(parents=True, exist_ok=True)
        pairs += [str(path), str(debug)]
    if pairs:
        # One shell for all files: objcopy takes one file per run.
        step.run(["sh", "-ec", _STRIP_SCRIPT, "sh", objcopy, strip, *pairs])
    return len(pairs) // 2


def _compile(plan: BoardPlan, step: Step) -> int:
    """One .pyc per module, compiled by the build interpreter with the target's paths in it."""
    version = plan.version
    stdlib = plan.tree / pythontree.stdlib(version.short)
    # The staged byte-code (three optimisation levels, timestamp-checked) is replaced.
    for cache in list(stdlib.rglob("__pycache__")):
        remove_tree(cache)
    for old in list(stdlib.rglob("*.py[co]")):
        old.unlink()
    sources = [p for p in stdlib.rglob("*.py") if not p.is_symlink()]
    legacy = not plan.profile.sources or plan.profile.stdlib == "zip"
    step.run(_compile_command(plan, stdlib, legacy=legacy), hint="a stdlib file the profile keeps does not compile")
    if legacy and not plan.profile.sources:
        for source in sources:
            compiled = source.with_suffix(".pyc")
            if not compiled.is_file():
                raise BuildIncomplete(f"{source} was not compiled", hint=f"see {step.log}")
            source.unlink()
    return len(sources)


def _compile_command(plan: BoardPlan, stdlib: Path, *, legacy: bool) -> list[str]:
    short = plan.version.short
    python = str(plan.build_python)
    if plan.version.pyc == "timestamp":
        # 2.7: no PEP 552 and no __pycache__; foo.pyc beside foo.py, stamped with its mtime (which the
        # copy keeps). Without the source the board never checks it; with it, the stamp matches.
        return [python, "-E", "-m", "compileall", "-q", "-d", "/" + pythontree.stdlib(short), str(stdlib)]
    command = [python, "-E", "-m", "compileall", "-q", "-j", "0", "-o", "0"]
    # unchecked-hash: the board never stats the source nor rewrites the pyc (read-only root, no RTC).
    command += ["--invalidation-mode", "unchecked-hash", "-s", str(plan.tree), "-p", "/"]
    if legacy:
        command.append("-b")
    return [*command, str(stdlib)]


def _zip(plan: BoardPlan, step: Step) -> None:
    """The compiled stdlib into usr/lib/python<XY>.zip; lib-dynload (and the version's landmarks) stay."""
    version = plan.version
    stdlib = plan.tree / pythontree.stdlib(version.short)
    archive = plan.tree / pythontree.stdlib_zip(version.short)
    keep_beside = set(version.zip_landmarks)
    count = 0
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in sorted(_files(stdlib)):
            rel = path.relative_to(stdlib)
            if rel.parts[0] in ("lib-dynload", "site-packages"):
                continue
            if path.suffix == ".pyc":
                # A fixed date: the zip's bytes depend on the sources only.
                info = zipfile.ZipInfo(str(rel), date_time=(2000, 1, 1, 0, 0, 0))
                found = stdlib_file(f"{pythontree.stdlib(version.short)}/{rel}", version.short)
                stored = found is not None and found.module in plan.profile.zip_stored
                # What every start-up imports is stored: reading it then needs no zlib (a .so to load).
                info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, path.read_bytes(), compresslevel=None if stored else 9)
                count += 1
            if str(rel) not in keep_beside:
                path.unlink()
    for dirpath, dirnames, filenames in os.walk(stdlib, topdown=False):
        if not dirnames and not filenames and Path(dirpath) != stdlib:
            Path(dirpath).rmdir()
    step.note(f"{count} modules in {archive.name} ({archive.stat().st_size / 1e6:.2f} MB)")


def footprint(tree: Path, short: str) -> dict[Category, list[int]]:
    """Files and bytes per category of a board tree (or any installed tree)."""
    out: dict[Category, list[int]] = {c: [0, 0] for c in CATEGORIES}
    for path in _files(tree):
        rel = str(path.relative_to(tree))
        if rel.startswith(".crosspython-"):
            continue
        row = out[category(rel, short, is_elf=read_header(path) is not None)]
        row[0] += 1
        row[1] += path.stat().st_size
    return out
