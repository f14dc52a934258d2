"""Step 1 of the recipe: the build-host interpreter, built once per CPython version.

It is built completely (`make all`, extension modules included), not just `python`: the cross
`make install` runs it for compileall (which starts worker processes: _posixsubprocess,
_multiprocessing) and the cross build runs it for its generated files. Every triplet and variant
of the version shares it; a lock makes concurrent runs wait for one build.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .layout import Layout, Stamp, file_lock, remove_tree
from .matrix import Version
from .runner import Runner
from .sources import source_inputs


@dataclass(frozen=True, kw_only=True)
class NativePlan:
    version: Version
    source_dir: Path
    build_dir: Path
    configure: tuple[str, ...]
    make: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    inputs: dict[str, Any]

    @property
    def python(self) -> Path:
        """The interpreter the cross build runs (`--with-build-python`)."""
        return self.build_dir / "python"


def ccache_env(ccache: str | None, project_root: Path) -> dict[str, str]:
    if ccache is None:
        return {}
    # Relative paths and no cwd in the hash: a fresh clone elsewhere (CI) still hits the cache.
    return {"CCACHE_BASEDIR": str(project_root), "CCACHE_NOHASHDIR": "1"}


def plan_native(
    version: Version, *, layout: Layout, source_dir: Path, jobs: int, ccache: str | None, host_cc: str, cc_version: str
) -> NativePlan:
    """What to run to build the build-host interpreter of `version` (pure)."""
    cc = f"{ccache} {host_cc}" if ccache else host_cc
    configure = (str(source_dir / "configure"), f"CC={cc}")
    make = ("make", f"-j{jobs}", "all")
    env = ccache_env(ccache, layout.root.parent)
    inputs = {
        **source_inputs(version),  # the pin, and the patches when the version has any
        "configure": [configure[0].rsplit("/", 1)[-1], *configure[1:]],
        "cc": cc_version,
    }
    return NativePlan(
        version=version,
        source_dir=source_dir,
        build_dir=layout.native_dir(version),
        configure=configure,
        make=make,
        env=tuple(sorted(env.items())),
        inputs=inputs,
    )


def host_cc_version(cc: str = "gcc") -> str:
    out = subprocess.run([cc, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0].strip() if out.stdout else "unknown"


def run_native(plan: NativePlan, runner: Runner, layout: Layout) -> Path:
    """Build (or reuse) the native interpreter; returns its path."""
    scope = f"native-{plan.version.tag}"
    built = Stamp(plan.build_dir)
    if built.matches(plan.inputs) and plan.python.is_file():
        runner.skip(scope, "native", f"{plan.build_dir} built from the same inputs")
        return plan.python
    with file_lock(layout.lock(scope), f"the native {plan.version.full} build"):
        if built.matches(plan.inputs) and plan.python.is_file():  # another run built it meanwhile
            runner.skip(scope, "native", "built by a concurrent run")
            return plan.python
        configured = Stamp(plan.build_dir, "configure")
        env = dict(plan.env)
        built.clear()  # from here on, an interrupted build is not trusted
        if not configured.matches(plan.inputs) or not (plan.build_dir / "Makefile").is_file():
            remove_tree(plan.build_dir)
            plan.build_dir.mkdir(parents=True)
            with runner.step(scope, "configure") as step:
                step.run(plan.configure, cwd=plan.build_dir, env=env)
            configured.write(plan.inputs)
        with runner.step(scope, "make") as step:
            step.run(plan.make, cwd=plan.build_dir, env=env)
            result = step.run([plan.python, "-c", "import _posixsubprocess, _multiprocessing; print('ok')"])
            step.note(f"native interpreter: {plan.python} ({result.output.strip()})")
        built.write(plan.inputs)
    return plan.python
