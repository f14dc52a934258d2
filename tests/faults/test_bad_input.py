"""Bad input and failing surroundings, as a user meets them: each gets its exit code and a clear
message (no traceback), and the board's RFS is byte-identical afterwards.

Every case runs the real `invoke` with an artifacts directory of its own, against a small fake
board RFS (an ARM libc header and stdio.h: enough for the checks that run before any build).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_invoke, run_unshared
from tests.unit.trees import ARM_ELF_HEADER

MIPS_ELF_HEADER = b"\x7fELF\x01\x01\x01" + b"\0" * 9 + b"\x03\x00" + b"\x08\x00" + b"\0" * 40


def tree_state(root: Path) -> dict[str, str]:
    """Paths, modes, link targets and contents: what "byte-identical" compares."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            st = path.lstat()
            if path.is_symlink():
                state[str(path.relative_to(root))] = f"link {os.readlink(path)}"
            elif path.is_dir():
                state[str(path.relative_to(root))] = f"dir {st.st_mode:o}"
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                state[str(path.relative_to(root))] = f"file {st.st_mode:o} {digest}"
    return state


@pytest.fixture
def board(tmp_path: Path) -> Path:
    rfs = tmp_path / "board-rootfs"
    (rfs / "lib" / "arm-linux-gnueabihf").mkdir(parents=True)
    (rfs / "lib" / "arm-linux-gnueabihf" / "libc.so.6").write_bytes(ARM_ELF_HEADER)
    (rfs / "usr" / "include").mkdir(parents=True)
    (rfs / "usr" / "include" / "stdio.h").write_text("/* the board's */\n")
    (rfs / "etc").mkdir()
    (rfs / "etc" / "hostname").write_text("board\n")
    return rfs


def _mips_rfs(tmp_path: Path) -> Path:
    rfs = tmp_path / "mips-rootfs"
    (rfs / "lib" / "mipsel-linux-gnu").mkdir(parents=True)
    (rfs / "lib" / "mipsel-linux-gnu" / "libc.so.6").write_bytes(MIPS_ELF_HEADER)
    return rfs


def _toolchain_dir(tmp_path: Path, tools: tuple[str, ...]) -> Path:
    bindir = tmp_path / "sdk" / "bin"
    bindir.mkdir(parents=True)
    for tool in tools:
        path = bindir / f"arm-vendor-linux-gnueabi-{tool}"
        path.write_text("#!/bin/sh\nexit 1\n")
        path.chmod(0o755)
    return bindir


def _files(tmp_path: Path) -> dict[str, Path]:
    bad_toml = tmp_path / "profiles.toml"
    bad_toml.write_text("[profiles.mine\ndescription = 'x'\n")
    bad_baseline = tmp_path / "baseline.json"
    bad_baseline.write_text('{"cells": {"cp313-arm-linux-gnueabihf-default": {"interpreter (stripped)": "big"}}}')
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory\n")
    report = tmp_path / "sizes.json"
    report.write_text('{"schema": 2, "totals": [], "elves": []}')
    return {"bad_toml": bad_toml, "bad_baseline": bad_baseline, "a_file": a_file, "report": report}


