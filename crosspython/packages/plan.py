"""The cross-build environment of `invoke packages`, computed without running anything.

Why not crossenv: the cell already has what crossenv assembles. Its build interpreter (the one
`cross` ran) is the target's version; the target's `_sysconfigdata_*` is staged; CPython's own
cross build makes that interpreter report the target through `_PYTHON_SYSCONFIGDATA_NAME`,
`_PYTHON_PROJECT_BASE` and `_PYTHON_HOST_PLATFORM`, as Buildroot's python package
infrastructure does. So setuptools, meson and friends get the target's compiler (the cell's
CC, with ccache and the RFS as sysroot), flags and extension suffix, and `bdist_wheel` the target's
platform tag; pip is told the target's wheel tags as the target computed them (target.py).
Build back-ends run without build isolation from the build tools (matrix/build-tools.txt):
an isolated build would install them with the target's tags, for a machine that cannot run them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..build.cross import CrossPlan
from ..core.layout import PROJECT_ROOT, Layout
from ..matrix import Cell

BUILD_TOOLS = PROJECT_ROOT / "matrix" / "build-tools.txt"

# pip run by the build interpreter, told the target's tags (a file of them, most preferred first)
# instead of the build host's: it then picks wheels (manylinux ones too, where the RFS's libc
# allows) and looks up its cache as pip on the board would.
PIP_LAUNCHER = r"""
import json, os, sys
from pip._vendor.packaging import tags
with open(os.environ["CROSSPYTHON_TARGET_TAGS"]) as handle:
    TARGET = [t for line in json.load(handle) for t in tags.parse_tag(line)]
def get_supported(*args, **kwargs):
    return list(TARGET)
