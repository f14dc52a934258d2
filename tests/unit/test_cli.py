"""The CLI: options given once apply to the chain; errors are messages with exit codes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from invoke import Collection, Context, Program, task

from crosspython.cli import TaskChainExecutor, errors_as_messages
from crosspython.core.errors import ConfigError
from tests.conftest import run_invoke

ROOT = Path(__file__).resolve().parents[2]
CALLS: list[tuple[str, dict[str, Any]]] = []


@task
def native(c: Context, python: str | None = None, jobs: int = 0) -> None:
    CALLS.append(("native", {"python": python, "jobs": jobs}))


@task
def cross(
    c: Context,
    python: str | None = None,
    triplet: str | None = None,
    rfs: str | None = None,
    jobs: int = 0,
    verbose: bool = False,
) -> None:
    CALLS.append(("cross", {"python": python, "triplet": triplet, "rfs": rfs, "jobs": jobs, "verbose": verbose}))


@task
def install(c: Context, rfs: str | None = None, triplet: str | None = None) -> None:
    CALLS.append(("install", {"rfs": rfs, "triplet": triplet}))


@task
@errors_as_messages
def broken(c: Context) -> None:
    raise ConfigError("unknown target triplet 'x'", hint="known: a, b")


class PropagationOnly(TaskChainExecutor):
    """The executor without its up-front check of the options (these fake tasks take made-up values)."""

    def check_options(self, given: dict[str, Any], *, writes_rfs: bool = False) -> None:
        pass


def _run(argv: str) -> int:
    CALLS.clear()
    program = Program(namespace=Collection(native, cross, install, broken), executor_class=PropagationOnly)
    try:
        program.run(["invoke", *argv.split()], exit=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_option_given_once_reaches_every_task_that_takes_it() -> None:
    assert _run("native --python 3.11 cross install --rfs=/srv/rootfs") == 0
    assert CALLS == [
        ("native", {"python": "3.11", "jobs": 0}),
        ("cross", {"python": "3.11", "triplet": None, "rfs": "/srv/rootfs", "jobs": 0, "verbose": False}),
        ("install", {"rfs": "/srv/rootfs", "triplet": None}),
    ]


def test_flags_propagate_backwards_and_bools_too() -> None:
    assert _run("native --jobs 3 cross --verbose --triplet mips-linux-gnu install") == 0
    assert CALLS[0] == ("native", {"python": None, "jobs": 3})
    assert CALLS[1][1]["jobs"] == 3 and CALLS[1][1]["verbose"] is True
    assert CALLS[2] == ("install", {"rfs": None, "triplet": "mips-linux-gnu"})


def test_same_value_twice_is_fine_different_values_are_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("cross --rfs=/a install --rfs=/a") == 0
    assert _run("cross --rfs=/a install --rfs=/b") == 2
    assert CALLS == []  # nothing ran
    assert "--rfs is '/a' for cross but '/b' for install" in capsys.readouterr().err


def test_errors_are_a_message_hint_and_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("broken") == 2
    err = capsys.readouterr().err
    assert "error: unknown target triplet 'x'\nhint: known: a, b" in err
    assert "Traceback" not in err


def _invoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_invoke(*args, env=env)


def test_real_tasks_unknown_triplet() -> None:
    done = _invoke("cross", "--triplet", "sparc-sun-solaris")
    assert done.returncode == 2
    assert "error: unknown target triplet 'sparc-sun-solaris'" in done.stderr
    assert "known: " in done.stderr and "arm-linux-gnueabihf" in done.stderr
    assert "Traceback" not in done.stderr


def test_real_tasks_wrong_rfs_path_in_a_chain(tmp_path: Path) -> None:
    """`native` takes no --rfs, but the chain's options are checked before it runs: nothing is built."""
    artifacts = tmp_path / "artifacts"
    done = _invoke(
        "native",
        "cross",
        "install",
        f"--rfs={tmp_path / 'srv' / 'boards' / 'rootfs'}",
        env={"INVOKE_CROSSPYTHON_ARTIFACTS": str(artifacts)},
    )
    assert done.returncode == 2
    assert "does not exist" in done.stderr and "Traceback" not in done.stderr
    assert "==> [" not in done.stdout and not artifacts.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--variant", "nope"], "unknown variant 'nope'"),
        (["--python", "4.0"], "unknown CPython version '4.0'"),
    ],
)
def test_a_chain_fails_before_its_first_task(tmp_path: Path, args: list[str], message: str) -> None:
    artifacts = tmp_path / "artifacts"
    done = _invoke("native", "cross", "install", *args, env={"INVOKE_CROSSPYTHON_ARTIFACTS": str(artifacts)})
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert "==> [" not in done.stdout and not artifacts.exists()


def test_real_tasks_unknown_version_from_environment() -> None:
    done = _invoke("native", env={"INVOKE_CROSSPYTHON_PYTHON": "3.99"})
    assert done.returncode == 2
    assert "unknown CPython version '3.99'" in done.stderr


def test_help_explains_every_task() -> None:
    listing = _invoke("--list").stdout
    for name in ("native", "cross", "install", "verify", "rfs", "setup", "fetch", "plan", "test"):
        assert f"  {name} " in listing
    assert "--toolchain" in _invoke("--help", "cross").stdout


def test_real_tasks_install_before_anything_was_built(tmp_path: Path) -> None:
    done = _invoke("install", env={"INVOKE_CROSSPYTHON_ARTIFACTS": str(tmp_path / "artifacts")})
    assert done.returncode == 2
    assert "is not provisioned" in done.stderr or "no CPython source" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "artifacts" / "rfs").exists()
