"""The matrix: targets, CPython versions, variants and the default RFS, loaded from matrix/*.toml.

Everything that differs between targets or versions is data here; code never branches on a
triplet or a version string. Loading validates every field and fails with a ConfigError that
names the file and the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar, cast, get_args

from .core import pythontree
from .core.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

MATRIX_DIR = Path(__file__).resolve().parent.parent / "matrix"

T = TypeVar("T")
_TRIPLET_RE = re.compile(r"^[a-z0-9_]+(-[a-z0-9_]+){1,3}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_CONFIG_SITE_KEY_RE = re.compile(r"^ac_cv_[A-Za-z0-9_]+$")

# Closed sets of values the data may take; loading checks each against its Literal.
Endianness = Literal["little", "big"]
# Where a target's default RFS gets its libraries: "debian" (packages of debian_arch, `invoke rfs`)
# or "source" (cross-built from matrix/deps.toml, `invoke deps`).
DepsSource = Literal["debian", "source"]
# How the cross build is given the build-host interpreter (versions.toml `build_python`):
# "configure": `--with-build-python=PATH` (3.11+); "path": first on PATH as python<X.Y>, where
# configure looks for it (2.7, which has no such option).
BuildPython = Literal["configure", "path"]
# The checks `verify` knows (crosspython/check/verify.py); a version lists those that apply to it.
VerifyCheck = Literal[
    "implementation",
    "machine",
    "extension modules",
    "ssl",
    "zlib",
    "ctypes",
    "sqlite3",
    "bz2",
    "lzma",
    "json",
    "asyncio",
    "tls",  # a TLS handshake with a loopback server, the certificate verified
    "zoneinfo",
    "imports",  # every installed module, imported (last: the checks above run on a fresh interpreter)
]
VERIFY_CHECKS: tuple[VerifyCheck, ...] = get_args(VerifyCheck)
# How each library of deps.toml is configured; crosspython/build/deps.py drives each kind.
DepBuild = Literal["autoconf", "zlib", "make", "openssl"]
# What a size-report knob line compares (variants.toml [[knobs]]).
KnobMetric = Literal["interpreter", "static libraries"]
# What install-time byte-code is: PEP 552's unchecked-hash pyc (3.7+), or mtime-stamped (2.7).
PycKind = Literal["unchecked-hash", "timestamp"]
# How an install profile lays out the stdlib (profiles.toml `stdlib`).
StdlibLayout = Literal["as-built", "pyc", "zip"]


@dataclass(frozen=True, kw_only=True)
class Target:
    """A cross target, keyed by its GNU triplet."""

    triplet: str
    toolchain_prefix: str
    toolchain_package: str
    qemu: str
    elf_machine: str
    elf_class: int
    endianness: Endianness
    platform_machine: str
    debian_arch: str
    config_site: tuple[tuple[str, str], ...]
    libc_dev_package: str = ""
    deps: DepsSource = "debian"
    openssl_target: str = ""
    family: str = ""  # architecture family (a nox tag); the arch part of the triplet when not given

    @property
    def cxx_package(self) -> str:
        """The Debian package of the tool-chain's C++ compiler (g++-<triplet> beside gcc-<triplet>)."""
        return "g++-" + self.toolchain_package.removeprefix("gcc-")


@dataclass(frozen=True, kw_only=True)
class DebianSource:
    """Where the Debian source archive carries a byte-identical copy of a tarball."""

    package: str
    suite: str
    file: str


@dataclass(frozen=True, kw_only=True)
class Version:
    """A CPython release line and the pinned tarball that builds it."""

    short: str
    full: str
    tarball: str
    size: int
    sha256: str
    upstream_url: str
    debian: DebianSource | None
    required_modules: tuple[str, ...]
    configure_args: tuple[str, ...]
    build_python: BuildPython = "configure"
    native_imports: tuple[str, ...] = ("_posixsubprocess", "_multiprocessing")  # proof the native build is whole
    native_configure_args: tuple[str, ...] = ()  # what the build-host interpreter can do without
    checks: tuple[VerifyCheck, ...] = VERIFY_CHECKS  # what `verify` runs on the target
    interpreter_flags: tuple[str, ...] = ("-I",)  # isolate the checks from the RFS's environment
    pyc: PycKind = "unchecked-hash"  # what install-time byte-code can be (2.7: timestamp)
    zip_landmarks: tuple[str, ...] = ()  # stdlib files kept beside the zip, for getpath to find the prefix
    # The release's own time (its tarball's mtimes), as SOURCE_DATE_EPOCH: the date in sys.version and
    # in the build's objects, so that two builds of one cell are byte-identical. None: build time.
    source_date_epoch: int | None = None

    @property
    def tag(self) -> str:
        """`cp313` for 3.13: the prefix of cell ids."""
        return "cp" + self.short.replace(".", "")

    @property
    def source_dirname(self) -> str:
        return f"Python-{self.full}"

    @property
    def interpreter(self) -> str:
        """The interpreter's path inside an RFS or a stage (usr/bin/python3.13)."""
        return pythontree.interpreter(self.short)


