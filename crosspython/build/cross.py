"""Steps 2 and 3 of the recipe: configure and build CPython for the target, out of tree.

One build directory per cell (version, triplet, variant). The RFS is the compiler's sysroot when
it holds a libc; otherwise (an RFS of libraries only, the tool-chain bringing its own libc) its
include/lib directories are passed with -I/-L as the recipe does. pkg-config only ever sees the
RFS's .pc files, never the host's.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import BuildIncomplete
from ..core.files import remove_tree, write_if_different
from ..core.layout import Layout
from ..core.runner import Runner, Step
from ..core.stamps import Stamp, cached_step
from ..fetch.sources import source_inputs
from ..matrix import Cell
from ..rfs.sysroot import RfsLayout
from .confcache import SITE_LINES, KeptAnswers, Surroundings, kept_path, run_configure
from .native import built_modules, ccache_env
from .toolchain import Toolchain

# Which target library each required extension module needs: for the error hint only.
MODULE_LIBRARIES: dict[str, str] = {
    "_ssl": "OpenSSL (libssl-dev)",
    "_hashlib": "OpenSSL (libssl-dev)",
    "zlib": "zlib (zlib1g-dev)",
    "_ctypes": "libffi (libffi-dev)",
    "_sqlite3": "SQLite (libsqlite3-dev)",
    "_bz2": "bzip2 (libbz2-dev)",
    "_lzma": "xz/liblzma (liblzma-dev)",
}


def config_site(cell: Cell) -> str:
    """The config.site text: the target's answers to configure tests it cannot run."""
    lines = [f"# config.site for {cell.id}: generated from matrix/targets.toml; do not edit"]
    lines += [f"{key}={shlex.quote(value)}" for key, value in cell.target.config_site]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, kw_only=True)
class CrossPlan:
    cell: Cell
    source_dir: Path
    build_dir: Path
    configure: tuple[str, ...]
    make: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    config_site: str
    sysroot: bool
    inputs: dict[str, Any]
    toolchain_dirs: tuple[Path, ...] = ()  # the cross compiler's own include/lib directories
    readelf: str = "readelf"  # the tool-chain's: what the build's extension modules link
    rfs_lib_dirs: tuple[Path, ...] = ()  # where the RFS's shared libraries are (the farm's first)
    configure_answers: KeptAnswers | None = None  # kept for the next configure of the same inputs (confcache)

    @property
    def env_dict(self) -> dict[str, str]:
        return dict(self.env)


