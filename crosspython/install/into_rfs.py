"""Install a staged cell into an RFS: checked first, merged without sudo, recorded in a manifest.

The RFS is not written until the staged tree is complete and checked (right ELF machine, the
required modules present) and a dry run of the merge found nothing in the way (a file where a
directory must go, a directory we cannot write).
"""

from __future__ import annotations

from pathlib import Path

from ..core.errors import ConfigError
from ..core.layout import Layout
from ..core.locks import file_lock
from ..core.runner import Runner
from ..core.stamps import fingerprint
from ..rfs.merge import merge, merge_problems, staged_entries
from .manifest import Manifest, files_of, read_manifest, write_manifest
from .stage import InstallPlan, require_built, run_stage


def installed_matches(plan: InstallPlan) -> bool:
    """True when the manifest says these inputs were installed into this RFS and the files are there."""
    manifest = read_manifest(plan.manifest)
    return manifest is not None and manifest.inputs == plan.inputs and manifest.present_in(plan.rfs)


def run_install(plan: InstallPlan, runner: Runner, layout: Layout) -> Path:
    """Install the cell into the RFS (or see that it already is); returns the manifest's path."""
    require_built(plan)
    scope = plan.cross.cell.id
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
        manifest = Manifest(inputs=plan.inputs, interpreter=plan.interpreter, files=files_of(plan.stage, entries))
        merge(plan.stage, plan.rfs, entries)
        write_manifest(plan.manifest, manifest)
        step.note(
            f"installed {len(manifest.files)} files ({manifest.total_bytes / 1e6:.1f} MB) into {plan.rfs}; "
            f"manifest: {plan.manifest}"
        )
    return plan.manifest