@dataclass(frozen=True, kw_only=True)
class Variant:
    """Compile/link flags that need a build of their own."""

    name: str
    description: str
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]


STRIP_SUFFIX = "+strip"
DEFAULT_VARIANT = "default"  # CPython's own flags: every variants.toml has it, size comparisons start from it


@dataclass(frozen=True, kw_only=True)
class Knob:
    """A line of the size report: what one knob does, as the difference between two builds.

    A build is a variant's name, with "+strip" for its stripped copy (stripping is not a variant).
    """

    before: str
    after: str
    what: str
    why: str = ""
    metric: KnobMetric = "interpreter"


DEFAULT_PROFILE = "standard"


@dataclass(frozen=True, kw_only=True)
class Profile:
    """What of a staged tree an install puts into the RFS (matrix/profiles.toml); it never rebuilds."""

    name: str
    description: str
    strip: bool = True
    stdlib: StdlibLayout = "as-built"
    sources: bool = True  # with stdlib = "pyc": keep the .py beside their __pycache__
    drop: tuple[str, ...] = ()  # path patterns, {stdlib} and {version} filled in per version
    keep: tuple[str, ...] = ()
    drop_modules: tuple[tuple[str, str], ...] = ()  # (module pattern, why it is safe)
    modules: tuple[str, ...] = ()  # closure roots; () = every module
    closure_excludes: tuple[tuple[str, str], ...] = ()  # (module, why the closure does not follow it)
    zip_stored: tuple[str, ...] = ()  # modules stored, not deflated, in the stdlib zip (start-up needs no zlib)

    @property
    def by_closure(self) -> bool:
        return bool(self.modules)


@dataclass(frozen=True, kw_only=True)
class RfsSpec:
    """Which Debian packages make a default RFS."""

    suite: str
    packages: tuple[str, ...]
    exclude: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Dep:
    """A target library cross-built from a pinned source tarball (matrix/deps.toml)."""

    name: str
    version: str
    tarball: str
    size: int
    sha256: str
    top: str  # the tarball's top directory
    upstream_url: str  # "" when no upstream file has these bytes (a Debian repack)
    debian: DebianSource | None
    build: DepBuild  # how its build system is driven (crosspython/build/deps.py)
    in_tree: bool  # built in a copy of its source tree (its build system cannot build out of tree)
    configure_args: tuple[str, ...]
    make_args: tuple[str, ...]
    install_args: tuple[str, ...]
    install_files: tuple[tuple[str, str], ...]  # (file in the build tree, path under the prefix)
    env: tuple[tuple[str, str], ...]


@dataclass(frozen=True, kw_only=True)
class DepsSpec:
    """The libraries `invoke deps` builds, and which of the tool-chain's files seed the RFS."""

    libraries: tuple[Dep, ...]
    seed_include: tuple[str, ...]
    seed_exclude: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Cell:
    """One build: a version for a target in a variant. Its id names its directories and logs."""

    version: Version
    target: Target
    variant: Variant

    @property
    def id(self) -> str:
        return f"{self.version.tag}-{self.target.triplet}-{self.variant.name}"


