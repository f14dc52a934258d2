"""Private apt states: Debian source and target-architecture packages without touching the host.

The host's apt configuration is read (to find the Debian mirror it already uses) but never
modified: each state has its own sources list, package lists and cache under artifacts/apt/,
and `Dir::State::Status=/dev/null` keeps the host's dpkg database (and its architectures) out.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import ConfigError, DownloadError, ToolMissing
from ..core.runner import Step

DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


@dataclass(frozen=True)
class Mirror:
    """A Debian archive the host is configured with: its URI and the keyring it trusts."""

    uri: str
    signed_by: str


def _deb822_stanzas(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for raw in text.splitlines():
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if current:
                stanzas.append(current)
            current, key = {}, ""
            continue
        if raw[0] in " \t" and key:
            current[key] += "\n" + raw.strip()
            continue
        if ":" in raw:
            key, _, value = raw.partition(":")
            key = key.strip().lower()
            current[key] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def _one_line_entries(text: str) -> list[dict[str, str]]:
    entries: list[dict[str, str]] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith(("deb ", "deb-src ")):
            continue
        options = ""
        match = re.match(r"^(deb(?:-src)?)\s+\[([^\]]*)\]\s+(.*)$", line)
        if match:
            kind, options, rest = match.groups()
        else:
            kind, _, rest = line.partition(" ")
        parts = rest.split()
        if len(parts) < 2:
            continue
        entry = {"types": kind, "uris": parts[0], "suites": parts[1]}
        for option in options.split():
            name, _, value = option.partition("=")
            if name == "signed-by":
                entry["signed-by"] = value
        entries.append(entry)
    return entries


def find_debian_mirror(apt_etc: Path = Path("/etc/apt"), codename: str | None = None) -> Mirror:
    """The Debian archive the host's apt already uses (first `deb` entry for its release)."""
    codename = codename or _os_codename()
    entries: list[dict[str, str]] = []
    main_list = apt_etc / "sources.list"
    if main_list.is_file():
        entries += _one_line_entries(main_list.read_text(errors="replace"))
    parts = apt_etc / "sources.list.d"
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix == ".list":
                entries += _one_line_entries(path.read_text(errors="replace"))
            elif path.suffix == ".sources":
                entries += [s for s in _deb822_stanzas(path.read_text(errors="replace")) if s.get("enabled") != "no"]
    for entry in entries:
        suites = entry.get("suites", "").split()
        if "deb" not in entry.get("types", "").split() or not suites:
            continue
        # The release's own archive (not -security, -updates or a third-party repository).
        if codename and codename not in suites:
            continue
        uri = entry.get("uris", "").split()[0] if entry.get("uris") else ""
        if uri:
            return Mirror(uri=uri.rstrip("/"), signed_by=entry.get("signed-by", DEFAULT_KEYRING).split()[0])
    raise ConfigError(
        f"no Debian mirror for {codename or 'this release'} found in {apt_etc}",
        hint="set `debian_mirror` in invoke.yaml (crosspython.debian_mirror) to a Debian archive URL",
    )


def _os_codename() -> str | None:
    try:
        text = Path("/etc/os-release").read_text()
    except FileNotFoundError:
        return None
    match = re.search(r"^VERSION_CODENAME=\"?([a-z]+)\"?$", text, re.MULTILINE)
    return match.group(1) if match else None


@dataclass(frozen=True)
class SourceUri:
    url: str
    filename: str
    size: int
    sha256: str