# (id, arguments, exit code, what the message says). {rfs}, {tmp}, {file}... are filled in.
CASES = [
    (
        "triplet-typo",
        ["cross", "--triplet", "arm-linux-gnueabi", "--rfs", "{rfs}"],
        2,
        "did you mean 'arm-linux-gnueabihf'",
    ),
    ("unknown-triplet", ["cross", "--triplet", "sparc-sun-solaris", "--rfs", "{rfs}"], 2, "unknown target triplet"),
    ("unknown-version", ["native", "cross", "--python", "4.0"], 2, "unknown CPython version '4.0'"),
    ("unknown-variant", ["native", "cross", "install", "--variant", "nope"], 2, "unknown variant 'nope'"),
    ("jobs-not-a-number", ["native", "--jobs", "abc", "cross"], 2, "--jobs must be a whole number"),
    ("jobs-zero", ["native", "--jobs", "0", "cross"], 2, "--jobs must be at least 1"),
    ("jobs-negative", ["native", "--jobs=-3", "cross"], 2, "--jobs must be at least 1"),
    ("threshold-negative", ["sizes", "--check", "--threshold=-5"], 2, "--threshold must be >= 0"),
    ("threshold-not-a-number", ["sizes", "--check", "--threshold", "abc"], 2, "--threshold must be a number"),
    ("rfs-missing", ["native", "cross", "install", "--rfs", "{tmp}/srv/boards/rootfs"], 2, "does not exist"),
    ("rfs-is-a-file", ["cross", "--rfs", "{a_file}"], 2, "is not a directory"),
    ("rfs-other-arch", ["cross", "--rfs", "{mips}"], 2, "is for MIPS/32-bit/little-endian"),
    ("rfs-path-with-space", ["cross", "--rfs", "{spaced}"], 2, "characters CPython's configure and make cannot take"),
    ("toolchain-missing", ["cross", "--toolchain", "{tmp}/no/sdk", "--rfs", "{rfs}"], 2, "no such directory"),
    ("toolchain-not-a-toolchain", ["cross", "--toolchain", "{tmp}", "--rfs", "{rfs}"], 2, "no <prefix>-gcc in it"),
    ("toolchain-incomplete", ["cross", "--toolchain", "{sdk_gcc_only}", "--rfs", "{rfs}"], 3, "is incomplete"),
    (
        "toolchain-host-gcc",
        ["cross", "--toolchain", "/usr/bin/x86_64-linux-gnu-gcc", "--rfs", "{rfs}"],
        2,
        "builds for X86_64",
    ),
    (
        "toolchain-other-target",
        ["cross", "--toolchain", "/usr/bin/powerpc-linux-gnu-gcc", "--rfs", "{rfs}"],
        2,
        "builds for PPC",
    ),
    ("profile-unknown", ["install", "--profile", "tiny", "--rfs", "{rfs}"], 2, "unknown install profile 'tiny'"),
    ("profiles-file-missing", ["install", "--profiles", "{tmp}/mine.toml", "--rfs", "{rfs}"], 2, "no such file"),
    ("profiles-file-bad-toml", ["install", "--profiles", "{bad_toml}", "--rfs", "{rfs}"], 2, "invalid TOML"),
    (
        "app-missing",
        ["install", "--profile", "minimal", "--app", "{tmp}/myapp.py", "--rfs", "{rfs}"],
        2,
        "does not exist",
    ),
    ("baseline-not-a-number", ["sizes", "--check", "--baseline", "{bad_baseline}"], 2, "must be a byte count"),
    ("baseline-missing", ["sizes", "--check", "--baseline", "{tmp}/none.json"], 2, "no size baseline"),
    ("compare-missing", ["sizes", "--compare", "{tmp}/base.json"], 2, "no size report at"),
    ("compare-not-a-report", ["sizes", "--compare", "{bad_baseline}"], 2, "is not a report of `invoke sizes`"),
    ("compare-bad-commit", ["sizes", "--compare", "{report}", "--commit", "no-such-rev"], 2, "is not a commit of"),
    ("compare-bad-limits", ["sizes", "--compare", "{report}", "--thresholds", "{bad_toml}"], 2, "invalid TOML"),
    ("size-diff-no-reports", ["size-diff", "--head", "{tmp}/reports-in"], 2, "no size report at"),
    ("ci-unknown-tag", ["ci", "--check", "--tags", "sparc"], 2, "no matrix cell has the tag 'sparc'"),
    ("ccache-remote-bad", ["fetch"], 2, "is not a ccache remote storage"),
    ("install-before-build", ["install", "--rfs", "{rfs}"], 2, "no CPython source"),
    ("verify-before-install", ["verify", "--rfs", "{rfs}"], 7, "no interpreter at"),
    ("test-target-before-install", ["test-target", "--rfs", "{rfs}"], 2, "no interpreter at"),
    ("artifacts-not-writable", ["fetch"], 12, "Not a directory"),
    ("qemu-missing", ["verify", "--rfs", "{rfs}"], 3, "`qemu-arm` was not found"),
    ("packages-none-given", ["packages", "--rfs", "{rfs}"], 2, "no packages given"),
    ("packages-bad-spec", ["packages", "--specs", "pyserial==", "--rfs", "{rfs}"], 2, "not a requirement (--specs)"),
    ("packages-requirements-missing", ["packages", "--requirements", "{tmp}/req.txt", "--rfs", "{rfs}"], 2, "no such"),
    ("packages-python-2", ["packages", "--python", "2.7", "--specs", "six", "--rfs", "{rfs}"], 2, "CPython 3 only"),
    ("packages-before-install", ["packages", "--specs", "pyserial", "--rfs", "{rfs}"], 2, "holds no install of"),
    ("packages-uninstall-before-install", ["packages", "--uninstall", "six", "--rfs", "{rfs}"], 2, "holds no install"),
]


