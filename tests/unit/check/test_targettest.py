"""test-target: binfmt rules (always removed), the single-process fallback, JUnit results, expected failures."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import pytest

from crosspython.check import targettest
from crosspython.check.targettest import (
    BINFMT,
    Expected,
    TargetTests,
    binfmt,
    binfmt_magic,
    binfmt_rule,
    classify,
    existing_rule,
    load_target_tests,
    parse_junit,
)
from crosspython.core.errors import ConfigError
from crosspython.matrix import MATRIX_DIR, Matrix, Target

# Debian's own qemu-user rules (/usr/lib/binfmt.d/qemu-arm.conf, qemu-ppc.conf): magic, then mask.
DEBIAN_ARM = ("7f454c4601010100000000000000000002002800", "ffffffffffffff00fffffffffffffffffeffffff")
DEBIAN_PPC = ("7f454c4601020100000000000000000000020014", "fffffffffffffffcfffffffffffffffffffeffff")


def test_magic_matches_debian_qemu_rules(matrix: Matrix) -> None:
    magic, mask = binfmt_magic(matrix.target("arm-linux-gnueabihf"))
    assert (magic.hex(), mask.hex()) == DEBIAN_ARM
    magic, mask = binfmt_magic(matrix.target("powerpc-linux-gnu"))  # big-endian: e_type/e_machine swapped
    assert magic.hex() == DEBIAN_PPC[0]
    # Debian's ppc rule also checks the top bits of EI_OSABI; we ignore EI_OSABI on every target.
    assert mask.hex()[:14] == DEBIAN_PPC[1][:14] and mask.hex()[16:] == DEBIAN_PPC[1][16:]


def test_rule_text(matrix: Matrix) -> None:
    rule = binfmt_rule("crosspython-x", matrix.target("arm-linux-gnueabihf"), Path("/a/wrapper"))
    assert rule.startswith(":crosspython-x:M::\\x7f\\x45\\x4c\\x46\\x01\\x01\\x01")
    assert rule.endswith(":/a/wrapper:")


def test_wrapper_execs_qemu_with_the_rfs_and_an_untouched_environment(tmp_path: Path) -> None:
    # A stand-in "qemu" that prints what it was given: argv and environment.
    fake = tmp_path / "fake-qemu"
    fake.write_text("#!/usr/bin/python3\nimport os, sys, json\nprint(json.dumps([sys.argv[1:], dict(os.environ)]))\n")
    fake.chmod(0o755)
    wrapper = targettest.write_wrapper(tmp_path / "w", str(fake), Path("/srv/rootfs"))
    done = subprocess.run(
        [wrapper, "/srv/rootfs/usr/bin/python3.13", "-c", "x"],
        env={"ONLY": "1", "LC_ALL": "C.UTF-8"},
        capture_output=True,
        text=True,
        check=True,
    )
    args, env = json.loads(done.stdout)
    assert args == ["-L", "/srv/rootfs", "/srv/rootfs/usr/bin/python3.13", "-c", "x"]
    assert env == {"ONLY": "1", "LC_ALL": "C.UTF-8"}  # (LC_ALL stops the fake Python adding LC_CTYPE)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="registering binfmt rules needs root")

# A target nobody else registers (a real crosspython run may hold the ARM rule meanwhile), so the
# tests below always exercise our own registration.
LONE = Target(
    triplet="riscv64-unit-linux-gnu",
    toolchain_prefix="x",
    toolchain_package="x",
    qemu="qemu-riscv64",
    elf_machine="RISCV",
    elf_class=64,
    endianness="little",
    platform_machine="riscv64",
    debian_arch="",
    config_site=(),
)


@needs_root
@pytest.mark.parametrize("ending", ["normally", "exception", "interrupt"])
def test_binfmt_rule_is_always_removed(tmp_path: Path, ending: str) -> None:
    # One ELF identity per case: run in parallel (pytest-xdist), the cases must not see each other's rule.
    identity = {"normally": (64, "little"), "exception": (32, "little"), "interrupt": (64, "big")}[ending]
    target = dataclasses.replace(LONE, elf_class=identity[0], endianness=identity[1])
    name = f"crosspython-unit-{os.getpid()}-{ending}"
    wrapper = targettest.write_wrapper(tmp_path / "w", "/usr/bin/qemu-arm", tmp_path)
    raised: type[BaseException] | None = {"normally": None, "exception": RuntimeError, "interrupt": KeyboardInterrupt}[
        ending
    ]

    def body() -> None:
        with binfmt(target, wrapper, name=name) as reg:
            assert reg.ours and reg.mode == "binfmt", reg.note
            assert (BINFMT / name).read_text().startswith("enabled")
            if raised:
                raise raised("stop")

    if raised:
        with pytest.raises(raised):
            body()
    else:
        body()
    assert not (BINFMT / name).exists()


@needs_root
def test_an_existing_rule_is_used_and_left_alone(tmp_path: Path) -> None:
    target = LONE
    wrapper = targettest.write_wrapper(tmp_path / "w", "/usr/bin/qemu-riscv64", tmp_path)
    with binfmt(target, wrapper, name=f"crosspython-unit-outer-{os.getpid()}") as outer:
        assert outer.ours, outer.note
        with binfmt(target, wrapper, name=f"crosspython-unit-inner-{os.getpid()}") as inner:
            assert inner.mode == "binfmt" and not inner.ours and inner.rule == outer.rule
        assert (BINFMT / str(outer.rule)).exists()  # the inner block did not remove it
    assert not (BINFMT / str(outer.rule)).exists()


def test_without_rights_it_falls_back_to_one_process(
    matrix: Matrix, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with binfmt(matrix.target("arm-linux-gnueabihf"), tmp_path / "w", root=tmp_path / "no-binfmt") as reg:
        assert reg.mode == "single-process" and not reg.ours
        assert "cannot mount" in reg.note


def test_existing_rule_is_found_by_magic(matrix: Matrix, tmp_path: Path) -> None:
    (tmp_path / "register").touch()
    (tmp_path / "status").write_text("enabled\n")
    (tmp_path / "qemu-arm").write_text(
        f"enabled\ninterpreter /usr/libexec/qemu-binfmt/arm-binfmt-P\nflags: POC\noffset 0\n"
        f"magic {DEBIAN_ARM[0]}\nmask {DEBIAN_ARM[1]}\n"
    )
    assert existing_rule(tmp_path, matrix.target("arm-linux-gnueabihf")) == "qemu-arm"
    assert existing_rule(tmp_path, matrix.target("powerpc-linux-gnu")) is None


JUNIT = """<testsuites tests="5" errors="1" failures="1">
<testsuite name="test_x">
<testcase name="test.test_x.A.test_ok" status="run"/>
<testcase name="test.test_x.A.test_skip" status="run"><skipped message="no"/></testcase>
<testcase name="test.test_subprocess.ProcessTestCase.test_cwd_with_relative_arg" status="run">
  <failure message="AssertionError: FileNotFoundError not raised by Popen">trace</failure></testcase>
