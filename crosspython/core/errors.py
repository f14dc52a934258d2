"""Typed errors: each carries an exit code and a hint; `cli.errors_as_messages` catches them once."""

from __future__ import annotations

import errno
from pathlib import Path


class CrossPythonError(Exception):
    """Base of every error meant for the user: shown as message + hint, never a traceback."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        text = f"error: {self.message}"
        if self.hint:
            text += f"\nhint: {self.hint}"
        return text


class ConfigError(CrossPythonError):
    """Bad input: unknown triplet/version/variant, invalid matrix data, bad paths."""

    exit_code = 2


class ToolMissing(CrossPythonError):
    """A required program is not installed; the hint names the Debian package."""

    exit_code = 3

    def __init__(self, tool: str, package: str | None, *, extra: str = "") -> None:
        hint = f"install it with `apt-get install {package}` (or run `invoke setup`)" if package else ""
        if extra:
            hint = f"{hint}; {extra}" if hint else extra
        super().__init__(f"`{tool}` was not found", hint=hint)
        self.tool = tool
        self.package = package


class StepFailed(CrossPythonError):
    """A subprocess of a build step exited non-zero."""

    exit_code = 4

    def __init__(
        self, *, step: str, command: list[str], returncode: int, log: Path, tail: list[str], hint: str = ""
    ) -> None:
        shown = " ".join(command)
        lines = "\n".join(f"    {line}" for line in tail)
        message = f"step `{step}` failed: `{shown}` exited with {returncode}\n  log: {log}\n  last lines:\n{lines}"
        super().__init__(message, hint=hint or f"read the whole log: {log}")
        self.step = step
        self.command = command
        self.returncode = returncode
        self.log = log
        self.tail = tail


class DownloadError(CrossPythonError):
    """No source could provide a file, or a file did not match its pin."""

    exit_code = 5


class BuildIncomplete(CrossPythonError):
    """The build finished but the product is not what was asked (missing modules, wrong ELF)."""

    exit_code = 6


class VerifyFailed(CrossPythonError):
    """The installed interpreter did not pass its checks under qemu-user."""

    exit_code = 7


class SizeRegression(CrossPythonError):
    """`sizes --check`: a tracked size grew past the baseline's threshold."""

    exit_code = 8


class TargetTestsFailed(CrossPythonError):
    """`test-target`: CPython's regression tests failed on the target (beyond the expected ones)."""

    exit_code = 9


class PatchFailed(CrossPythonError):
    """A patch of patches/<version>/ does not apply cleanly to the pinned source."""

    exit_code = 10


class PackageFailed(CrossPythonError):
    """`packages`: a package could not be resolved, built or checked for the target; the RFS is unchanged."""

    exit_code = 13


class HostProblem(CrossPythonError):
    """The build host refused a file operation: disk full, a read-only or unwritable directory."""

    exit_code = 12

    @classmethod
    def from_os_error(cls, exc: OSError) -> HostProblem:
        # A copy names its source first and what it was writing second (shutil sets both).
        where = exc.filename2 or exc.filename or ""
        if exc.errno == errno.ENOSPC:
            return cls(
                f"no space left on the device{' writing ' + str(where) if where else ''}",
                hint="free space there (artifacts/ holds builds and downloads), then rerun: nothing half-done "
                "is trusted",
            )
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return cls(
                f"cannot write {where or 'a file'}: {exc.strerror}",
                hint="choose a writable artifacts directory (invoke.yaml `crosspython.artifacts`, or "
                "INVOKE_CROSSPYTHON_ARTIFACTS) and a writable --rfs",
            )
        return cls(f"{exc.strerror or exc}{': ' + str(where) if where else ''}", hint="see the path named above")
