"""Wheels for the target: the checks every wheel passes before it may land on the board, and the
reading of pip's failures into one-line errors."""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..core.elf import describe, mismatch, parse_header
from ..matrix import Target


@dataclass(frozen=True)
class Wheel:
    """A wheel file, named as PEP 427 names it."""

    path: Path
    name: str  # the distribution's normalised name
    version: str
    tags: frozenset[str]

    @property
    def pure(self) -> bool:
        return all(t.endswith("-none-any") for t in self.tags)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_wheel(path: Path) -> Wheel:
    parts = path.name[: -len(".whl")].split("-")
    if len(parts) not in (5, 6):
        raise ValueError(f"not a wheel's name: {path.name}")
    name, version = parts[0], parts[1]
    pythons, abis, platforms = parts[-3], parts[-2], parts[-1]
    tags = frozenset(
        f"{p}-{a}-{pl}" for p in pythons.split(".") for a in abis.split(".") for pl in platforms.split(".")
    )
    return Wheel(path=path, name=normalise(name), version=version, tags=tags)


def needed_libraries(data: bytes) -> list[str]:
    """The DT_NEEDED entries of an ELF shared object (lief reads it)."""
    import lief  # imported here: slow to import, and only wheels with ELF files need it

    binary = lief.ELF.parse(data)
    if binary is None:
        return []
    return [str(lib) for lib in binary.libraries]


def check_wheel(wheel: Wheel, target: Target, *, ext_suffix: str, has_library: set[str] | None = None) -> list[str]:
    """What makes `wheel` unfit for the target (empty: fit): every ELF inside is for the target's machine,
    class and endianness; every extension module has the target's suffix (or the stable ABI's); every
    library it links is in the RFS (`has_library`: the RFS's library file names) or in the wheel itself."""
    problems: list[str] = []
    with zipfile.ZipFile(wheel.path) as zf:
        names = zf.namelist()
        own = {PurePosixPath(n).name for n in names}
        for name in names:
            if name.endswith("/"):
                continue
            with zf.open(name) as member:
                head = member.read(20)
            header = parse_header(head)
            if header is None:
                continue
            wrong = mismatch(
                header, machine=target.elf_machine, elf_class=target.elf_class, endianness=target.endianness
            )
            if wrong:
                problems.append(f"{name} is {describe(header)}: built for another machine ({wrong})")
                continue
            base = PurePosixPath(name).name
            if ".cpython-" in base and not base.endswith(ext_suffix):
                problems.append(f"{name}: extension suffix is not the target's {ext_suffix}")
            if has_library is not None:
                for lib in needed_libraries(zf.read(name)):
                    if lib not in has_library and lib not in own:
                        problems.append(f"{name} links {lib}, which the RFS has not")
    return problems


def library_names(lib_dirs: tuple[Path, ...]) -> set[str]:
    """The file names of the shared libraries in the RFS's library directories (links count)."""
    found: set[str] = set()
    for directory in lib_dirs:
        if directory.is_dir():
            found.update(p.name for p in directory.iterdir() if ".so" in p.name)
    return found


# What pip's failures look like in its output, and the one line each becomes.
_NO_DISTRIBUTION = re.compile(r"No matching distribution found for (\S+)")
_NO_VERSIONS = re.compile(r"Could not find a version that satisfies the requirement (\S+) \(from versions: ([^)]*)\)")
_BUILD_FAILED = re.compile(r"(?:Failed to build|ERROR: Failed building wheel for) ([\w.\-]+)")
_COLLECTING = re.compile(r"^Collecting ([\w.\-]+)", re.MULTILINE)  # the package pip was at
_MISSING_HEADER = re.compile(r"fatal error: ([\w./+\-]+\.h): No such file or directory")
_MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '([\w.]+)'")
_MISSING_LIB = re.compile(r"cannot find -l([\w.+\-]+)")
_NO_CXX = re.compile(
    r"([\w/.\-]+-g\+\+)\S*:? (?:not found|No such file or directory|command not found)"
    r"|Unknown compiler\(s\).*?([\w/.\-]+-g\+\+)"
)


@dataclass(frozen=True)
class PipFailure:
    message: str
    hint: str
    generic: bool = False  # no cause recognised: the log's last lines say more


def explain_pip_failure(output: str) -> PipFailure | None:
    """The cause of a failed `pip wheel`, in one line, when its output shows a known one."""
    package = _BUILD_FAILED.search(output)
    collecting = _COLLECTING.findall(output)
    who = f"{package.group(1)}: " if package else f"{collecting[-1]}: " if collecting else ""
    if (found := _NO_VERSIONS.search(output)) and found.group(2).strip() != "none":
        versions = found.group(2).strip().split(", ")
        return PipFailure(
            f"no version of {found.group(1)} has a wheel for the target or a source distribution "
            f"(versions found: {'... ' if len(versions) > 8 else ''}{', '.join(versions[-8:])})",
            "pick a version that publishes its source (an sdist)",
        )
    if found := (_NO_DISTRIBUTION.search(output) or _NO_VERSIONS.search(output)):
        # pip cannot tell a name the index lacks from a project whose files are all for other platforms.
        return PipFailure(
            f"nothing on the index that the target can use for {found.group(1)}: no wheel for the target, "
            "no source distribution (or no such package)",
            "check the name on https://pypi.org; a project that publishes only wheels for other platforms "
            "cannot be built for the board",
        )
    if found := _NO_CXX.search(output):
        compiler = Path(found.group(1) or found.group(2)).name
        return PipFailure(
            f"{who}it has C++ sources, and the C++ cross compiler {compiler} is not installed",
            f"install it: `invoke setup --cxx` (Debian's g++-{compiler.removesuffix('-g++')})",
        )
    if found := _MISSING_HEADER.search(output) or _MISSING_LIB.search(output):
        what = f"the C header {found.group(1)}" if found.re is _MISSING_HEADER else f"the library lib{found.group(1)}"
        return PipFailure(
            f"{who}{what} is not in the RFS",
            "add the library's development files (its -dev package: headers, .so link, .pc file) to the RFS",
        )
    if (found := _MISSING_MODULE.search(output)) and found.group(1).split(".")[0] in ("maturin", "setuptools_rust"):
        return PipFailure(
            f"{who}a Rust extension ({found.group(1)}): crosspython's build tools have no Rust back-end, and no "
            "Rust target for the board is installed here",
            "install the package's binary wheel for the target if one exists, or leave it out",
        )
    if found := _MISSING_MODULE.search(output):
        return PipFailure(
            f"{who}its build back-end needs {found.group(1)}, which is not among crosspython's build tools",
            "add it to matrix/build-tools.txt (with its sha256)",
        )
    if package:
        return PipFailure(f"the build of {package.group(1)} for the target failed", "", generic=True)
    return None
