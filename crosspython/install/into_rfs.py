"""Install a cell into an RFS: its profile's board-ready tree, checked first, merged without sudo,
recorded in a manifest.

The RFS is not written until the staged tree is complete and checked (right ELF machine, the
required modules present), the profile's tree is made, and a dry run of the merge found nothing
in the way (a file where a directory must go, a directory we cannot write). Installing another
profile into the same RFS removes what the previous install of the cell put there and the new
one does not, and only that: a file changed since, or never ours, is left alone.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..build.cross import cross_lock
from ..core.errors import ConfigError, HostProblem
from ..core.layout import Layout
from ..core.locks import file_lock
from ..core.runner import Runner, Step
from ..core.stamps import fingerprint
from ..rfs.confine import RfsEscape, inside
from ..rfs.merge import Entry, clean_leftovers, merge, merge_problems, remove, space_needed, staged_entries
from .board import BoardPlan, BoardReport, run_board
from .manifest import Manifest, ManifestFile, files_of, read_manifest, write_manifest
from .stage import InstallPlan, require_built, run_stage


def install_inputs(board: BoardPlan) -> dict[str, Any]:
    """What an install into an RFS is made from: the stage, the RFS, the profile's tree."""
    return board.install.inputs | {"profile": board.profile.name, "board": fingerprint(board.inputs)}


def journal_of(manifest: Path) -> Path:
    """The manifest of an install under way: written before its first file lands, removed when it is done."""
    return manifest.with_name(manifest.stem + ".in-progress.json")


def installed_matches(board: BoardPlan) -> bool:
    """True when the manifest says these inputs were installed into this RFS and the files are there,
    and no install of the cell into it was interrupted since (its journal is left)."""
    manifest = read_manifest(board.install.manifest)
    return (
        manifest is not None
        and manifest.inputs == install_inputs(board)
        and not journal_of(board.install.manifest).exists()
        and manifest.present_in(board.install.rfs)
    )


def run_install(board: BoardPlan, runner: Runner, layout: Layout) -> Path:
    """Install the cell's profile into the RFS (or see that it already is); returns the manifest's path."""
    plan = board.install
    require_built(plan)
    scope = plan.cross.cell.id
    if installed_matches(board):
        runner.skip(
            scope, "install", f"manifest {plan.manifest} matches what is in {plan.rfs} (profile {board.profile.name})"
        )
        return plan.manifest
    # One lock of the cell across stage, board and merge: a `stage` of the same cell waits.
    with file_lock(cross_lock(layout, plan.cross.cell), f"the {scope} build directory"):
        _install(board, runner, layout)
    return plan.manifest


def _install(board: BoardPlan, runner: Runner, layout: Layout) -> None:
    plan = board.install
    scope = plan.cross.cell.id
    run_stage(plan, runner, layout)
    report, made = run_board(board, runner, layout)
    with (
        file_lock(layout.lock("rfs-" + fingerprint({"rfs": str(plan.rfs)})), f"the RFS {plan.rfs}"),
        runner.step(scope, "install") as step,
    ):
        entries = staged_entries(board.tree)
        require_mergeable(
            plan.rfs,
            [(board.tree, entries)],
            what=f"profile {board.profile.name}",
            smaller="install a smaller profile (--profile minimal)",
        )
        manifest = Manifest(
            inputs=install_inputs(board),
            interpreter=plan.interpreter,
            files=files_of(board.tree, entries),
            profile=board.profile.name,
            left_out=report.dropped,
        )
        previous = _previous_installs(plan.manifest, layout.legacy_manifest(plan.cross.cell), plan)
        # The journal: what this install is about to put there, written before the first file lands.
        # An interrupted merge leaves it, and the next install counts its files as ours to replace
        # or remove (the previous manifest stays until this one is complete).
        journal = journal_of(plan.manifest)
        write_manifest(journal, manifest)
        cleaned = clean_leftovers(plan.rfs, entries)
        if cleaned:
            step.note(f"removed {cleaned} temporary files an interrupted install had left")
        merge(board.tree, plan.rfs, entries)
        _remove_stale([m for _, m in previous], manifest, plan.rfs, step)
        write_manifest(plan.manifest, manifest)
        for path, _ in previous:
            if path != plan.manifest:
                path.unlink(missing_ok=True)  # superseded: this install owns the interpreter's files now
        journal.unlink(missing_ok=True)
        _summary(step, report if not made else None, manifest, plan.rfs, plan.manifest)