def plan_cross(
    cell: Cell,
    *,
    layout: Layout,
    source_dir: Path,
    build_python: Path,
    toolchain: Toolchain,
    toolchain_version: str,
    rfs: RfsLayout,
    build_triplet: str,
    jobs: int,
    ccache: str | None,
    host_pkg_config: str,
    host_path: str,
    rfs_fingerprint: str,
    farm_dirs: tuple[Path, ...] = (),
    farm: list[str] | None = None,
    toolchain_dirs: tuple[Path, ...] = (),
    build_python_dir: Path | None = None,
    surroundings: Surroundings | None = None,
) -> CrossPlan:
    """Everything the cross build runs, computed without running anything.

    `build_python` is the native interpreter; `build_python_dir` a directory holding it as
    python<X.Y>, for versions whose configure looks for it on PATH (build_python = "path").
    With `surroundings` (the build host's packages, the RFS's headers and libraries:
    confcache.Surroundings), configure's answers are kept for its next run of the same inputs.
    """
    build_dir = layout.cross_dir(cell)
    cc = str(toolchain.tool("gcc"))
    # Named, present or not: configure would take whichever <prefix>-g++ this host has today, and
    # the sysconfigdata (CXX, which C++ extension builds use) would change with the host's packages.
    cxx = str(toolchain.tool("g++"))
    cppflags: list[str] = []
    # The link farm first: the RFS's absolute .so links, as the board resolves them (rfs/linkfarm.py).
    ldflags: list[str] = [f"-L{d}" for d in farm_dirs] + [f"-Wl,-rpath-link,{d}" for d in farm_dirs]
    if rfs.has_libc:
        # The RFS is a whole sysroot: headers, libc and libraries all come from it.
        cc += f" --sysroot={rfs.root}"
        cxx += f" --sysroot={rfs.root}"
    else:
        # An RFS without libc: the tool-chain's own sysroot supplies libc; the RFS adds libraries.
        cppflags += [f"-I{d}" for d in rfs.include_dirs]
        ldflags += [f"-L{d}" for d in rfs.lib_dirs]
        ldflags += [f"-Wl,-rpath-link,{d}" for d in rfs.lib_dirs]
    if ccache:
        cc = f"{ccache} {cc}"
        cxx = f"{ccache} {cxx}"
    ldflags += list(cell.variant.ldflags)
    cflags = list(cell.variant.cflags)
    path_head = [str(toolchain.bindir)]  # the recipe puts the tool-chain's bin/ first on PATH
    if cell.version.build_python == "configure":
        build_python_args = [f"--with-build-python={build_python}"]
    else:
        # 2.7's configure takes the first python2.7 on PATH, and its Makefile runs it by that
        # name: ours must come before any other (pyenv's, the system's).
        if build_python_dir is None:
            raise ValueError(f"{cell.version.full} finds its build interpreter on PATH: build_python_dir is needed")
        build_python_args = []
        path_head.insert(0, str(build_python_dir))
    configure = [
        str(source_dir / "configure"),
        f"--host={cell.target.triplet}",
        f"--build={build_triplet}",
        *build_python_args,
        "--prefix=/usr",
        *cell.version.configure_args,
        f"CC={cc}",
        f"CXX={cxx}",
        # Explicit, as a vendor tool-chain's prefix need not be the --host triplet.
        f"AR={toolchain.tool('ar')}",
        f"RANLIB={toolchain.tool('ranlib')}",
        f"READELF={toolchain.tool('readelf')}",
        f"STRIP={toolchain.tool('strip')}",
    ]
    if cflags:
        configure.append("CFLAGS=" + " ".join(cflags))
    if cppflags:
        configure.append("CPPFLAGS=" + " ".join(cppflags))
    if ldflags:
        configure.append("LDFLAGS=" + " ".join(ldflags))
    epoch = cell.version.source_date_epoch
    env = {
        "CONFIG_SITE": str(build_dir / "config.site"),
        # The host's pkg-config, reading only the RFS's .pc files, with paths inside the RFS.
        "PKG_CONFIG": host_pkg_config,
        "PKG_CONFIG_PATH": "",
        "PKG_CONFIG_LIBDIR": ":".join(str(p) for p in rfs.pkgconfig_dirs),
        "PKG_CONFIG_SYSROOT_DIR": str(rfs.root),
        "PATH": ":".join([*path_head, host_path]),
        # The recipe's variable: 2.7's patched setup.py searches the RFS's directories (and
        # never the build host's) through it. Later versions ignore it.
        "RFS": str(rfs.root),
        **ccache_env(ccache, layout.root.parent),
        # gcc's __DATE__/__TIME__ (Modules/getbuildinfo.c: sys.version's date) become the release's:
        # a rebuild, whole or after an interruption, is byte-identical; ccache can reuse the object.
        **({"SOURCE_DATE_EPOCH": str(epoch)} if epoch is not None else {}),
    }
    # configure's answers in build_dir/config.cache, which confcache keeps and restores
    site = config_site(cell) + SITE_LINES
    inputs = {
        "cell": cell.id,
        **source_inputs(cell.version),  # the pin, and the patches when the version has any
        "configure": [Path(configure[0]).name, *configure[1:]],
        "config_site": site,
        "toolchain": toolchain_version,
        "rfs": rfs_fingerprint,
        # Only when there is a farm: builds against an RFS without one keep their fingerprints.
        **({"link_farm": farm} if farm else {}),
        "pkg_config_libdir": env["PKG_CONFIG_LIBDIR"],
        **({"source_date_epoch": epoch} if epoch is not None else {}),
    }
    return CrossPlan(
        cell=cell,
        source_dir=source_dir,
        build_dir=build_dir,
        configure=tuple(configure),
        make=("make", f"-j{jobs}"),
        env=tuple(sorted(env.items())),
        config_site=site,
        sysroot=rfs.has_libc,
        inputs=inputs,
        toolchain_dirs=toolchain_dirs,
        readelf=str(toolchain.tool("readelf")),
        rfs_lib_dirs=(*farm_dirs, *rfs.lib_dirs),
        configure_answers=None
        if surroundings is None
        else KeptAnswers(
            directory=layout.configure_caches, prefix=cell.id, inputs=inputs, env=env, surroundings=surroundings
        ),
    )


# The shared library each extension module links when the RFS has it (its name without .so).
MODULE_SHARED_LIBRARIES: dict[str, str] = {
    "_ssl": "libssl",
    "_hashlib": "libcrypto",
    "zlib": "libz",
    "_ctypes": "libffi",
    "_sqlite3": "libsqlite3",
    "_bz2": "libbz2",
    "bz2": "libbz2",  # 2.7's name
    "_lzma": "liblzma",
}


def static_links(plan: CrossPlan, step: Step) -> list[str]:
    """Extension modules that linked a library statically although the RFS has its shared one
    (the sign of an RFS link the linker could not follow: rfs/linkfarm.py)."""
    built = built_modules(plan.build_dir)
    found = []
    for module, library in MODULE_SHARED_LIBRARIES.items():
        path = built.get(module)
        shared = next((p for d in plan.rfs_lib_dirs for p in sorted(d.glob(f"{library}.so*")) if p.exists()), None)
        if path is None or shared is None:
            continue
        dynamic = step.run([plan.readelf, "-d", path], check=False).output
        if f"[{library}.so" not in dynamic:
            found.append(f"{module} links {library} statically, although the RFS has {shared}")
    return found


