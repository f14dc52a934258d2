"""Step 5 of the recipe, without sudo: `make install` into a staging directory, check, then merge.

The stage (artifacts/stage/<cell>/) is kept and stamped: `sizes` measures it, and a later
install into another RFS reuses it. The RFS is not written until the staged tree is complete and checked (right ELF machine, the
required modules present) and a dry run of the merge found nothing in the way (a file where a
directory must go, a directory we cannot write). A manifest of what was installed, with the
inputs that made it, goes next to the cell's logs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..build.cross import CrossPlan
from ..core.elf import mismatch, read_header
from ..core.errors import BuildIncomplete, ConfigError
from ..core.layout import Layout, Stamp, file_lock, fingerprint, remove_tree, write_json_atomic
from ..core.runner import Runner, Step


@dataclass(frozen=True, kw_only=True)
class InstallPlan:
    cross: CrossPlan
    stage: Path
    rfs: Path
    manifest: Path
    make: tuple[str, ...]
    inputs: dict[str, Any]

    @property
    def interpreter(self) -> str:
        """The interpreter's path inside the RFS."""
        return f"usr/bin/python{self.cross.cell.version.short}"


def plan_install(cross: CrossPlan, *, layout: Layout, rfs: Path, toolchain: str, toolchain_version: str) -> InstallPlan:
    stage = layout.stage_dir(cross.cell)
    cell = cross.cell
    inputs = {
        "cell": cell.id,
        "python": cell.version.full,
        "sha256": cell.version.sha256,
        "triplet": cell.target.triplet,
        "variant": cell.variant.name,
        "cflags": list(cell.variant.cflags),
        "ldflags": list(cell.variant.ldflags),
        "configure": list(cross.inputs["configure"]),
        "toolchain": toolchain,
        "toolchain_version": toolchain_version,
        "rfs": str(rfs),
        "build": fingerprint(cross.inputs),
    }
    return InstallPlan(
        cross=cross,
        stage=stage,
        rfs=rfs,
        manifest=layout.manifest(cell),
        make=("make", "install", f"DESTDIR={stage}"),
        inputs=inputs,
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def staged_entries(stage: Path) -> list[tuple[str, str]]:
    """(relative path, kind) for everything staged, parents before children; kind: dir|file|link."""
    entries: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(stage):
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted(dirnames + filenames):
            if name.startswith(".crosspython-"):
                continue  # our stamp, not part of the install
            path = base / name
            rel = str(path.relative_to(stage))
            kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
            entries.append((rel, kind))
        # os.walk does not descend into symlinked directories: they stay links.
        dirnames[:] = [d for d in dirnames if not (base / d).is_symlink()]
    return entries


def check_stage(plan: InstallPlan) -> list[str]:
    """Validate the staged product; returns the checked ELF files' relative paths."""
    target = plan.cross.cell.target
    interpreter = plan.stage / plan.interpreter
    if not interpreter.is_file():
        raise BuildIncomplete(f"`make install` staged no interpreter at {plan.interpreter}")
    elves: list[str] = []
    wrong: list[str] = []
    for rel, kind in staged_entries(plan.stage):
        if kind != "file":
            continue
        header = read_header(plan.stage / rel)
        if header is None:
            continue
        elves.append(rel)
        problem = mismatch(header, machine=target.elf_machine, elf_class=target.elf_class, endianness=target.endianness)
        if problem:
            wrong.append(f"{rel}: {problem}")
    if wrong:
        raise BuildIncomplete(
            f"{len(wrong)} staged ELF file(s) are not for {target.triplet}:\n  " + "\n  ".join(wrong[:20]),
            hint="a host binary leaked into the install; check the tool-chain (CC) in the configure log",
        )
    dynload = plan.stage / "usr" / "lib" / f"python{plan.cross.cell.version.short}" / "lib-dynload"
    present = {p.name.split(".", 1)[0] for p in dynload.glob("*.so")}
    missing = [m for m in plan.cross.cell.version.required_modules if m not in present]
    if missing:
        raise BuildIncomplete(f"staged lib-dynload lacks required module(s): {', '.join(missing)}")
    return elves


def merge_problems(stage: Path, rfs: Path, entries: list[tuple[str, str]]) -> list[str]:
    """A dry run of the merge: what would stop it, found before anything is written."""
    problems: list[str] = []
    if not os.access(rfs, os.W_OK | os.X_OK):
        return [f"{rfs} is not writable by this user (crosspython never uses sudo)"]
    for rel, kind in entries:
        dest = rfs / rel
        exists = dest.is_symlink() or dest.exists()
        if not exists:
            continue
        if kind == "dir" and not dest.is_dir():
            problems.append(f"{dest} is a file, but a directory must be installed there")
        elif kind == "dir" and not os.access(dest, os.W_OK | os.X_OK):
            problems.append(f"{dest} is not writable by this user")
        elif kind != "dir" and dest.is_dir() and not dest.is_symlink():
            problems.append(f"{dest} is a directory, but a {kind} must be installed there")
    return problems


def merge(stage: Path, rfs: Path, entries: list[tuple[str, str]]) -> None:
    """Copy the staged tree into the RFS; each file lands by an atomic rename."""
    for rel, kind in entries:
        src = stage / rel
        dest = rfs / rel
        if kind == "dir":
            dest.mkdir(exist_ok=True)
            shutil.copystat(src, dest)
            continue
        tmp = dest.with_name(f".{dest.name}.crosspython-tmp")
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        if kind == "link":
            tmp.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, tmp)
        os.replace(tmp, dest)


