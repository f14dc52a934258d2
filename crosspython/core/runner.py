"""The one subprocess runner: every command of every step goes through `Step.run`.

It echoes the command, tees its output to `artifacts/logs/<scope>/<step>.log`, prints a
heartbeat while a long command is silent on the terminal, times the step, and on failure
raises StepFailed carrying the command, exit code, log path and the log's last lines.
"""

from __future__ import annotations

import collections
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .errors import StepFailed, ToolMissing
from .locks import held_fds

TAIL_LINES = 25


SHOWN_ARGUMENT = 200  # longer arguments are shortened on the terminal; the log keeps them whole


def _shown(argument: str) -> str:
    """How an argument is echoed on the terminal: a -c script by its size, a long one cut short."""
    if "\n" in argument:
        return f"<{argument.count(chr(10))}-line script>"
    quoted = shlex.quote(argument)
    if len(quoted) > SHOWN_ARGUMENT:
        return f"{quoted[: SHOWN_ARGUMENT - 40]}...<{len(quoted)} characters; whole in the log>"
    return quoted


def _fmt_duration(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}m{secs:04.1f}s" if minutes else f"{secs:.1f}s"


@dataclass
class Runner:
    """Runs steps; `verbose` streams command output to the terminal as well as the log."""

    log_root: Path
    verbose: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    heartbeat: float = 30.0
    # Beside os.environ, for every command (a step's own env wins): settings that change how a
    # command runs but not what it makes, such as ccache's remote storage.
    env: dict[str, str] = field(default_factory=dict)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    @contextmanager
    def step(self, scope: str, name: str) -> Iterator[Step]:
        """A timed step whose commands share one fresh log file."""
        log = self.log_root / scope / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("")
        self.say(f"==> [{scope}] {name}")
        started = time.monotonic()
        step = Step(runner=self, name=f"{scope}/{name}", log=log)
        try:
            yield step
        except BaseException:
            self.say(f"<== [{scope}] {name} FAILED after {_fmt_duration(time.monotonic() - started)}")
            raise
        self.say(f"<== [{scope}] {name} done in {_fmt_duration(time.monotonic() - started)}")

    def skip(self, scope: str, name: str, reason: str) -> None:
        self.say(f"==> [{scope}] {name}: up to date ({reason})")


@dataclass
class Step:
    runner: Runner
    name: str
    log: Path

    def note(self, text: str) -> None:
        """Print a line and keep it in the step's log."""
        self.runner.say(f"    {text}")
        with self.log.open("a") as handle:
            handle.write(text + "\n")

    def run(
        self,
        command: Sequence[str | os.PathLike[str]],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        hint: str = "",
        check: bool = True,
        timeout: float | None = None,
    ) -> RunResult:
        """Run `command` (env = os.environ updated with `env`); output goes to the log."""
        argv = [os.fspath(part) for part in command]
        shown_env = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        # A script passed with -c is shown by its size on the terminal; the log keeps it whole.
        shown = " ".join(_shown(a) for a in argv)
        logged = " ".join(shlex.quote(a) for a in argv)
        self.runner.say(f"    $ {shown_env + ' ' if shown_env else ''}{shown}" + (f"   (in {cwd})" if cwd else ""))
        full_env = dict(os.environ)
        full_env.update(self.runner.env)
        full_env.update(env or {})
        tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        lines: list[str] = []
        with self.log.open("a", encoding="utf-8", errors="replace") as handle:
            handle.write(f"$ {shown_env + ' ' if shown_env else ''}{logged}\n# cwd: {cwd or os.getcwd()}\n")
            handle.flush()
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=cwd,
                    env=full_env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    text=True,
                    encoding="utf-8",
                    errors="replace",
                    start_new_session=True,  # so Ctrl-C/timeout can end the whole process group
                    pass_fds=held_fds(),  # the held locks live as long as the command does
                )
            except FileNotFoundError:
                raise ToolMissing(argv[0], None, extra=f"needed by step {self.name}") from None
            started = time.monotonic()
            done = threading.Event()
            watcher = threading.Thread(target=self._heartbeat, args=(done, started, lines), daemon=True)
            watcher.start()
            timed_out = threading.Event()
            timer = None
            if timeout is not None:
                # A timer, not a check per line: a hung, silent process must be ended too.
                def expire() -> None:
                    timed_out.set()
                    _kill_group(proc)

                timer = threading.Timer(timeout, expire)
                timer.start()
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    handle.write(line)
                    stripped = line.rstrip("\n")
                    tail.append(stripped)
                    lines.append(stripped)
                    if self.runner.verbose:
                        self.runner.say(f"    | {stripped}")
                returncode = proc.wait()
                if timed_out.is_set():
                    handle.write(f"# killed after {timeout}s timeout\n")
                    tail.append(f"(killed after {timeout:.0f}s timeout)")
            except BaseException:
                _kill_group(proc)
                raise
            finally:
                done.set()
                if timer is not None:
                    timer.cancel()
            elapsed = time.monotonic() - started
            handle.write(f"# exit {returncode} after {_fmt_duration(elapsed)}\n")
        if check and returncode != 0:
            raise StepFailed(
                step=self.name, command=argv, returncode=returncode, log=self.log, tail=list(tail), hint=hint
            )
        return RunResult(returncode=returncode, output="\n".join(lines), elapsed=elapsed)

    def _heartbeat(self, done: threading.Event, started: float, lines: list[str]) -> None:
        # A long `make` is quiet on the terminal when not verbose: say it is alive.
        while not done.wait(self.runner.heartbeat):
            if not self.runner.verbose:
                last = lines[-1][:100] if lines else ""
                self.runner.say(f"    ... {_fmt_duration(time.monotonic() - started)}, {len(lines)} lines: {last}")


@dataclass(frozen=True)
class RunResult:
    returncode: int
    output: str
    elapsed: float


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