def check_required_modules(plan: CrossPlan, make_log: Path) -> None:
    """Fail, naming them, when required extension modules did not come out of the build."""
    present = built_modules(plan.build_dir)
    missing = [m for m in plan.cell.version.required_modules if m not in present]
    if not missing:
        return
    log_text = make_log.read_text(errors="replace") if make_log.is_file() else ""
    details = []
    for module in missing:
        reasons = [line.strip() for line in log_text.splitlines() if module in line.split() or f" {module} " in line]
        why = f" (make said: {reasons[-1][:160]})" if reasons else ""
        details.append(f"{module}: needs {MODULE_LIBRARIES.get(module, 'its library')}{why}")
    raise BuildIncomplete(
        f"{plan.cell.id}: required extension module(s) missing: {', '.join(missing)}\n  " + "\n  ".join(details),
        hint=f"the RFS lacks the target's headers/libraries for them; see {plan.build_dir / 'config.log'} "
        f"and {make_log}",
    )


# -I/-L options that name the build host's own headers or libraries (not the RFS's, which are
# absolute paths under the RFS). 3.11's setup.py, for one, adds /usr/include/<multiarch> and
# /usr/lib/<multiarch> of the *build host* when the compiler reports a multiarch name.
_HOST_PATH_RE = re.compile(r"(?:^|\s)(-[IL]\s?/(?:usr/(?:local/)?)?(?:include|lib\w*)(?:/[^\s'\"]*)?)")


def host_paths_in(log_text: str, allowed: tuple[Path, ...] = (), *, exists: bool = False) -> list[str]:
    """The distinct -I/-L options of the build log that point into the build host's system directories.

    Directories under `allowed` (the cross tool-chain's own, e.g. /usr/lib/gcc-cross/<triplet>/12)
    are the compiler's, not the host's. With exists=True only directories present on this host
    count (3.11's setup.py names /usr/lib/termcap whether or not it exists; a missing one is inert).
    """
    found: dict[str, None] = {}
    for line in log_text.splitlines():
        if line.startswith(("$ ", "#")):
            continue  # our own echo of the command, not the compiler's
        for match in _HOST_PATH_RE.finditer(line):
            option = match.group(1).replace(" ", "")
            path = Path(os.path.normpath(option[2:]))
            if any(path == a or a in path.parents for a in allowed):
                continue
            if exists and not path.is_dir():
                continue
            found[option] = None
    return list(found)


def check_no_host_paths(plan: CrossPlan, make_log: Path) -> None:
    """Fail when the build compiled or linked with the build host's headers or libraries."""
    text = make_log.read_text(errors="replace") if make_log.is_file() else ""
    leaked = host_paths_in(text, plan.toolchain_dirs, exists=True)
    if leaked:
        raise BuildIncomplete(
            f"{plan.cell.id}: the build used the build host's directories: {', '.join(leaked[:6])}",
            hint=f"the target's headers and libraries must come from the RFS only; see {make_log}",
        )


def run_cross(plan: CrossPlan, runner: Runner, layout: Layout) -> None:
    """Configure (when its inputs changed) and build the cell; check its modules."""
    scope = plan.cell.id

    def build() -> None:
        configured = Stamp(plan.build_dir, "configure")
        env = plan.env_dict
        if not configured.matches(plan.inputs) or not (plan.build_dir / "Makefile").is_file():
            remove_tree(plan.build_dir)
            plan.build_dir.mkdir(parents=True)
            write_if_different(plan.build_dir / "config.site", plan.config_site)
            with runner.step(scope, "configure") as step:
                mode = (
                    "RFS as --sysroot"
                    if plan.sysroot
                    else "RFS via -I/-L (no libc headers in the RFS: the tool-chain links with its own libc)"
                )
                step.note(mode)
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
            check_required_modules(plan, step.log)
            check_no_host_paths(plan, step.log)
            for line in static_links(plan, step):
                step.note(f"warning: {line}")
            step.note(f"required modules present: {', '.join(plan.cell.version.required_modules)}")

    # Two runs of the same cell would share a build directory: the second waits.
    cached_step(
        Stamp(plan.build_dir),
        plan.inputs,
        build,
        lock=cross_lock(layout, plan.cell),
        holder=f"the {scope} build directory",
        skip=lambda why: runner.skip(scope, "cross", why),
        reason=f"{plan.build_dir} built from the same inputs",
    )


def cross_lock(layout: Layout, cell: Cell) -> Path:
    """The lock of a cell's build directory: its build and its `make install` hold it."""
    return layout.lock(f"cross-{cell.id}")
