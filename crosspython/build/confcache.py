"""configure's answers, kept across build directories by everything that decides them.

CPython's configure compiles and links some 700 test programs, one at a time (40 s here, while a
second core waits). A configure whose every input is that of an earlier successful one gets the
same answers: autoconf's cache file (`--cache-file`) lets it read them instead. That is the warm
rebuild after a build directory was removed, or a CI runner whose caches were restored.

The key is what the answers can depend on: the configure line and environment, the source pin,
the compiler, the config.site, the target's libraries and headers (the RFS's content) and the
build host's installed packages (its headers and libraries: a -dev package installed since
changes the answers). Where that cannot be known (no dpkg database), nothing is cached.

The cache file is written in the build directory by configure (so an interrupted configure
leaves nothing shared); only after configure ended well are the answers that may be kept
(kept_answers) copied aside, written whole before they replace what was there.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import StepFailed
from ..core.runner import Step
from ..core.stamps import fingerprint

CACHE_FILE = "config.cache"  # in the build directory, where `configure -C` puts it
# The same, set from a config.site (read before the cache is): unlike -C, it does not become part
# of the configure line that the build records (sysconfig's CONFIG_ARGS, in what is installed).
SITE_LINES = f"# configure's answers are kept (crosspython's confcache)\ncache_file={CACHE_FILE}\n"
# configure's test programs are compiled once and thrown away: through ccache each is a miss
# that costs a preprocessor run and a store, and fills the cache with nothing a build reuses.
CONFIGURE_ENV = {"CCACHE_DISABLE": "1"}
DPKG_STATUS = Path("/var/lib/dpkg/status")


def host_packages(status: Path = DPKG_STATUS) -> str | None:
    """A hash of the build host's installed packages (None: unknown, e.g. not a Debian host)."""
    try:
        return hashlib.sha256(status.read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def tree_state(dirs: Iterable[Path], *, recursive: Iterable[Path] = ()) -> str:
    """A hash of the names, sizes and mtimes of the files in `dirs` (their top level) and under
    `recursive`: what configure's checks can read there. Python's own headers and modules, which
    an install adds to an RFS, are left out: they answer none of configure's questions."""
    entries: list[str] = []

    def add(path: Path, root: Path) -> None:
        try:
            st = path.stat()
        except OSError:
            return
        entries.append(f"{root}/{path.relative_to(root)} {st.st_size} {st.st_mtime_ns}")

    for d in dirs:
        if d.is_dir():
            for entry in sorted(d.iterdir()):
                if entry.is_file() and not entry.name.startswith(("python", "libpython")):
                    add(entry, d)
    for d in recursive:
        for dirpath, dirnames, filenames in os.walk(d):
            dirnames[:] = sorted(n for n in dirnames if not n.startswith("python"))
            for name in sorted(filenames):
                add(Path(dirpath) / name, d)
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()[:16]


@dataclass(frozen=True, kw_only=True)
class Surroundings:
    """What a configure's answers depend on beyond its own line: the build host's packages and,
    for a cross build, the RFS's libraries and headers. Only described when a step is planned,
    read when configure runs: a rerun with nothing changed plans every step and configures none,
    and reading them (a walk of the RFS's usr/include, a hash of dpkg's database) is most of
    what planning would cost."""

    status: Path = DPKG_STATUS
    dirs: tuple[Path, ...] = ()  # their top level (the RFS's library and pkg-config directories)
    recursive: tuple[Path, ...] = ()  # all below (the RFS's usr/include)

    def state(self) -> dict[str, str] | None:
        """Their state now, as cache_key takes it; None when the host's packages are not known."""
        host = host_packages(self.status)
        if host is None:
            return None
        if not self.dirs and not self.recursive:
            return {"host": host}
        return {"host": host, "rfs": tree_state(self.dirs, recursive=self.recursive)}


@dataclass(frozen=True, kw_only=True)
class KeptAnswers:
    """Where the answers of one configure are kept: under `directory`, named after its inputs,
    its environment and the state of its surroundings when it runs."""

    directory: Path
    prefix: str  # what the file's name starts with: the cell, or native-<tag>
    inputs: Mapping[str, Any] = field(compare=False)
    env: Mapping[str, str] = field(compare=False)
    surroundings: Surroundings

    def path(self) -> Path | None:
        """The file, named now (None: the surroundings cannot be known, nothing is kept)."""
        state = self.surroundings.state()
        if state is None:
            return None
        return self.directory / f"{self.prefix}-{cache_key(self.inputs, self.env, **state)}.cache"


def kept_path(kept: KeptAnswers | None) -> Path | None:
    return None if kept is None else kept.path()


def cache_key(inputs: Mapping[str, Any], env: Mapping[str, str], **state: str) -> str:
    """The name of a configure's answers: its step inputs, environment and surroundings."""
    # What is kept is part of the name: answers kept under another rule are not read.
    kept = [*KEPT_PREFIXES, *KEPT_NAMES]
    return fingerprint({"inputs": inputs, "env": dict(sorted(env.items())), "kept": kept, **state})


# Which answers are kept: those of autoconf's own checks (functions, headers, libraries,
# declarations, sizes, types, members, programs), whose macros act on the answer *after* the
# cached part, so that a cached answer does everything a fresh one does. A check of CPython's own
# may set other variables inside its cached part (configure's "for -Wl,--no-as-needed" sets
# NO_AS_NEEDED only when it runs: a kept answer left the Makefile without it), so those run again.
KEPT_PREFIXES = (
    "ac_cv_func_",
    "ac_cv_header_",
    "ac_cv_lib_",
    "ac_cv_have_decl_",
    "ac_cv_sizeof_",
    "ac_cv_alignof_",
    "ac_cv_type_",
    "ac_cv_member_",
    "ac_cv_prog_",
    "ac_cv_path_",
    "ac_cv_search_",
)
KEPT_NAMES = ("ac_cv_objext", "ac_cv_exeext", "ac_cv_build", "ac_cv_host", "ac_cv_c_compiler_gnu")
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=")


def kept_answers(text: str) -> str:
    """The lines of a cache file whose answers may be kept (KEPT_PREFIXES, KEPT_NAMES)."""
    out: list[str] = []
    keep = False
    for line in text.splitlines(keepends=True):
        found = _ASSIGNMENT.match(line)
        if found:
            name = found.group(1)
            keep = name.startswith(KEPT_PREFIXES) or name in KEPT_NAMES
        elif line.startswith("#") or not line.strip():
            keep = False
        # a line that is neither continues the value above it: kept or not with it
        if keep:
            out.append(line)
    return "".join(out)


def restore(shared: Path | None, build_dir: Path) -> bool:
    """Put the shared answers into a fresh build directory, when there are any."""
    if shared is None or not shared.is_file():
        return False
    shutil.copyfile(shared, build_dir / CACHE_FILE)
    return True


def save(shared: Path | None, build_dir: Path) -> None:
    """Keep a successful configure's answers (whole: written aside, then renamed into place)."""
    produced = build_dir / CACHE_FILE
    if shared is None or not produced.is_file():
        return
    shared.parent.mkdir(parents=True, exist_ok=True)
    partial = shared.with_name(shared.name + ".partial")
    partial.write_text(kept_answers(produced.read_text(errors="surrogateescape")), errors="surrogateescape")
    os.replace(partial, shared)


def run_configure(
    step: Step, command: tuple[str, ...], *, build_dir: Path, env: Mapping[str, str], shared: Path | None
) -> None:
    """Run configure in `build_dir` (which reads build_dir/config.cache: `-C`, or cache_file= in
    its config.site) with the kept answers when there are any; should it fail with them, once
    more without (and they are dropped)."""
    env = {**env, **CONFIGURE_ENV}
    hint = f"see {build_dir / 'config.log'}"
    used = restore(shared, build_dir)
    if used:
        step.note(f"configure's answers from {shared} (a configure of the same inputs)")
    try:
        step.run(command, cwd=build_dir, env=env, hint=hint)
    except StepFailed:
        if not used or shared is None:
            raise
        step.note("configure failed with the kept answers: configuring again without them")
        shared.unlink(missing_ok=True)
        (build_dir / CACHE_FILE).unlink(missing_ok=True)
        step.run(command, cwd=build_dir, env=env, hint=hint)
    save(shared, build_dir)