@dataclass(frozen=True, kw_only=True)
class Matrix:
    targets: dict[str, Target]
    versions: dict[str, Version]
    variants: dict[str, Variant]
    rfs: RfsSpec
    deps: DepsSpec = DepsSpec(libraries=(), seed_include=(), seed_exclude=())
    knobs: tuple[Knob, ...] = ()
    profiles: dict[str, Profile] = dataclasses.field(default_factory=dict)
    # Modules `verify` does not import on a board, each with why (matrix/profiles.toml [not_importable]).
    not_importable: tuple[tuple[str, str], ...] = ()
    # Modules `verify` imports only where the extension module they need was built ([importable_with]).
    importable_with: tuple[tuple[str, str], ...] = ()

    def target(self, triplet: str) -> Target:
        return _lookup(self.targets, triplet, "target triplet", "matrix/targets.toml")

    def version(self, short: str) -> Version:
        # Accept the full release too (3.13.5), as users type either.
        for version in self.versions.values():
            if short == version.full:
                return version
        return _lookup(self.versions, short, "CPython version", "matrix/versions.toml")

    def variant(self, name: str) -> Variant:
        return _lookup(self.variants, name, "variant", "matrix/variants.toml")

    def profile(self, name: str) -> Profile:
        return _lookup(self.profiles, name, "install profile", "matrix/profiles.toml, or a file given with --profiles")

    def cell(self, *, python: str, triplet: str, variant: str) -> Cell:
        return Cell(version=self.version(python), target=self.target(triplet), variant=self.variant(variant))


def _lookup(table: dict[str, T], key: str, what: str, where: str) -> T:
    try:
        return table[key]
    except KeyError:
        known = ", ".join(sorted(table)) or "(none)"
        close = difflib.get_close_matches(key, list(table), n=1, cutoff=0.6)
        guess = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"unknown {what} {key!r}", hint=f"{guess}known: {known} (add one in {where})") from None