<testcase name="test.test_x.A.test_bad" status="run"><error message="ValueError: real bug">trace</error></testcase>
<testcase name="test.test_x.A.test_ok2" status="run"/>
</testsuite></testsuites>"""


def test_junit_is_parsed_and_expected_failures_are_separated(matrix: Matrix, tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    run, skipped, failures = parse_junit(path)
    assert (run, skipped) == (5, 1)
    assert failures == [
        (
            "test.test_subprocess.ProcessTestCase.test_cwd_with_relative_arg",
            "AssertionError: FileNotFoundError not raised by Popen",
        ),
        ("test.test_x.A.test_bad", "ValueError: real bug"),
    ]
    data = TargetTests(
        default_tests=(),
        single_process_unreliable=(),
        expected=(
            Expected(
                test="test.test_subprocess.*.test_cwd_with_relative_*",
                reason="qemu exec",
                versions=("3.13",),
                triplets=(),
                modes=("binfmt",),
            ),
        ),
    )
    cell = matrix.cell(python="3.13", triplet="arm-linux-gnueabihf", variant="default")
    classified = classify(cell, "binfmt", data, failures)
    assert [(f.test.rsplit(".", 1)[-1], f.expected_reason) for f in classified] == [
        ("test_cwd_with_relative_arg", "qemu exec"),
        ("test_bad", ""),
    ]
    assert all(not f.expected_reason for f in classify(cell, "single-process", data, failures))


def test_real_data_file_loads() -> None:
    data = load_target_tests()
    assert "test_zlib" in data.default_tests and "test_subprocess" in data.default_tests
    assert all(e.reason for e in data.expected)


def test_bad_mode_in_data_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(
        (MATRIX_DIR / "target-tests.toml").read_text()
        + '\n[[expected]]\ntest = "x"\nreason = "y"\nmodes = ["chroot"]\n'
    )
    with pytest.raises(ConfigError, match="modes must be"):
        load_target_tests(path)


@needs_root
def test_a_stale_rule_of_a_dead_run_is_removed_not_adopted(tmp_path: Path) -> None:
    """A crosspython run killed with SIGKILL leaves its rule; the next run removes it and registers its own."""
    if not (BINFMT / "register").exists():
        pytest.skip("binfmt_misc is not mounted")
    target = dataclasses.replace(LONE, elf_class=32, endianness="big")
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer runs
    stale = f"crosspython-unit-stale-{dead.pid}"
    wrapper = targettest.write_wrapper(tmp_path / "w", "/usr/bin/qemu-riscv64", tmp_path)
    (BINFMT / "register").write_text(targettest.binfmt_rule(stale, target, wrapper))
    try:
        with binfmt(target, wrapper, name=f"crosspython-unit-{os.getpid()}-fresh") as reg:
            assert reg.ours and stale in reg.note, reg.note
            assert not (BINFMT / stale).exists()
    finally:
        targettest.remove_rule(BINFMT, stale)
