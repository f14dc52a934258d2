"""Step 1 of the recipe: the build-host interpreter, built once per CPython version.

It is built with its extension modules (`make all`), not just `python`: the cross `make install`
runs it for compileall (which starts worker processes: _posixsubprocess, _multiprocessing), the
cross build runs it for its generated files and, up to 3.11, setup.py, and `packages` runs pip,
meson and Cython with it. What none of those uses (the test modules, curses, dbm, ...: the
version's native_configure_args) is not built. configure's answers are kept (confcache).
Every triplet and variant of the version shares it; a lock makes concurrent runs wait for one
build. For versions whose configure finds the build interpreter on PATH (2.7), the build also
leaves `for-build/python<X.Y>`: the recipe's `python_for_build`, set aside (write_for_build).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.files import remove_tree
from ..core.layout import Layout
from ..core.pythontree import module_name
from ..core.runner import Runner
from ..core.stamps import Stamp, cached_step
from ..fetch.sources import source_inputs
from ..matrix import Version
from .confcache import KeptAnswers, Surroundings, kept_path, run_configure


@dataclass(frozen=True, kw_only=True)
class NativePlan:
    version: Version
    source_dir: Path
    build_dir: Path
    configure: tuple[str, ...]
    make: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    inputs: dict[str, Any]
    configure_answers: KeptAnswers | None = None  # kept for the next configure of the same inputs (confcache)

    @property
    def python(self) -> Path:
        """The interpreter the cross build runs (`--with-build-python`)."""
        return self.build_dir / "python"

    @property
    def for_build_dir(self) -> Path:
        """Where the interpreter is set aside as `python<X.Y>`, for a cross build that looks it up on PATH."""
        return self.build_dir / "for-build"

    @property
    def check(self) -> tuple[str, ...]:
        """Proof that the native build is whole: it imports the version's native_imports."""
        return (str(self.python), "-c", f"import {', '.join(self.version.native_imports)}; print('ok')")


def ccache_env(ccache: str | None, project_root: Path) -> dict[str, str]:
    if ccache is None:
        return {}
    # Relative paths and no cwd in the hash: a fresh clone elsewhere (CI) still hits the cache.
    return {"CCACHE_BASEDIR": str(project_root), "CCACHE_NOHASHDIR": "1"}


# For the build-host interpreter only: a miss compiles the preprocessed text ccache has already
# made for its hash instead of preprocessing the source again (a cold native make: 98 s instead
# of 115 s; 82 s without ccache). Its objects carry no debug info (-g0), and their code is the
# same. Not for what the board gets: the debug info's columns would be the preprocessed text's.
NATIVE_CCACHE_ENV = {"CCACHE_NOCPP2": "1"}


def plan_native(
    version: Version,
    *,
    layout: Layout,
    source_dir: Path,
    jobs: int,
    ccache: str | None,
    host_cc: str,
    cc_version: str,
    surroundings: Surroundings | None = None,
) -> NativePlan:
    """What to run to build the build-host interpreter of `version` (pure).

    With `surroundings` (the build host's package database, confcache.Surroundings), configure's
    answers are kept for the next configure of the same inputs.
    """
    cc = f"{ccache} {host_cc}" if ccache else host_cc
    # -C: configure's answers in build_dir/config.cache, which confcache keeps and restores.
    configure = (str(source_dir / "configure"), "-C", *version.native_configure_args, f"CC={cc}")
    make = ("make", f"-j{jobs}", "all")
    env = {**ccache_env(ccache, layout.root.parent), **(NATIVE_CCACHE_ENV if ccache else {})}
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
        configure_answers=None
        if surroundings is None
        else KeptAnswers(
            directory=layout.configure_caches,
            prefix=f"native-{version.tag}",
            inputs=inputs,
            env=env,
            surroundings=surroundings,
        ),
    )


def built_modules(build_dir: Path) -> dict[str, Path]:
    """Extension modules a CPython build produced, by module name (from pybuilddir.txt's directory)."""
    pointer = build_dir / "pybuilddir.txt"
    if not pointer.is_file():
        return {}
    libdir = build_dir / pointer.read_text().strip()
    return {module_name(p): p for p in sorted(libdir.glob("*.so"))}