def installed_matches(plan: InstallPlan) -> bool:
    """True when the manifest says these inputs were installed into this RFS and the files are there."""
    try:
        data = json.loads(plan.manifest.read_text())
    except (FileNotFoundError, ValueError):
        return False
    if data.get("inputs") != plan.inputs:
        return False
    for entry in data.get("files", []):
        dest = plan.rfs / entry["path"]
        if entry["kind"] == "file" and (not dest.is_file() or dest.stat().st_size != entry["size"]):
            return False
        if entry["kind"] == "link" and not dest.is_symlink():
            return False
    return True


def stage_inputs(plan: InstallPlan) -> dict[str, Any]:
    """What the staged tree depends on: everything but the RFS it is merged into."""
    return {k: v for k, v in plan.inputs.items() if k != "rfs"}


def run_stage(plan: InstallPlan, runner: Runner, layout: Layout) -> Path:
    """`make install` into the cell's stage directory and check it; kept while the build is unchanged.

    The stage is what `install` merges into an RFS and what `sizes` measures.
    """
    scope = plan.cross.cell.id
    if not Stamp(plan.cross.build_dir).matches(plan.cross.inputs):
        raise ConfigError(f"{scope} is not built (or its inputs changed)", hint="run `invoke cross` first")
    stamp = Stamp(plan.stage)
    if stamp.matches(stage_inputs(plan)):
        runner.skip(scope, "stage", f"{plan.stage} staged from the same build")
        return plan.stage
    with file_lock(layout.lock(f"cross-{scope}"), f"the {scope} build directory"), runner.step(scope, "stage") as step:
        remove_tree(plan.stage)
        plan.stage.mkdir(parents=True)
        step.run(plan.make, cwd=plan.cross.build_dir, env=plan.cross.env_dict)
        elves = check_stage(plan)
        step.note(f"staged in {plan.stage}: {len(elves)} ELF files, all {plan.cross.cell.target.elf_machine}")
        stamp.write(stage_inputs(plan))
    return plan.stage


def run_install(plan: InstallPlan, runner: Runner, layout: Layout) -> Path:
    """Install the cell into the RFS (or see that it already is); returns the manifest's path."""
    scope = plan.cross.cell.id
    if not Stamp(plan.cross.build_dir).matches(plan.cross.inputs):
        raise ConfigError(f"{scope} is not built (or its inputs changed)", hint="run `invoke cross` first")
    if installed_matches(plan):
        runner.skip(scope, "install", f"manifest {plan.manifest} matches what is in {plan.rfs}")
        return plan.manifest
    run_stage(plan, runner, layout)
    with (
        file_lock(layout.lock("rfs-" + fingerprint({"rfs": str(plan.rfs)})), f"the RFS {plan.rfs}"),
        runner.step(scope, "install") as step,
    ):
        entries = staged_entries(plan.stage)
        problems = merge_problems(plan.stage, plan.rfs, entries)
        if problems:
            raise ConfigError(
                f"cannot install into {plan.rfs}; nothing was written:\n  " + "\n  ".join(problems[:20]),
                hint="make the RFS writable by this user (e.g. chown it), or pass another --rfs",
            )
        files = _manifest_files(plan.stage, entries)
        merge(plan.stage, plan.rfs, entries)
        _write_manifest(plan, files, step)
    return plan.manifest


def _manifest_files(stage: Path, entries: list[tuple[str, str]]) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = []
    for rel, kind in entries:
        if kind == "file":
            path = stage / rel
            files.append({"path": rel, "kind": kind, "size": path.stat().st_size, "sha256": _sha256(path)})
        elif kind == "link":
            files.append({"path": rel, "kind": kind, "target": os.readlink(stage / rel)})
    return files


def _write_manifest(plan: InstallPlan, files: list[dict[str, Any]], step: Step) -> None:
    total = sum(f.get("size", 0) for f in files)
    write_json_atomic(
        plan.manifest,
        {"inputs": plan.inputs, "interpreter": plan.interpreter, "total_bytes": total, "files": files},
    )
    step.note(f"installed {len(files)} files ({total / 1e6:.1f} MB) into {plan.rfs}; manifest: {plan.manifest}")
