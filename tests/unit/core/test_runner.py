"""The subprocess runner: echo, tee to the step's log, typed failure with the log's tail."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest

from crosspython.core.errors import StepFailed, ToolMissing
from crosspython.core.runner import Runner


def test_output_is_teed_to_the_step_log(runner: Runner, tmp_path: Path) -> None:
    with runner.step("cell-x", "configure") as step:
        result = step.run([sys.executable, "-c", "print('hello'); print('world')"], env={"FOO": "1"})
    log = tmp_path / "logs" / "cell-x" / "configure.log"
    text = log.read_text()
    assert "hello\nworld\n" in text
    assert "FOO=1" in text and "# exit 0" in text
    assert result.output == "hello\nworld"
    out = runner.out.getvalue()  # type: ignore[attr-defined]
    assert "==> [cell-x] configure" in out and "<== [cell-x] configure done in" in out
    assert "$ FOO=1 " in out  # the command is echoed, with the variables it was given


def test_failure_carries_command_code_log_and_tail(runner: Runner, tmp_path: Path) -> None:
    script = "import sys\nfor i in range(100): print('line', i)\nsys.exit(3)"
    with pytest.raises(StepFailed) as info, runner.step("cell-y", "make") as step:
        step.run([sys.executable, "-c", script], hint="look at config.log")
    err = info.value
    assert err.returncode == 3
    assert err.step == "cell-y/make"
    assert err.log == tmp_path / "logs" / "cell-y" / "make.log"
    assert err.tail[-1] == "line 99" and len(err.tail) == 25
    rendered = err.render()
    assert "exited with 3" in rendered and str(err.log) in rendered and "line 99" in rendered
    assert "hint: look at config.log" in rendered
    assert "FAILED after" in runner.out.getvalue()  # type: ignore[attr-defined]


def test_a_second_step_with_the_same_name_starts_a_fresh_log(runner: Runner, tmp_path: Path) -> None:
    for word in ("first", "second"):
        with runner.step("c", "s") as step:
            step.run([sys.executable, "-c", f"print('{word}')"])
    text = (tmp_path / "logs" / "c" / "s.log").read_text()
    assert "second" in text and "first" not in text


def test_missing_program_is_tool_missing(runner: Runner) -> None:
    with pytest.raises(ToolMissing, match="no-such-program-xyz"), runner.step("c", "s") as step:
        step.run(["no-such-program-xyz"])


def test_unchecked_failure_returns_the_code(runner: Runner) -> None:
    with runner.step("c", "s") as step:
        result = step.run([sys.executable, "-c", "raise SystemExit(7)"], check=False)
    assert result.returncode == 7


def test_timeout_ends_a_silent_hung_process(runner: Runner) -> None:
    started = time.monotonic()
    with pytest.raises(StepFailed) as info, runner.step("c", "s") as step:
        step.run([sys.executable, "-c", "import time; time.sleep(60)"], timeout=1)
    assert time.monotonic() - started < 20
    assert "timeout" in info.value.tail[-1]


def test_verbose_streams_output(tmp_path: Path) -> None:
    runner = Runner(log_root=tmp_path, verbose=True, out=io.StringIO())
    with runner.step("c", "s") as step:
        step.run([sys.executable, "-c", "print('streamed')"])
    assert "| streamed" in runner.out.getvalue()  # type: ignore[attr-defined]


def test_a_long_argument_is_cut_short_on_the_terminal_but_whole_in_the_log(runner: Runner) -> None:
    long = "x" * 5000
    with runner.step("s", "echo") as step:
        step.run(["echo", long])
    shown = runner.out.getvalue()  # type: ignore[attr-defined]
    assert "<5000 characters; whole in the log>" in shown and long not in shown
    assert long in step.log.read_text().splitlines()[0]  # the logged command line