def for_build_script(plan: NativePlan) -> str:
    """The text of `for-build/python<X.Y>` (see write_for_build)."""
    dynload = plan.for_build_dir / "lib-dynload"
    real = plan.for_build_dir / "bin" / f"python{plan.version.short}"
    return (
        "#!/bin/sh\n"
        f"# The build-host python{plan.version.short} of this version's cross build (the recipe's python_for_build).\n"
        "# The cross build puts the target's build directory first on PYTHONPATH (for the target's\n"
        "# _sysconfigdata); its extension modules have the same names as ours, so ours go first.\n"
        "# Generated by crosspython; every `native` run keeps it in step with the native build.\n"
        f'PYTHONPATH="{dynload}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{real}" "$@"\n'
    )


def write_for_build(plan: NativePlan) -> Path:
    """Set the native interpreter aside for a cross build that looks for it on PATH; returns it.

    for-build/python<X.Y> is a script running for-build/bin/python<X.Y> (a link to the native
    interpreter: distutils takes pyconfig.h's directory from sys.executable, and that directory
    holds no headers) with for-build/lib-dynload (links to the native extension modules, without
    the native _sysconfigdata) first on PYTHONPATH. Idempotent.
    """
    short = plan.version.short
    bindir = plan.for_build_dir / "bin"
    dynload = plan.for_build_dir / "lib-dynload"
    script = plan.for_build_dir / f"python{short}"
    modules = sorted(built_modules(plan.build_dir).values())
    text = for_build_script(plan)
    # Cross builds of other triplets may be running it: leave a correct set-aside alone.
    if (
        script.is_file()
        and not script.is_symlink()
        and script.read_bytes() == text.encode()
        and (bindir / f"python{short}").resolve() == plan.python.resolve()
        and sorted(p.resolve() for p in dynload.glob("*.so")) == [m.resolve() for m in modules]
    ):
        return script
    remove_tree(plan.for_build_dir)  # links into a previous build are not trusted
    bindir.mkdir(parents=True)
    dynload.mkdir()
    (bindir / f"python{short}").symlink_to(plan.python)
    for module in modules:
        (dynload / module.name).symlink_to(module)
    script.write_text(text)
    script.chmod(0o755)
    return script


def run_native(plan: NativePlan, runner: Runner, layout: Layout) -> Path:
    """Build (or reuse) the native interpreter; returns its path."""
    scope = f"native-{plan.version.tag}"

    def build() -> None:
        configured = Stamp(plan.build_dir, "configure")
        env = dict(plan.env)
        if not configured.matches(plan.inputs) or not (plan.build_dir / "Makefile").is_file():
            remove_tree(plan.build_dir)
            plan.build_dir.mkdir(parents=True)
            with runner.step(scope, "configure") as step:
                run_configure(
                    step,
                    plan.configure,
                    build_dir=plan.build_dir,
                    env=env,
                    shared=kept_path(plan.configure_answers),
                )
            configured.write(plan.inputs)
        with runner.step(scope, "make") as step:
            # The configured tree is reused only after a make that ended well: an interrupted or
            # failed one can leave files newer than their sources that are not whole (a `python`
            # whose link was cut short, which make did not delete). The next run configures afresh.
            configured.clear()
            step.run(plan.make, cwd=plan.build_dir, env=env)
            configured.write(plan.inputs)
            result = step.run(list(plan.check))
            step.note(f"native interpreter: {plan.python} ({result.output.strip()})")

    cached_step(
        Stamp(plan.build_dir),
        plan.inputs,
        build,
        lock=layout.lock(scope),
        holder=f"the native {plan.version.full} build",
        skip=lambda why: runner.skip(scope, "native", why),
        reason=f"{plan.build_dir} built from the same inputs",
        fresh=plan.python.is_file,
    )
    if plan.version.build_python == "path":
        write_for_build(plan)
    return plan.python