class AptState:
    """An apt configuration of our own under `root`, for one list of sources."""

    def __init__(self, root: Path, sources_lines: list[str], *, arch: str | None = None) -> None:
        self.root = root
        self.sources_lines = sources_lines
        self.arch = arch

    @property
    def options(self) -> list[str]:
        opts = {
            "Dir::Etc::SourceList": str(self.root / "sources.list"),
            "Dir::Etc::SourceParts": str(self.root / "sources.list.d"),
            "Dir::State::Lists": str(self.root / "lists"),
            "Dir::Cache": str(self.root / "cache"),
            "Dir::State::Status": "/dev/null",  # never read or write the host's dpkg database
            "Debug::NoLocking": "1",  # our state is ours; callers hold a crosspython lock
            "APT::Sandbox::User": "root",  # files land in our directories, not _apt's
            "Acquire::Retries": "3",
        }
        if self.arch:
            # The host's dpkg architectures are left alone; only this state sees the target's.
            opts["APT::Architecture"] = self.arch
            opts["APT::Architectures"] = self.arch
        return [item for key, value in opts.items() for item in ("-o", f"{key}={value}")]

    def prepare(self) -> None:
        for sub in ("lists/partial", "cache/archives/partial", "sources.list.d"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        wanted = "\n".join(self.sources_lines) + "\n"
        path = self.root / "sources.list"
        if not path.is_file() or path.read_text() != wanted:
            path.write_text(wanted)
            # Different sources: the lists we have are not theirs.
            for old in (self.root / "lists").glob("*_*"):
                old.unlink()

    def has_lists(self) -> bool:
        return any(p.name.endswith(("_Sources", "_Packages")) for p in (self.root / "lists").glob("*"))

    def update(self, step: Step, *, force: bool = False) -> None:
        self.prepare()
        if force or not self.has_lists():
            step.run(["apt-get", *self.options, "update"], hint="is the Debian mirror reachable? (`apt-get update`)")

    def source_uris(self, step: Step, package: str) -> list[SourceUri]:
        self.update(step)
        result = step.run(["apt-get", *self.options, "source", "--print-uris", "--only-source", package], check=False)
        uris = [
            SourceUri(url=m.group(1), filename=m.group(2), size=int(m.group(3)), sha256=m.group(4).lower())
            for m in re.finditer(r"^'([^']+)' (\S+) (\d+) SHA256:([0-9a-fA-F]{64})$", result.output, re.MULTILINE)
        ]
        if result.returncode != 0 or not uris:
            raise DownloadError(
                f"the Debian source archive has no source package {package!r}",
                hint=f"see {step.log}; the suite in matrix/versions.toml may no longer carry it",
            )
        return uris

    def resolve(self, step: Step, packages: list[str], exclude: list[str]) -> list[str]:
        """`packages` and their dependencies (no recommends), minus `exclude` and virtual ones."""
        self.update(step)
        result = step.run(
            [
                "apt-cache",
                *self.options,
                "depends",
                "--recurse",
                "--no-recommends",
                "--no-suggests",
                "--no-conflicts",
                "--no-breaks",
                "--no-replaces",
                "--no-enhances",
                *packages,
            ]
        )
        names = {line.strip() for line in result.output.splitlines() if line and not line[0].isspace()}
        return sorted(n for n in names if not n.startswith("<") and n not in exclude and not n.startswith("$"))

    def download(self, step: Step, packages: list[str], dest: Path) -> list[Path]:
        dest.mkdir(parents=True, exist_ok=True)
        step.run(
            ["apt-get", *self.options, "download", *packages],
            cwd=dest,
            hint="the package lists may be stale: rerun with a fresh state (`rm -r "
            + shlex.quote(str(self.root))
            + "`)",
        )
        return sorted(dest.glob("*.deb"))


def source_lines(mirror: Mirror, suite: str, *, kind: str, arch: str | None = None) -> list[str]:
    opts = [f"signed-by={mirror.signed_by}"] if os.path.exists(mirror.signed_by) else []
    if arch:
        opts.insert(0, f"arch={arch}")
    bracket = f" [{' '.join(opts)}]" if opts else ""
    return [f"{kind}{bracket} {mirror.uri} {suite} main"]


def install_host_packages(step: Step, packages: list[str]) -> None:
    """apt-get install `packages` on the build host (as root, or through sudo), refreshing the lists first."""
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise ToolMissing("sudo", "sudo", extra=f"or, as root: apt-get install {' '.join(packages)}")
        prefix = ["sudo"]
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    step.note(f"apt-get install {' '.join(packages)}")
    # The host's package lists may be missing or old on a fresh machine: refresh them first.
    step.run([*prefix, "apt-get", "update"], env=env, hint="check the machine's apt sources and network")
    step.run(
        [*prefix, "apt-get", "install", "-y", "--no-install-recommends", *packages],
        env=env,
        hint=f"see apt-get's output in {step.log}",
    )