import pip._internal.utils.compatibility_tags as ct
import pip._internal.models.target_python as tp
import pip._internal.resolution.resolvelib.factory as factory
ct.get_supported = tp.get_supported = factory.get_supported = get_supported
# pip gives --config-settings only to the requirements of its command line, not to those of a
# requirements file nor to dependencies: every build gets ours (meson-python's cross file).
from pip._internal.req import req_install
SETTINGS = json.loads(os.environ["CROSSPYTHON_CONFIG_SETTINGS"])
_init = req_install.InstallRequirement.__init__
def __init__(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.config_settings = {**SETTINGS, **(self.config_settings or {})}
req_install.InstallRequirement.__init__ = __init__
from pip._internal.cli.main import main
sys.exit(main())
"""


@dataclass(frozen=True, kw_only=True)
class PackagesPlan:
    """What `packages` runs for one cell and one RFS."""

    cell: Cell
    rfs: Path
    build_python: Path
    build_dir: Path  # the cell's cross build directory (_PYTHON_PROJECT_BASE)
    stage: Path  # the cell's stage: its _sysconfigdata and headers
    tools: Path  # the build tools' directory (pip, setuptools, installer, ...)
    wheelhouse: Path
    work: Path  # artifacts/packages/<cell>/<rfs>/
    manifests: Path  # artifacts/installs/<rfs>/packages/<cpXY>/
    debug_dir: Path
    pip_cache: Path  # pip's cache of this cell: its built wheels are the target's, not the host's
    requirements: str  # pip's requirements format, as the user gave them
    cross_env: tuple[tuple[str, str], ...]  # the cross build's PATH, pkg-config and ccache settings
    rfs_lib_dirs: tuple[Path, ...]  # where the RFS's shared libraries are (a wheel's links must be there)
    sysconfigdata: str  # the module name, _sysconfigdata__linux_arm-linux-gnueabihf
    strip: str
    objcopy: str
    qemu: str

    @property
    def sysconfig_dir(self) -> Path:
        """A directory holding only the target's _sysconfigdata module (put first on PYTHONPATH)."""
        return self.work / "sysconfig"

    @property
    def facts_file(self) -> Path:
        return self.work / "target.json"

    @property
    def tags_file(self) -> Path:
        return self.work / "tags.json"

    @property
    def build_tmp(self) -> Path:
        """Where pip unpacks and builds the sdists (TMPDIR)."""
        return self.work / "tmp"

    @property
    def fresh_wheels(self) -> Path:
        """The wheels of this run, downloaded or built (the cell's wheelhouse keeps them once checked)."""
        return self.work / "wheels"

    @property
    def installed_file(self) -> Path:
        """The packages the last complete run installed (what a no-op rerun checks are still there)."""
        return self.work / "installed.json"

    @property
    def requirements_file(self) -> Path:
        return self.work / "requirements.txt"

    @property
    def staged(self) -> Path:
        """One tree per wheel, installed as it will be on the board (what is merged into the RFS)."""
        return self.work / "staged"

    def env(self, facts_platform: str) -> dict[str, str]:
        """The build interpreter, made to build for the target (see the module's docstring)."""
        env = dict(self.cross_env)
        # The build tools' programs (meson, ninja, cython) before the rest.
        env["PATH"] = f"{self.tools / 'bin'}:{env.get('PATH', '')}".rstrip(":")
        env.update(
            {
                "PYTHONPATH": f"{self.sysconfig_dir}:{self.tools}",
                "PYTHONNOUSERSITE": "1",
                "PYTHONUNBUFFERED": "1",  # pip's lines reach the log (and the heartbeat) as they come
                # pip builds each sdist in a directory of a random name: under one known base, ccache
                # sees the same relative paths in every build of a package and serves the rebuild.
                "TMPDIR": str(self.build_tmp),
                "CCACHE_BASEDIR": str(self.build_tmp),
                "_PYTHON_SYSCONFIGDATA_NAME": self.sysconfigdata,
                "_PYTHON_PROJECT_BASE": str(self.build_dir),
                "_PYTHON_HOST_PLATFORM": facts_platform,
                "CROSSPYTHON_TARGET_TAGS": str(self.tags_file),
                # meson-python's cross file (numpy and other meson builds); setuptools ignores it.
                "CROSSPYTHON_CONFIG_SETTINGS": json.dumps(
                    {"setup-args": f"--cross-file={self.work / 'meson-cross.ini'}"}
                ),
                "PIP_CACHE_DIR": str(self.pip_cache),
                "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "PIP_NO_INPUT": "1",
                "PYO3_CONFIG_FILE": str(self.work / "pyo3-config.txt"),
                "PYO3_CROSS": "1",
            }
        )
        return env

    def wheel_command(self) -> list[str]:
        """pip, told the target's tags, downloads or builds every wheel of the requirements."""
        return [
            str(self.build_python),
            "-c",
            PIP_LAUNCHER,
            "wheel",
            "--no-build-isolation",
            "--wheel-dir",
            str(self.fresh_wheels),
            "--find-links",
            str(self.wheelhouse),
            "--progress-bar",
            "off",
            "--verbose",  # the builds' compiler lines, and why each file on the index was skipped
            "-r",
            str(self.requirements_file),
        ]

    def tools_command(self, version_short: str) -> list[str]:
        """The build tools for the build interpreter: pinned wheels for the build host (x86_64)."""
        tag = version_short.replace(".", "")
        return [
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--require-hashes",
            "--only-binary=:all:",
            "--no-deps",
            "--target",
            str(self.tools),
            "--python-version",
            version_short,
            "--implementation",
            "cp",
            "--abi",
            f"cp{tag}",
            "--abi",
            "abi3",
            "--abi",
            "none",
            "--platform",
            "manylinux2014_x86_64",
            "--platform",
            "manylinux_2_17_x86_64",
            "--platform",
            "manylinux_2_28_x86_64",
            "-r",
            str(BUILD_TOOLS),
        ]

    def inputs(self, facts: dict[str, Any], profile: str, cell_inputs: str) -> dict[str, Any]:
        """What an install of these packages into this RFS is made from."""
        return {
            "requirements": self.requirements,
            "rfs": str(self.rfs),
            "cell": cell_inputs,
            "profile": profile,
            "facts": facts,
            "build_tools": hashlib.sha256(BUILD_TOOLS.read_bytes()).hexdigest()[:16],
        }


def plan_packages(
    cross: CrossPlan,
    *,
    layout: Layout,
    rfs: Path,
    build_python: Path,
    requirements: str,
    sysconfigdata: str,
    strip: str,
    objcopy: str,
    qemu: str,
) -> PackagesPlan:
    cell = cross.cell
    keep = ("PATH", "PKG_CONFIG", "PKG_CONFIG_LIBDIR", "PKG_CONFIG_PATH", "PKG_CONFIG_SYSROOT_DIR", "RFS")
    cross_env = tuple((k, v) for k, v in cross.env if k in keep or k.startswith("CCACHE_"))
    return PackagesPlan(
        cell=cell,
        rfs=rfs,
        build_python=build_python,
        build_dir=cross.build_dir,
        stage=layout.stage_dir(cell),
        tools=layout.build_tools(cell.version),
        wheelhouse=layout.wheelhouse(cell),
        work=layout.packages_dir(cell, rfs),
        manifests=layout.package_manifests(cell.version, rfs),
        debug_dir=layout.debug_dir(cell) / "packages",
        pip_cache=layout.root / "pip-cache" / cell.id,
        requirements=requirements,
        cross_env=cross_env,
        rfs_lib_dirs=cross.rfs_lib_dirs,
        sysconfigdata=sysconfigdata,
        strip=strip,
        objcopy=objcopy,
        qemu=qemu,
    )
