"""Find the cross tool-chain and the build host's tools; name the Debian package when one is missing."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..core.elf import ElfHeader, describe, read_header
from ..core.errors import ConfigError, CrossPythonError, ToolMissing
from ..matrix import Target

# Build-host programs and the Debian package that provides each.
HOST_TOOLS: dict[str, str] = {
    "make": "make",
    "gcc": "gcc",
    "pkg-config": "pkg-config",
    "patch": "patch",
    "xz": "xz-utils",
    "dpkg": "dpkg",
    "apt-get": "apt",
    # Building target libraries from source (`invoke deps`): OpenSSL's Configure, sqlite's generators.
    "perl": "perl",
    "tclsh": "tcl",
}
OPTIONAL_HOST_TOOLS: dict[str, str] = {
    "ccache": "ccache",
    # actionlint checks the shell steps of the CI files `invoke ci` writes with it (the test suite)
    "shellcheck": "shellcheck",
    # a ccache remote storage to test against (tests/integration/test_remote_ccache.py)
    "redis-server": "redis-server",
}
QEMU_PACKAGE = "qemu-user"
CROSS_TOOLS = ("gcc", "ar", "ranlib", "strip", "readelf", "objcopy")


@dataclass(frozen=True)
class Toolchain:
    """A cross tool-chain: tools named <prefix>-gcc, <prefix>-ar, ... in `bindir` (or on PATH)."""

    prefix: str
    bindir: Path

    def tool(self, name: str) -> Path:
        return self.bindir / f"{self.prefix}-{name}"

    def print_file_name(self, name: str) -> Path | None:
        """Where the compiler finds `name` (gcc -print-file-name), or None when it does not."""
        found = _ask(str(self.tool("gcc")), f"-print-file-name={name}")
        return Path(os.path.normpath(found)) if "/" in found else None

    def own_dirs(self) -> tuple[Path, ...]:
        """The compiler's private directory and its target directory (e.g. /usr/lib/gcc-cross/<t>/12,
        /usr/<t>): where its own headers and libraries live, which are not the build host's."""
        dirs = []
        libgcc = _ask(str(self.tool("gcc")), "-print-libgcc-file-name")
        if "/" in libgcc:
            dirs.append(Path(os.path.normpath(libgcc)).parent)
        libc = self.print_file_name("libc.so.6")
        if libc is not None:
            dirs.append(libc.parent.parent)
        return tuple(dirs)

    def version(self) -> str:
        """First line of `gcc --version`, recorded in manifests."""
        return compiler_version(str(self.tool("gcc")))


@functools.cache
def _ask(program: str, *args: str) -> str:
    """A compiler's answer to a query (its stdout, stripped); asked once per process."""
    out = subprocess.run([program, *args], capture_output=True, text=True, check=False)
    return out.stdout.strip()


def compiler_version(cc: str = "gcc") -> str:
    """First line of `<cc> --version`: part of every build's inputs."""
    first = _ask(cc, "--version").splitlines()
    return first[0].strip() if first else "unknown"


def host_triplet() -> str:
    """The build host's GNU triplet, as gcc names it (the --build of the libraries' configure)."""
    found = _ask("gcc", "-dumpmachine") if shutil.which("gcc") else ""
    if not found:
        raise ToolMissing("gcc", "gcc")
    return found


@functools.cache
def build_triplet(source_dir: Path) -> str:
    """The build host's triplet as CPython's config.guess names it (the --build of its configure)."""
    guess = source_dir / "config.guess"
    if not guess.is_file():
        raise ConfigError(f"no CPython source in {source_dir}", hint="run `invoke fetch` (or `invoke cross`) first")
    out = subprocess.run(["sh", str(guess)], capture_output=True, text=True, check=False)
    if out.returncode != 0 or not out.stdout.strip():
        raise CrossPythonError(f"config.guess failed: {out.stderr.strip()}")
    return out.stdout.strip()


def find_toolchain(target: Target, toolchain: str | os.PathLike[str] | None = None) -> Toolchain:
    """The tool-chain for `target`: from `toolchain` (a vendor SDK's bin/ or its gcc) or from PATH."""
    if toolchain is None:
        gcc = shutil.which(f"{target.toolchain_prefix}-gcc")
        if gcc is None:
            raise ToolMissing(
                f"{target.toolchain_prefix}-gcc",
                target.toolchain_package,
                extra="or point --toolchain at your own tool-chain's bin/ directory",
            )
        found = Toolchain(prefix=target.toolchain_prefix, bindir=Path(gcc).parent)
    else:
        found = _from_path(Path(toolchain), target)
    for name in CROSS_TOOLS:
        if not os.access(found.tool(name), os.X_OK):
            raise ToolMissing(str(found.tool(name)), None, extra=f"the tool-chain in {found.bindir} is incomplete")
    return found


