"""Options as the user gave them, resolved once into a Session every step receives."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from .core.errors import ConfigError
from .core.layout import PROJECT_ROOT, Layout
from .core.runner import Runner
from .matrix import DEFAULT_PROFILE, DEFAULT_VARIANT, Cell, Matrix, Profile, load_matrix, load_profiles

DEFAULT_PYTHON = "3.13"
DEFAULT_TRIPLET = "arm-linux-gnueabihf"


@dataclass(frozen=True, kw_only=True)
class Options:
    """Every option a task can take; None means "not given" (defaults apply)."""

    python: str | None = None
    triplet: str | None = None
    variant: str | None = None
    rfs: str | None = None
    toolchain: str | None = None
    jobs: int | str | None = None
    verbose: bool | None = None
    artifacts: str | None = None
    debian_mirror: str | None = None
    ccache_remote: str | None = None
    profile: str | None = None
    profiles: str | None = None
    app: str | None = None


@dataclass
class Session:
    """Resolved options plus the matrix, the artifacts layout and the runner."""

    matrix: Matrix
    layout: Layout
    runner: Runner
    cell: Cell
    rfs: Path
    rfs_is_default: bool
    toolchain: str | None
    jobs: int
    debian_mirror: str | None
    profile: Profile
    app: Path | None = None
    options: Options = field(default_factory=Options)


def resolve(options: Options, *, config: dict[str, object] | None = None, matrix: Matrix | None = None) -> Session:
    """Apply defaults: flag, then the RFS environment variable (rfs only), then invoke config, then built-ins."""
    config = config or {}

    def pick(name: str, default: object) -> object:
        value = getattr(options, name)
        if value is not None:
            return value
        if name == "rfs" and os.environ.get("RFS"):
            return os.environ["RFS"]  # the recipe's own variable
        configured = config.get(name)
        return configured if configured is not None else default

    matrix = matrix or load_matrix()
    layout = Layout(artifacts_root(pick("artifacts", None)))
    cell = matrix.cell(
        python=str(pick("python", DEFAULT_PYTHON)),
        triplet=str(pick("triplet", DEFAULT_TRIPLET)),
        variant=str(pick("variant", DEFAULT_VARIANT)),
    )
    rfs_value = pick("rfs", None)
    if rfs_value:
        rfs = Path(str(rfs_value)).expanduser().absolute()
        if not rfs.is_dir():
            raise ConfigError(
                f"RFS directory {rfs} does not exist" if not rfs.exists() else f"RFS {rfs} is not a directory",
                hint="give the directory holding the board's root file system, or leave --rfs out "
                "to use a default one provisioned from Debian's packages",
            )
        rfs_is_default = False
    else:
        rfs = layout.default_rfs(cell.target.triplet)
        rfs_is_default = True
    jobs_value = pick("jobs", os.cpu_count() or 1)
    try:
        jobs = int(str(jobs_value))
    except ValueError:
        raise ConfigError(f"--jobs must be a whole number, got {jobs_value!r}", hint="e.g. --jobs 2") from None
    if jobs < 1:
        raise ConfigError(
            f"--jobs must be at least 1, got {jobs}", hint="e.g. --jobs 2, or leave it out for one per CPU"
        )
    toolchain = pick("toolchain", None)
    mirror = pick("debian_mirror", None)
    runner = Runner(
        log_root=layout.logs, verbose=bool(pick("verbose", False)), env=ccache_remote_env(pick("ccache_remote", None))
    )
    return Session(
        matrix=matrix,
        layout=layout,
        runner=runner,
        cell=cell,
        rfs=rfs,
        rfs_is_default=rfs_is_default,
        toolchain=str(toolchain) if toolchain else None,
        jobs=jobs,
        debian_mirror=str(mirror) if mirror else None,
        profile=_profile(matrix, pick("profile", DEFAULT_PROFILE), pick("profiles", None)),
        app=_app(pick("app", None)),
        options=options,
    )


# ccache's remote storage back-ends (ccache >= 4.4; Debian 12's 4.7.5 has all of these).
CCACHE_REMOTE_SCHEMES = ("redis://", "redis+unix:", "http://", "https://", "file:")


def ccache_remote_env(value: object) -> dict[str, str]:
    """ccache's remote storage for every command (`ccache_remote` in invoke.yaml, or
    INVOKE_CROSSPYTHON_CCACHE_REMOTE): objects compiled on one machine serve the others. Not a
    build input: it changes where compiled objects come from, not what they are."""
    if not value:
        return {}
    url = str(value)
    if not url.startswith(CCACHE_REMOTE_SCHEMES):
        raise ConfigError(
            f"ccache_remote {url!r} is not a ccache remote storage",
            hint="e.g. redis://cache.example:6379 (see ccache's remote_storage: "
            + ", ".join(CCACHE_REMOTE_SCHEMES)
            + ")",
        )
    return {"CCACHE_REMOTE_STORAGE": url}


def _profile(matrix: Matrix, name: object, profiles_file: object) -> Profile:
    """The install profile: from matrix/profiles.toml, or from a file of the user's (its tables win)."""
    profiles = dict(matrix.profiles)
    if profiles_file:
        path = Path(str(profiles_file)).expanduser()
        if not path.is_file():
            raise ConfigError(f"--profiles {path}: no such file", hint="give a TOML file of [profiles.<name>] tables")
        profiles.update(load_profiles(path, require_default=False))
    return replace(matrix, profiles=profiles).profile(str(name))


def _app(value: object) -> Path | None:
    if not value:
        return None
    app = Path(str(value)).expanduser().absolute()
    if not app.exists():
        raise ConfigError(
            f"--app {app} does not exist", hint="give the application's main script or its package directory"
        )
    return app


def artifacts_root(configured: object = None) -> Path:
    """The artifacts directory: the configured one, else ./artifacts of the project."""
    return Path(str(configured)).expanduser().resolve() if configured else PROJECT_ROOT / "artifacts"


def configured_layout() -> Layout:
    """The Layout the tasks use, for callers outside Invoke (noxfile.py): invoke.yaml's
    `crosspython.artifacts`, overridden by INVOKE_CROSSPYTHON_ARTIFACTS, as Invoke itself reads them."""
    from invoke.config import Config

    config = Config(project_location=PROJECT_ROOT)
    config.load_project()
    config.load_shell_env()
    section = config.get("crosspython", None) or {}
    return Layout(artifacts_root(section.get("artifacts")))