def require_mergeable(rfs: Path, trees: list[tuple[Path, list[Entry]]], *, what: str, smaller: str) -> None:
    """Before the first file of `what` lands in `rfs`: a dry run of each tree's merge found nothing in
    the way, and the file system has room for all of them (a full disk half-way through would leave
    a mix)."""
    problems = [p for tree, entries in trees for p in merge_problems(tree, rfs, entries)]
    if problems:
        raise ConfigError(
            f"cannot install {what} into {rfs}; nothing was written:\n  " + "\n  ".join(problems[:20]),
            hint="make the RFS writable by this user (e.g. chown it), or pass another --rfs",
        )
    needed, free = sum(space_needed(tree, rfs, entries) for tree, entries in trees), shutil.disk_usage(rfs).free
    if needed > free:
        raise HostProblem(
            f"not enough space in {rfs} for {what}: it needs {needed / 1e6:.1f} MB more, "
            f"{free / 1e6:.1f} MB are free; nothing was written",
            hint=f"make room on the board's file system, or {smaller}",
        )


@dataclass(frozen=True)
class Removal:
    """What `remove_installed` did: the files and links removed, the directories that emptied, and the
    paths left alone (changed since their install, or now behind a link that leaves the RFS)."""

    removed: list[Path]
    emptied: int
    changed: list[str]


def remove_installed(rfs: Path, paths: list[str], unchanged: Callable[[str], bool]) -> Removal:
    """Remove from `rfs` each installed file or link of `paths` that `unchanged` says is still as its
    install left it (never what a link points to), then the directories that empties."""
    removed: list[Path] = []
    changed: list[str] = []
    for rel in paths:
        try:
            path = inside(rfs, rel)
        except RfsEscape:
            changed.append(rel)  # not ours to follow
            continue
        if not (path.exists() or path.is_symlink()):
            continue
        if unchanged(rel):
            removed.append(remove(rfs, rel))
        else:
            changed.append(rel)
    emptied = 0
    root = Path(os.path.realpath(rfs))
    for parent in sorted({p.parent for p in removed}, key=lambda p: len(p.parts), reverse=True):
        while parent != root and root in parent.parents and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            emptied += 1
            parent = parent.parent
    return Removal(removed=removed, emptied=emptied, changed=changed)


def _previous_installs(current: Path, legacy: Path, plan: InstallPlan) -> list[tuple[Path, Manifest]]:
    """The manifests of earlier installs of this interpreter (this cell, or another variant of the same
    version) into this RFS, and the one crosspython wrote before install profiles."""
    found = []
    for path in [*sorted(current.parent.glob("*.json")), legacy]:
        manifest = read_manifest(path)
        if (
            manifest is not None
            and manifest.inputs.get("rfs") == str(plan.rfs)
            and manifest.interpreter == plan.interpreter
        ):
            found.append((path, manifest))
    return found


def _remove_stale(previous: list[Manifest], current: Manifest, rfs: Path, step: Step) -> None:
    """Remove what earlier installs of this interpreter put into `rfs` and this one does not.

    Only files and links that are still as one of those installs left them: a file changed since
    (or someone else's) is left alone and named. Directories that this empties go too.
    """
    wanted = {f.path for f in current.files}
    records: dict[str, list[tuple[Manifest, ManifestFile]]] = {}
    for m in previous:
        for e in m.files:
            records.setdefault(e.path, []).append((m, e))
    done = remove_installed(
        rfs,
        sorted(set(records) - wanted),
        lambda rel: any(m.still_installed(rfs, e) for m, e in records[rel]),
    )
    removed, emptied, changed = done.removed, done.emptied, done.changed
    if removed or changed:
        profiles = ", ".join(sorted({m.profile or "as staged" for m in previous}))
        step.note(
            f"removed {len(removed)} files of the previous install (profile {profiles}) "
            f"that profile {current.profile} leaves out"
            + (f", and {emptied} directories they emptied" if emptied else "")
        )
    if changed:
        step.note(
            f"left alone, changed since that install: {', '.join(changed[:10])}" + (" ..." if len(changed) > 10 else "")
        )


def _summary(step: Step, report: BoardReport | None, manifest: Manifest, rfs: Path, path: Path) -> None:
    """What was installed; the profile's report too, unless its board step printed it just now."""
    for line in report.lines() if report else []:
        step.note(line)
    step.note(
        f"installed {len(manifest.files)} files ({manifest.total_bytes / 1e6:.1f} MB) into {rfs}; manifest: {path}"
    )