@pytest.mark.parametrize(("args", "code", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_a_clear_error_and_changes_nothing(
    tmp_path: Path, board: Path, args: list[str], code: int, message: str
) -> None:
    files = _files(tmp_path)
    fill = {
        "rfs": str(board),
        "tmp": str(tmp_path),
        "mips": str(_mips_rfs(tmp_path)),
        "spaced": str(shutil.copytree(board, tmp_path / "my board")),
        "sdk_gcc_only": str(_toolchain_dir(tmp_path, ("gcc",)) / "arm-vendor-linux-gnueabi-gcc"),
        **{k: str(v) for k, v in files.items()},
    }
    argv = [a.format(**fill) for a in args]
    env = {"INVOKE_CROSSPYTHON_ARTIFACTS": str(tmp_path / "artifacts")}
    if message == "Not a directory":
        env["INVOKE_CROSSPYTHON_ARTIFACTS"] = str(files["a_file"] / "artifacts")
    if "ccache remote" in message:
        env["INVOKE_CROSSPYTHON_CCACHE_REMOTE"] = "cache.example:6379"
    if "qemu" in message:
        env["PATH"] = str(tmp_path / "empty-path")  # no qemu-user on it (nor anything else)
    before = tree_state(board)
    done = run_invoke(*argv, env=env)
    assert done.returncode == code, (done.stdout[-2000:], done.stderr[-2000:])
    assert message in done.stderr, done.stderr
    assert done.stderr.lstrip().startswith("error: ") and "Traceback" not in done.stderr + done.stdout
    assert tree_state(board) == before
    assert not any(p.name.endswith(".crosspython-tmp") for p in board.rglob("*"))


def test_a_corrupt_cached_tarball_is_deleted_and_named(tmp_path: Path) -> None:
    """The download cache holds garbage under the pinned name; no source can serve the file here."""
    artifacts = tmp_path / "artifacts"
    cached = artifacts / "downloads" / "Python-3.13.5.tar.xz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated download")
    env = {
        "INVOKE_CROSSPYTHON_ARTIFACTS": str(artifacts),
        "INVOKE_CROSSPYTHON_DEBIAN_MIRROR": "http://127.0.0.1:9/debian",  # nothing listens there
    }
    done = run_invoke("fetch", env=env)
    assert done.returncode == 5, done.stderr
    assert "could not get Python-3.13.5.tar.xz from any source" in done.stderr and "Traceback" not in done.stderr
    assert "cached copy is corrupt" in done.stdout
    assert not cached.exists() and not (artifacts / "src" / "Python-3.13.5").exists()


def test_a_read_only_rfs_is_refused_before_the_first_task(tmp_path: Path, board: Path) -> None:
    """`native cross install` into an RFS on a read-only mount: refused before `native` builds (root
    may write any directory, but not a read-only file system)."""
    artifacts = tmp_path / "artifacts"
    script = (
        'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" || exit 99; '
        'INVOKE_CROSSPYTHON_ARTIFACTS="$2" "$3" -m invoke native cross install --rfs "$1"'
    )
    before = tree_state(board)
    done = run_unshared(script, str(board), str(artifacts), timeout=120)
    assert done.returncode == 2, (done.stdout[-2000:], done.stderr[-2000:])
    assert done.stderr.startswith(f"error: RFS {board} is on a read-only file system"), done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not (artifacts / "build").exists() and "native" not in done.stdout  # nothing ran
    assert tree_state(board) == before
