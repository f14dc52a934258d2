"""Where Invoke meets crosspython: options given once for a task chain, and the one place that
turns errors into messages.

A *task chain* is several tasks on one command line: `invoke native cross install --rfs=DIR`
gives --rfs once; TaskChainExecutor (selected by `tasks.executor_class` in invoke.yaml) hands it
to every task of the chain that takes it and was not given its own value. Defaults come from
invoke configuration (`crosspython:` in invoke.yaml, or INVOKE_CROSSPYTHON_* variables) and, for
the RFS, the recipe's `RFS` variable.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.executor import Executor
from invoke.parser.context import ParserContext

from .core.errors import ConfigError, CrossPythonError, HostProblem
from .session import Options, Session, resolve

# Options that, given once, apply to every task of a task chain that takes them.
TASK_CHAIN_OPTIONS = (
    "rfs",
    "triplet",
    "python",
    "variant",
    "jobs",
    "toolchain",
    "verbose",
    "profile",
    "profiles",
    "app",
)

HELP = {
    "python": "CPython version, e.g. 3.13 (default 3.13; see matrix/versions.toml)",
    "triplet": "target triplet, e.g. arm-linux-gnueabihf (default; see matrix/targets.toml)",
    "variant": "build variant from matrix/variants.toml (default: default)",
    "rfs": "the board's root file system on this host (default: $RFS, else artifacts/rfs/<triplet> "
    "provisioned by `rfs`: Debian packages, or `deps` where Debian has none)",
    "toolchain": "your own tool-chain: its bin/ directory or its <prefix>-gcc (default: <triplet>-gcc on PATH)",
    "jobs": "parallel make jobs, a whole number >= 1 (default: the number of CPUs)",
    "verbose": "stream every command's output, not just the step headers",
    "profile": "install profile from matrix/profiles.toml: full, standard (default) or minimal, or your own",
    "profiles": "a TOML file of your own [profiles.<name>] tables (added to matrix/profiles.toml's)",
    "app": "your application (a script or its package directory): a profile with a module list keeps "
    "what it imports too",
    "no_strip": "install the ELF files unstripped (default: stripped, debug info kept in artifacts/debug/)",
}


class TaskChainExecutor(Executor):
    """An Executor that propagates TASK_CHAIN_OPTIONS given once to the whole task chain."""

    def execute(self, *tasks: Any) -> Any:
        given: dict[str, tuple[str, Any]] = {}
        contexts = [t for t in tasks if isinstance(t, ParserContext)]
        for ctx in contexts:
            for arg in ctx.args.values():
                if arg.name in TASK_CHAIN_OPTIONS and arg.got_value:
                    if arg.name in given and given[arg.name][1] != arg.value:
                        first_task, first_value = given[arg.name]
                        raise Exit(
                            f"error: --{arg.name} is {first_value!r} for {first_task} but {arg.value!r} for "
                            f"{ctx.name}\nhint: give it once for the whole chain",
                            code=2,
                        )
                    given[arg.name] = (str(ctx.name), arg.value)
        try:
            self.check_options(
                {name: value for name, (_, value) in given.items()},
                writes_rfs=any(ctx.name in RFS_WRITERS for ctx in contexts),
            )
        except CrossPythonError as exc:
            raise Exit(exc.render(), code=exc.exit_code) from None
        except OSError as exc:
            # Disk full, a read-only artifacts directory, ...: a message, not a traceback.
            problem = HostProblem.from_os_error(exc)
            raise Exit(problem.render(), code=problem.exit_code) from None
        calls: list[Any] = []
        for task in tasks:
            if isinstance(task, ParserContext):
                kwargs = task.as_kwargs
                for name, (_, value) in given.items():
                    if name in kwargs and not task.args[name].got_value:
                        kwargs[name] = value
                calls.append((task.name, kwargs))
            else:
                calls.append(task)
        return super().execute(*calls)

    def check_options(self, given: dict[str, Any], *, writes_rfs: bool = False) -> None:
        """Resolve the chain's options once before any task runs: a typo in --rfs, --python,
        --triplet, --variant or --jobs, or an RFS that a task of the chain must write but cannot,
        fails in a second, not after `native` has built for minutes."""
        section = self.config.get("crosspython", None)
        session = options_from(given, config=dict(section) if section else {})
        if writes_rfs and not session.rfs_is_default:
            require_writable(session.rfs)


# The tasks that write into a user's RFS (`rfs` provisions the default one, under artifacts/).
RFS_WRITERS = frozenset({"install", "deps", "packages"})


def require_writable(rfs: Path) -> None:
    """A user's RFS that a task must write: writable by this user, on a writable file system."""
    if os.statvfs(rfs).f_flag & os.ST_RDONLY:
        raise ConfigError(f"RFS {rfs} is on a read-only file system", hint="mount it read-write, or pass another --rfs")
    if not os.access(rfs, os.W_OK | os.X_OK):
        raise ConfigError(
            f"RFS {rfs} is not writable by this user (crosspython never uses sudo)",
            hint="make the RFS writable by this user (e.g. chown it), or pass another --rfs",
        )


F = TypeVar("F", bound=Callable[..., Any])


def errors_as_messages(func: F) -> F:
    """The error boundary of a task: the project's errors become message, hint and exit code; no traceback.

    Every task wears it; nothing below it catches CrossPythonError to print it.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        stop_on_signals()
        try:
            return func(*args, **kwargs)
        except CrossPythonError as exc:
            raise Exit(exc.render(), code=exc.exit_code) from None
        except OSError as exc:
            # Disk full, a read-only artifacts directory, ...: a message, not a traceback.
            problem = HostProblem.from_os_error(exc)
            raise Exit(problem.render(), code=problem.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted: nothing half-done is trusted; rerun to resume", code=130) from None

    return wrapper  # type: ignore[return-value]


def config_of(c: Context) -> dict[str, Any]:
    section = c.config.get("crosspython", None)
    return dict(section) if section else {}


def session_for(c: Context, **given: Any) -> Session:
    """The Session for a task's flags; a flag left at its "not given" value falls back to defaults."""
    return options_from(given, config=config_of(c))


def options_from(given: dict[str, Any], *, config: dict[str, Any]) -> Session:
    known = {k: v for k, v in given.items() if k in Options.__dataclass_fields__}
    # bool flags cannot be None in Invoke: False means "not given" here.
    if not known.get("verbose"):
        known["verbose"] = None
    return resolve(Options(**known), config=config)


def parse_threshold(value: str | None) -> float | None:
    """--threshold: a percentage >= 0, or None (the baseline's)."""
    if value is None or value == "":
        return None
    try:
        threshold = float(value)
    except ValueError:
        raise ConfigError(f"--threshold must be a number (percent), got {value!r}") from None
    if not threshold >= 0:  # also NaN
        raise ConfigError(f"--threshold must be >= 0 (percent of growth allowed), got {value!r}")
    return threshold


def _interrupted(signum: int, frame: FrameType | None) -> None:
    # Unwinds like Ctrl-C: the runner then ends the running command's whole process group, steps
    # leave nothing that a rerun would trust, locks are released, a binfmt rule is removed.
    raise KeyboardInterrupt(signal.Signals(signum).name)


def stop_on_signals() -> None:
    """SIGTERM and SIGHUP stop crosspython as Ctrl-C does (Python's default for them is to die on the
    spot, leaving `make` and its compilers running)."""
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _interrupted)