def _from_path(path: Path, target: Target) -> Toolchain:
    path = path.expanduser().resolve() if not path.is_absolute() else path
    if path.is_file() and path.name.endswith("-gcc"):
        return Toolchain(prefix=path.name[: -len("-gcc")], bindir=path.parent)
    if not path.is_dir():
        raise ConfigError(f"--toolchain {path}: no such directory", hint="give the tool-chain's bin/ directory")
    if (path / "bin").is_dir() and not list(path.glob("*-gcc")):
        path = path / "bin"  # the SDK's root was given: its tools are in bin/
    prefixes = sorted(p.name[: -len("-gcc")] for p in path.glob("*-gcc") if os.access(p, os.X_OK))
    if not prefixes:
        raise ConfigError(f"--toolchain {path}: no <prefix>-gcc in it", hint="give the directory holding <prefix>-gcc")
    if target.toolchain_prefix in prefixes:
        return Toolchain(prefix=target.toolchain_prefix, bindir=path)
    if len(prefixes) == 1:
        return Toolchain(prefix=prefixes[0], bindir=path)
    raise ConfigError(
        f"--toolchain {path}: several tool-chains in it ({', '.join(prefixes)})",
        hint=f"pass the compiler itself, e.g. --toolchain {path / (prefixes[0] + '-gcc')}",
    )


def require_host_tools(*names: str) -> None:
    for name in names:
        if shutil.which(name) is None:
            raise ToolMissing(name, HOST_TOOLS.get(name) or OPTIONAL_HOST_TOOLS.get(name))


def require_qemu(target: Target) -> str:
    found = shutil.which(target.qemu)
    if found is None:
        raise ToolMissing(target.qemu, QEMU_PACKAGE)
    return found


def ccache() -> str | None:
    """ccache when installed: used automatically for native and cross compiles."""
    return shutil.which("ccache")


def missing_packages(targets: list[Target], *, cxx: bool = False) -> list[str]:
    """Debian packages that `invoke setup` must install for these targets (with `cxx`, their C++
    compilers too: third-party packages with C++ sources, such as numpy, need them)."""
    wanted: dict[str, str] = dict(HOST_TOOLS) | dict(OPTIONAL_HOST_TOOLS)
    for target in targets:
        wanted[f"{target.toolchain_prefix}-gcc"] = target.toolchain_package
        if cxx:
            wanted[f"{target.toolchain_prefix}-g++"] = target.cxx_package
        wanted[target.qemu] = QEMU_PACKAGE
    missing = {package for tool, package in wanted.items() if shutil.which(tool) is None}
    # The tool-chain's libc development files are a Recommends of gcc-<triplet>, not a Depends.
    missing |= {t.libc_dev_package for t in targets if t.libc_dev_package and not _installed(t.libc_dev_package)}
    return sorted(missing)


def _installed(package: str) -> bool:
    if shutil.which("dpkg-query") is None:
        return False  # not a Debian system: the package is reported missing, and setup names it
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False)
    return out.returncode == 0 and out.stdout.strip().endswith(" installed")


def check_target(toolchain: Toolchain, target: Target, cache_dir: Path) -> None:
    """Refuse, in a second, a tool-chain that does not compile for `target`: the ELF header of a test
    object must be the target's (machine, class, endianness). Cached per compiler and version."""
    gcc = str(toolchain.tool("gcc"))
    want = ElfHeader(target.elf_machine, target.elf_class, target.endianness)
    key = hashlib.sha256(f"{gcc}|{compiler_version(gcc)}|{want}".encode()).hexdigest()[:16]
    ok = cache_dir / f"{key}.ok"
    if ok.is_file():
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        obj = Path(tmp) / "probe.o"
        done = subprocess.run(
            [gcc, "-c", "-x", "c", "-", "-o", str(obj)],
            input="int crosspython_probe;\n",
            capture_output=True,
            text=True,
        )
        header = read_header(obj) if done.returncode == 0 else None
    dumped = _ask(gcc, "-dumpmachine")
    if header is None:
        raise ConfigError(
            f"the tool-chain {gcc} ({dumped or 'no -dumpmachine'}) cannot compile a test file: "
            + done.stderr.strip()[:300],
            hint="point --toolchain at a cross tool-chain for this target",
        )
    if header != want:
        raise ConfigError(
            f"the tool-chain {gcc} builds for {describe(header)} (-dumpmachine: {dumped}), "
            f"but {target.triplet} is {describe(want)}",
            hint=f"give the tool-chain of {target.triplet} (`--toolchain`), "
            "or the target that tool-chain is for (`--triplet`)",
        )
    ok.write_text(f"{gcc} {dumped} {describe(header)}\n")
