"""The recipe's flow, done by hand as its write-up says, for one cell: the yardstick of `bench`.

In one source tree: configure and build the native interpreter, set it aside, `make distclean`,
configure for the target, build, `make install DESTDIR=`, strip. No ccache (the recipe has none),
the same -j. The cross configure line, its config.site answers and its environment are the cell's
own (crosspython's plan without ccache), so both flows build the same interpreter; only the way
of getting there differs.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..build.confcache import SITE_LINES
from ..build.cross import CrossPlan
from ..core.elf import read_header
from ..core.errors import ConfigError
from ..core.runner import Runner

# What the recipe sets aside of a 3.x in-tree build: the interpreter, the file that makes it
# find its build directory, and that directory (extension modules, _sysconfigdata).
SET_ASIDE = ("python", "pybuilddir.txt", "build")


@dataclass(frozen=True, kw_only=True)
class RecipePlan:
    cell: str
    work: Path
    tarball: Path
    source_top: str
    native_configure: tuple[str, ...]
    cross_configure: tuple[str, ...]
    cross_env: tuple[tuple[str, str], ...]
    config_site: str
    jobs: int
    strip: str

    @property
    def src(self) -> Path:
        return self.work / self.source_top

    @property
    def host_python(self) -> Path:
        """The native interpreter, set aside (the recipe's python_for_build)."""
        return self.work / "hostpython" / "python"

    @property
    def destdir(self) -> Path:
        return self.work / "dest"


def plan_recipe(cross: CrossPlan, *, work: Path, tarball: Path, jobs: int) -> RecipePlan:
    """The recipe's flow for `cross`'s cell (a plan made without ccache), in `work` (pure)."""
    if cross.cell.version.build_python != "configure":
        raise ConfigError(
            f"bench times the recipe's flow of versions built --with-build-python; {cross.cell.version.full} is not",
            hint="bench a 3.x cell, e.g. --python 3.13",
        )
    if any(part.startswith("CC=") and "ccache" in part for part in cross.configure):
        raise ValueError("the recipe's flow has no ccache: plan the cell without it")
    work = work.absolute()
    host_python = work / "hostpython" / "python"
    configure = ["./configure"]
    for part in cross.configure[1:]:
        configure.append(f"--with-build-python={host_python}" if part.startswith("--with-build-python=") else part)
    env = dict(cross.env)
    env["CONFIG_SITE"] = str(work / "config.site")
    return RecipePlan(
        cell=cross.cell.id,
        work=work,
        tarball=tarball,
        source_top=cross.source_dir.name,
        native_configure=("./configure", "CC=gcc"),
        cross_configure=tuple(configure),
        cross_env=tuple(sorted(env.items())),
        # crosspython keeps configure's answers for its next build; the recipe does not
        config_site=cross.config_site.replace(SITE_LINES, ""),
        jobs=jobs,
        strip=next(p.split("=", 1)[1] for p in cross.configure if p.startswith("STRIP=")),
    )


def elf_files(root: Path) -> list[Path]:
    """Regular ELF files under `root` (what the recipe strips)."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and read_header(path) is not None:
            found.append(path)
    return found


def set_aside(plan: RecipePlan) -> None:
    """Copy the in-tree native interpreter out of the tree `make distclean` is about to clean."""
    aside = plan.host_python.parent
    aside.mkdir(parents=True)
    for name in SET_ASIDE:
        source = plan.src / name
        if source.is_dir():
            # build/lib.*/ holds links into Modules/, which distclean empties: copy what they point to
            shutil.copytree(source, aside / name, symlinks=False)
        else:
            shutil.copy2(source, aside / name)
    # Its standard library stays in the source tree (distclean leaves Lib/*.py alone).
    (aside / "Lib").symlink_to(plan.src / "Lib")


def run_recipe(plan: RecipePlan, runner: Runner, scope: str) -> dict[str, float]:
    """Run the recipe's flow; returns seconds per step. The work directory is made afresh."""
    if plan.work.exists():
        shutil.rmtree(plan.work)
    plan.work.mkdir(parents=True)
    steps: dict[str, float] = {}
    cross_env = dict(plan.cross_env)
    make = ("make", f"-j{plan.jobs}")

    @contextmanager
    def timed(name: str) -> Iterator[Callable[..., object]]:
        started = time.monotonic()
        with runner.step(scope, name) as step:
            yield step.run
        steps[name] = time.monotonic() - started

    with timed("unpack") as run:
        run(["tar", "-xf", plan.tarball, "-C", plan.work])
    with timed("native-configure") as run:
        run(plan.native_configure, cwd=plan.src)
    with timed("native-make") as run:
        run(make, cwd=plan.src)
    with timed("set-aside") as run:
        set_aside(plan)
        run([plan.host_python, "-c", "import _posixsubprocess, _multiprocessing, sysconfig"])
    with timed("distclean") as run:
        run(["make", "distclean"], cwd=plan.src)
    with timed("cross-configure") as run:
        Path(cross_env["CONFIG_SITE"]).write_text(plan.config_site)
        run(plan.cross_configure, cwd=plan.src, env=cross_env)
    with timed("cross-make") as run:
        run(make, cwd=plan.src, env=cross_env)
    with timed("install") as run:
        run(["make", "install", f"DESTDIR={plan.destdir}"], cwd=plan.src, env=cross_env)
    with timed("strip") as run:
        files = elf_files(plan.destdir)
        if not files:
            raise ConfigError(f"the recipe's install into {plan.destdir} holds no ELF file")
        run([plan.strip, "--strip-unneeded", *map(os.fspath, files)])
    return steps