class Fields:
    """Typed access to one TOML table, with errors that name file and key."""

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.data = dict(data)
        self.where = where

    def _get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.data:
            if default is ...:
                raise ConfigError(f"{self.where}: missing key {key!r}")
            return default
        value = self.data.pop(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"{self.where}: {key!r} must be {_kind_name(kind)}, got {value!r}")
        return value

    def text(self, key: str, default: Any = ..., *, pattern: re.Pattern[str] | None = None) -> str:
        value = str(self._get(key, str, default))
        if pattern is not None and not pattern.match(value):
            raise ConfigError(f"{self.where}: {key!r} = {value!r} is not valid")
        return value

    def number(self, key: str, *, choices: tuple[int, ...] | None = None) -> int:
        value = int(self._get(key, int))
        if choices is not None and value not in choices:
            raise ConfigError(f"{self.where}: {key!r} must be one of {choices}, got {value}")
        return value

    def choice(self, key: str, kind: Any, default: Any = ...) -> Any:
        """A string that must be one of the Literal type `kind`'s values."""
        value = self.text(key, default)
        allowed = get_args(kind)
        if value not in allowed:
            raise ConfigError(f"{self.where}: {key!r} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
        return value

    def instant(self, key: str) -> int | None:
        """An optional TOML date-time with its offset (2025-06-11T15:36:57Z), as seconds since the epoch."""
        value = self._get(key, datetime, None)
        if value is None:
            return None
        if value.tzinfo is None:
            raise ConfigError(f"{self.where}: {key!r} needs a time zone (e.g. {value.isoformat()}Z)")
        return int(value.timestamp())

    def flag(self, key: str, default: Any = ...) -> bool:
        return bool(self._get(key, bool, default))

    def texts(self, key: str, default: Any = ...) -> tuple[str, ...]:
        value = self._get(key, list, default)
        if not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{self.where}: {key!r} must be a list of strings")
        return tuple(value)

    def items(self, key: str) -> list[Any]:
        """An array of tables ([[key]]), empty when absent."""
        return list(self._get(key, list, []))

    def table(self, key: str, default: Any = ...) -> dict[str, Any] | None:
        value = self._get(key, dict, default)
        return None if value is None else dict(value)

    def done(self) -> None:
        if self.data:
            raise ConfigError(f"{self.where}: unknown key(s) {', '.join(sorted(self.data))}")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names: dict[object, str] = {
        str: "a string",
        int: "an integer",
        list: "a list",
        dict: "a table",
        bool: "true/false",
        datetime: "a date-time (2025-06-11T15:36:57Z)",
    }
    return names.get(kind, str(kind))


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return dict(tomllib.load(handle))
    except FileNotFoundError:
        raise ConfigError(f"matrix file {path} is missing") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _parse_target(triplet: str, raw: dict[str, Any], where: str) -> Target:
    if not _TRIPLET_RE.match(triplet):
        raise ConfigError(f"{where}: {triplet!r} is not a GNU triplet")
    f = Fields(raw, f"{where} [targets.{triplet!r}]")
    site_raw = f.table("config_site", {}) or {}
    site: list[tuple[str, str]] = []
    for key, value in site_raw.items():
        if not _CONFIG_SITE_KEY_RE.match(key) or not isinstance(value, str):
            raise ConfigError(f'{where} [targets.{triplet!r}.config_site]: {key} must be ac_cv_* = "string"')
        site.append((key, value))
    target = Target(
        triplet=triplet,
        toolchain_prefix=f.text("toolchain_prefix"),
        toolchain_package=f.text("toolchain_package"),
        qemu=f.text("qemu"),
        elf_machine=f.text("elf_machine"),
        elf_class=f.number("elf_class", choices=(32, 64)),
        endianness=f.choice("endianness", Endianness),
        platform_machine=f.text("platform_machine"),
        debian_arch=f.text("debian_arch", ""),
        config_site=tuple(site),
        libc_dev_package=f.text("libc_dev_package", ""),
        deps=f.choice("deps", DepsSource, "debian"),
        openssl_target=f.text("openssl_target", ""),
        family=f.text("family", triplet.split("-", 1)[0]),
    )
    f.done()
    if target.deps == "debian" and not target.debian_arch:
        raise ConfigError(f'{f.where}: deps = "debian" needs a debian_arch (or use deps = "source")')
    return target


def _parse_version(short: str, raw: dict[str, Any], where: str) -> Version:
    if not re.match(r"^\d+\.\d+$", short):
        raise ConfigError(f"{where}: version key {short!r} must look like 3.13")
    f = Fields(raw, f"{where} [versions.{short!r}]")
    full = f.text("full")
    if not full.startswith(short + "."):
        raise ConfigError(f"{f.where}: full = {full!r} is not a {short} release")
    debian = _parse_debian(f.table("debian", None), f.where)
    size = f.number("size")
    if size <= 0:
        raise ConfigError(f"{f.where}: size must be positive")
    version = Version(
        short=short,
        full=full,
        tarball=f.text("tarball"),
        size=size,
        sha256=f.text("sha256", pattern=_SHA256_RE),
        upstream_url=f.text("upstream_url"),
        debian=debian,
        required_modules=f.texts("required_modules"),
        configure_args=f.texts("configure_args", []),
        build_python=f.choice("build_python", BuildPython, "configure"),
        native_imports=f.texts("native_imports", list(Version.native_imports)),
        native_configure_args=f.texts("native_configure_args", []),
        checks=_checks(f),
        interpreter_flags=f.texts("interpreter_flags", list(Version.interpreter_flags)),
        pyc=f.choice("pyc", PycKind, "unchecked-hash"),
        zip_landmarks=f.texts("zip_landmarks", []),
        source_date_epoch=f.instant("source_date"),
    )
    f.done()
    return version


def _checks(f: Fields) -> tuple[VerifyCheck, ...]:
    checks = f.texts("checks", list(VERIFY_CHECKS))
    unknown = [c for c in checks if c not in VERIFY_CHECKS]
    if unknown:
        raise ConfigError(f"{f.where}: unknown check(s) {', '.join(unknown)}; known: {', '.join(VERIFY_CHECKS)}")
    return cast("tuple[VerifyCheck, ...]", checks)


def _parse_debian(raw: dict[str, Any] | None, where: str) -> DebianSource | None:
    if raw is None:
        return None
    d = Fields(raw, f"{where}.debian")
    debian = DebianSource(package=d.text("package"), suite=d.text("suite"), file=d.text("file"))
    d.done()
    return debian


def _string_table(raw: dict[str, Any] | None, where: str) -> tuple[tuple[str, str], ...]:
    items = tuple((raw or {}).items())
    if not all(isinstance(v, str) for _, v in items):
        raise ConfigError(f"{where}: values must be strings")
    return items


def _parse_dep(name: str, raw: dict[str, Any], where: str) -> Dep:
    f = Fields(raw, f"{where} [libraries.{name}]")
    size = f.number("size")
    build = f.choice("build", DepBuild)
    in_tree = f.flag("in_tree", False)
    dep = Dep(
        name=name,
        version=f.text("version"),
        tarball=f.text("tarball"),
        size=size,
        sha256=f.text("sha256", pattern=_SHA256_RE),
        top=f.text("top"),
        upstream_url=f.text("upstream_url", ""),
        debian=_parse_debian(f.table("debian", None), f.where),
        build=build,
        in_tree=in_tree,
        configure_args=f.texts("configure_args", []),
        make_args=f.texts("make_args", []),
        install_args=f.texts("install_args", []),
        install_files=_string_table(f.table("install_files", None), f"{f.where}.install_files"),
        env=_string_table(f.table("env", None), f"{f.where}.env"),
    )
    f.done()
    if size <= 0:
        raise ConfigError(f"{f.where}: size must be positive")
    if not dep.upstream_url and dep.debian is None:
        raise ConfigError(f"{f.where}: needs an upstream_url or a [debian] source to fetch from")
    return dep


def load_deps(path: Path) -> DepsSpec:
    """matrix/deps.toml, validated."""
    data = read_toml(path)
    seed = Fields(data.pop("seed", {}), f"{path} [seed]")
    libraries = data.pop("libraries", {})
    if data:
        raise ConfigError(f"{path}: unknown top-level key(s) {', '.join(sorted(data))}")
    if not isinstance(libraries, dict) or not libraries:
        raise ConfigError(f"{path}: needs at least one [libraries.<name>] table")
    spec = DepsSpec(
        libraries=tuple(_parse_dep(k, v, str(path)) for k, v in libraries.items()),
        seed_include=seed.texts("include"),
        seed_exclude=seed.texts("exclude", []),
    )
    seed.done()
    return spec


def _parse_variant(name: str, raw: dict[str, Any], where: str) -> Variant:
    if not re.match(r"^[a-z0-9][a-z0-9_]*$", name):
        raise ConfigError(f"{where}: variant name {name!r} must be lower-case letters, digits, _")
    f = Fields(raw, f"{where} [variants.{name}]")
    variant = Variant(
        name=name, description=f.text("description"), cflags=f.texts("cflags", []), ldflags=f.texts("ldflags", [])
    )
    f.done()
    return variant


def _load_variants(path: Path) -> tuple[dict[str, Variant], tuple[Knob, ...]]:
    """variants.toml: the [variants.<name>] tables and the size report's [[knobs]]."""
    data = read_toml(path)
    raw_knobs = data.pop("knobs", [])
    variants = {k: _parse_variant(k, v, str(path)) for k, v in _parse_tables(path, "variants", data).items()}
    if DEFAULT_VARIANT not in variants:
        raise ConfigError(f"{path}: a variant named {DEFAULT_VARIANT!r} is required")
    if not isinstance(raw_knobs, list):
        raise ConfigError(f"{path}: knobs must be an array of tables ([[knobs]])")
    knobs = []
    for i, raw in enumerate(raw_knobs):
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: [[knobs]] #{i + 1} must be a table")
        f = Fields(raw, f"{path} [[knobs]] #{i + 1}")
        knob = Knob(
            before=f.text("before"),
            after=f.text("after"),
            what=f.text("what"),
            why=f.text("why", ""),
            metric=f.choice("metric", KnobMetric, "interpreter"),
        )
        f.done()
        for build in (knob.before, knob.after):
            if build.removesuffix(STRIP_SUFFIX) not in variants:
                raise ConfigError(f"{f.where}: {build!r} names no variant (a variant, or a variant{STRIP_SUFFIX})")
        knobs.append(knob)
    return variants, tuple(knobs)


def _parse_tables(path: Path, section: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    data = read_toml(path) if data is None else data
    tables = data.pop(section, None)
    if data:
        raise ConfigError(f"{path}: unknown top-level key(s) {', '.join(sorted(data))}")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"{path}: needs at least one [{section}.<name>] table")
    for name, value in tables.items():
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: [{section}.{name}] must be a table")
    return tables


@functools.cache
def load_matrix(directory: Path = MATRIX_DIR) -> Matrix:
    """Load and validate every matrix file under `directory` (once per process: every task of a
    chain asks for it)."""
    targets_path = directory / "targets.toml"
    versions_path = directory / "versions.toml"
    variants_path = directory / "variants.toml"
    rfs_path = directory / "rfs.toml"
    targets = {k: _parse_target(k, v, str(targets_path)) for k, v in _parse_tables(targets_path, "targets").items()}
    versions = {
        k: _parse_version(k, v, str(versions_path)) for k, v in _parse_tables(versions_path, "versions").items()
    }
    variants, knobs = _load_variants(variants_path)
    f = Fields(read_toml(rfs_path), str(rfs_path))
    rfs = RfsSpec(suite=f.text("suite"), packages=f.texts("packages"), exclude=f.texts("exclude", []))
    f.done()
    deps_path = directory / "deps.toml"
    # Optional: a matrix with only Debian-provided targets needs no source-built libraries.
    deps = load_deps(deps_path) if deps_path.exists() else DepsSpec(libraries=(), seed_include=(), seed_exclude=())
    profiles_path = directory / "profiles.toml"
    profiles, not_importable, importable_with = (
        _load_profiles(profiles_path) if profiles_path.exists() else ({}, (), ())
    )
    return Matrix(
        targets=targets,
        versions=versions,
        variants=variants,
        rfs=rfs,
        deps=deps,
        knobs=knobs,
        profiles=profiles,
        not_importable=not_importable,
        importable_with=importable_with,
    )


_MODULE_PATTERN_RE = re.compile(r"^[A-Za-z0-9_*?.\[\]-]+$")


def _reasons(f: Fields, key: str) -> tuple[tuple[str, str], ...]:
    """A [..key] table of module pattern = "why", each a non-empty reason."""
    table = f.table(key, {}) or {}
    items = []
    for pattern, why in table.items():
        if not _MODULE_PATTERN_RE.match(pattern):
            raise ConfigError(f"{f.where}.{key}: {pattern!r} is not a module name or pattern")
        if not isinstance(why, str) or not why.strip():
            raise ConfigError(f"{f.where}.{key}: {pattern!r} needs a reason (a non-empty string)")
        items.append((pattern, why))
    return tuple(items)


def load_profiles(path: Path, *, require_default: bool = True) -> dict[str, Profile]:
    """matrix/profiles.toml (or a user's file of the same schema: require_default=False), validated."""
    return _load_profiles(path, require_default=require_default)[0]


def _load_profiles(
    path: Path, *, require_default: bool = True
) -> tuple[dict[str, Profile], tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """The profiles of `path`, its [not_importable] table (module pattern = why) and its
    [importable_with] table (module pattern = the extension module it needs)."""
    data = read_toml(path)
    skips = _reasons(Fields({"not_importable": data.pop("not_importable", {})}, str(path)), "not_importable")
    needs = _reasons(Fields({"importable_with": data.pop("importable_with", {})}, str(path)), "importable_with")
    profiles = {}
    for name, raw in _parse_tables(path, "profiles", data).items():
        if not re.match(r"^[a-z0-9][a-z0-9_-]*$", name):
            raise ConfigError(f"{path}: profile name {name!r} must be lower-case letters, digits, _ and -")
        f = Fields(raw, f"{path} [profiles.{name}]")
        profile = Profile(
            name=name,
            description=f.text("description"),
            strip=f.flag("strip", True),
            stdlib=f.choice("stdlib", StdlibLayout, "as-built"),
            sources=f.flag("sources", True),
            drop=f.texts("drop", []),
            keep=f.texts("keep", []),
            drop_modules=_reasons(f, "drop_modules"),
            modules=f.texts("modules", []),
            closure_excludes=_reasons(f, "closure_excludes"),
            zip_stored=f.texts("zip_stored", []),
        )
        f.done()
        if profile.stdlib != "pyc" and not profile.sources:
            raise ConfigError(f'{f.where}: sources = false needs stdlib = "pyc" (zip holds no sources anyway)')
        if profile.stdlib == "zip" and not profile.modules:
            raise ConfigError(f'{f.where}: stdlib = "zip" needs a module list (modules = [...])')
        for pattern in (*profile.drop, *profile.keep):
            if pattern.startswith("/") or ".." in pattern.split("/"):
                raise ConfigError(f"{f.where}: {pattern!r} must be relative to the RFS root, without ..")
            try:
                pattern.format(stdlib="s", version="v")
            except (KeyError, IndexError, ValueError):
                raise ConfigError(f"{f.where}: {pattern!r}: only {{stdlib}} and {{version}} can be filled in") from None
        profiles[name] = profile
    if require_default and DEFAULT_PROFILE not in profiles:
        raise ConfigError(f"{path}: a profile named {DEFAULT_PROFILE!r} is required (the default)")
    return profiles, skips, needs
