"""Step 5 of the recipe, without sudo: `make install` into a staging directory, checked.

The stage (artifacts/stage/<cell>/) is kept and stamped: `sizes` measures it, and an install into
any RFS merges it (crosspython/install/into_rfs.py). Its stamp's inputs are a StageRecord, the
one typed description of a stage that every reader uses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..build.cross import CrossPlan, cross_lock
from ..core import pythontree
from ..core.elf import mismatch, read_header
from ..core.errors import BuildIncomplete, ConfigError
from ..core.files import remove_tree
from ..core.layout import Layout
from ..core.runner import Runner
from ..core.stamps import Stamp, cached_step, fingerprint
from ..rfs.merge import staged_entries


@dataclass(frozen=True, kw_only=True)
class StageRecord:
    """What a stage was made from (its stamp's inputs): the cell, its flags and its tool-chain."""

    cell: str
    python: str  # the full release, 3.13.5
    sha256: str
    triplet: str
    variant: str
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]
    configure: tuple[str, ...]
    toolchain: str  # the cross gcc
    toolchain_version: str
    strip: str  # the tool-chain's strip, for `sizes` and install-time stripping
    build: str  # the fingerprint of the cross build's inputs

    def to_inputs(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_inputs(cls, inputs: dict[str, Any]) -> StageRecord | None:
        """The record of a stamp's inputs; None for a stamp written by another kind of step."""
        try:
            return cls(
                cell=str(inputs["cell"]),
                python=str(inputs["python"]),
                sha256=str(inputs["sha256"]),
                triplet=str(inputs["triplet"]),
                variant=str(inputs["variant"]),
                cflags=tuple(inputs["cflags"]),
                ldflags=tuple(inputs["ldflags"]),
                configure=tuple(inputs["configure"]),
                toolchain=str(inputs["toolchain"]),
                toolchain_version=str(inputs["toolchain_version"]),
                strip=str(inputs["strip"]),
                build=str(inputs["build"]),
            )
        except (KeyError, TypeError):
            return None


def read_stage_record(stage: Path) -> StageRecord | None:
    """The record of a complete stage, or None (no stamp, an interrupted stage, another step's stamp)."""
    stamp = Stamp(stage).read()
    return StageRecord.from_inputs(stamp.inputs) if stamp else None


@dataclass(frozen=True, kw_only=True)
class InstallPlan:
    cross: CrossPlan
    record: StageRecord
    stage: Path
    rfs: Path
    manifest: Path
    make: tuple[str, ...]

    @property
    def interpreter(self) -> str:
        """The interpreter's path inside the RFS."""
        return self.cross.cell.version.interpreter

    @property
    def inputs(self) -> dict[str, Any]:
        """What an install into this RFS is made from (the manifest records them)."""
        return self.record.to_inputs() | {"rfs": str(self.rfs)}


def plan_install(
    cross: CrossPlan, *, layout: Layout, rfs: Path, toolchain: str, toolchain_version: str, strip: str
) -> InstallPlan:
    stage = layout.stage_dir(cross.cell)
    cell = cross.cell
    record = StageRecord(
        cell=cell.id,
        python=cell.version.full,
        sha256=cell.version.sha256,
        triplet=cell.target.triplet,
        variant=cell.variant.name,
        cflags=cell.variant.cflags,
        ldflags=cell.variant.ldflags,
        configure=tuple(cross.inputs["configure"]),
        toolchain=toolchain,
        toolchain_version=toolchain_version,
        strip=strip,
        build=fingerprint(cross.inputs),
    )
    return InstallPlan(
        cross=cross,
        record=record,
        stage=stage,
        rfs=rfs,
        manifest=layout.manifest(cell, rfs),
        make=("make", "install", f"DESTDIR={stage}"),
    )


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
    dynload = plan.stage / pythontree.lib_dynload(plan.cross.cell.version.short)
    # The interpreter and its extension modules must be whole ELF files: a link cut short leaves
    # a file of the right name that is not one (its header is written last).
    not_elf = [
        rel
        for rel in (plan.interpreter, *(str(p.relative_to(plan.stage)) for p in sorted(dynload.glob("*.so"))))
        if rel not in elves
    ]
    if not_elf:
        raise BuildIncomplete(
            f"staged file(s) that should be ELF programs are not: {', '.join(not_elf[:10])}",
            hint=f"the build is damaged; remove {plan.cross.build_dir} and run `invoke cross stage` again",
        )
    present = {pythontree.module_name(p) for p in dynload.glob("*.so")}
    missing = [m for m in plan.cross.cell.version.required_modules if m not in present]
    if missing:
        raise BuildIncomplete(f"staged lib-dynload lacks required module(s): {', '.join(missing)}")
    return elves


def require_built(plan: InstallPlan) -> None:
    if not Stamp(plan.cross.build_dir).matches(plan.cross.inputs):
        raise ConfigError(f"{plan.cross.cell.id} is not built (or its inputs changed)", hint="run `invoke cross` first")


def run_stage(plan: InstallPlan, runner: Runner, layout: Layout) -> Path:
    """`make install` into the cell's stage directory and check it; kept while the build is unchanged.

    The stage is what `install` merges into an RFS and what `sizes` measures.
    """
    require_built(plan)
    scope = plan.cross.cell.id

    def stage() -> None:
        with runner.step(scope, "stage") as step:
            remove_tree(plan.stage)
            plan.stage.mkdir(parents=True)
            # Not under SOURCE_DATE_EPOCH: with it, compileall writes checked-hash .pyc, and the
            # "full" profile installs `make install`'s byte-code as CPython's own install has it.
            env = {k: v for k, v in plan.cross.env_dict.items() if k != "SOURCE_DATE_EPOCH"}
            step.run(plan.make, cwd=plan.cross.build_dir, env=env)
            elves = check_stage(plan)
            step.note(f"staged in {plan.stage}: {len(elves)} ELF files, all {plan.cross.cell.target.elf_machine}")

    # `make install` runs in the build directory: it holds the build's lock.
    cached_step(
        Stamp(plan.stage),
        plan.record.to_inputs(),
        stage,
        lock=cross_lock(layout, plan.cross.cell),
        holder=f"the {scope} build directory",
        skip=lambda why: runner.skip(scope, "stage", why),
        reason=f"{plan.stage} staged from the same build",
    )
    return plan.stage
