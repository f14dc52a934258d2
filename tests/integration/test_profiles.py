"""Install profiles for real: CPython 3.13 on arm-linux-gnueabihf, each profile installed into the
default RFS and verified under qemu-arm, a profile switch that removes exactly what it should, a
read-only RFS that the interpreter never tries to write, an application's own closure, and the
size gate on a profile's footprint.

Reuses the main job's build (test_cross_build): profiles select from the stage, they never rebuild.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.integration.test_cross_build import ARTIFACTS, CELL, DEFAULT_RFS, ROOT, invoke, verify_checks

pytestmark = pytest.mark.integration

BOARD = ARTIFACTS / "board" / CELL


def manifest() -> dict[str, object]:
    (path,) = list((ARTIFACTS / "installs").glob(f"arm-linux-gnueabihf-*/{CELL}.json"))
    data: dict[str, object] = json.loads(path.read_text())
    return data


def tree_state(root: Path, skip: set[str]) -> dict[str, str]:
    """Every path under `root` but `skip`: its kind, mode and content hash (or link target)."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if rel in skip:
                continue
            st = path.lstat()
            if path.is_symlink():
                state[rel] = f"link {os.readlink(path)}"
            elif path.is_dir():
                state[rel] = f"dir {st.st_mode:o}"
            else:
                state[rel] = f"file {st.st_mode:o} {hashlib.sha256(path.read_bytes()).hexdigest()}"
    return state


@pytest.fixture(scope="module")
def built() -> None:
    done = invoke("native", "cross", "install", "verify")
    assert done.returncode == 0, done.stderr


def test_the_default_install_is_standard_stripped_and_small(built: None) -> None:
    data = manifest()
    assert data["profile"] == "standard"
    paths = {f["path"] for f in data["files"]}  # type: ignore[attr-defined]
    assert "usr/bin/python3.13" in paths and "usr/lib/python3.13/os.pyc" in paths
    assert not any(p.startswith("usr/lib/python3.13/test/") or p.endswith(".a") for p in paths)
    assert not any(p.endswith(".py") for p in paths)  # pyc only
    assert data["total_bytes"] < 16_000_000  # the goal for 3.13 on armhf
    # Stripped on the board, debug information on the host, linked.
    readelf = subprocess.run(
        ["arm-linux-gnueabihf-readelf", "-S", str(DEFAULT_RFS / "usr/bin/python3.13")], capture_output=True, text=True
    )
    assert ".debug_info" not in readelf.stdout and ".gnu_debuglink" in readelf.stdout
    assert (ARTIFACTS / "debug" / CELL / "usr/bin/python3.13.debug").stat().st_size > 10_000_000
    checks = verify_checks(CELL)
    assert all(c["ok"] for c in checks.values()), checks
    assert re.match(r"\d+ modules imported", str(checks["imports"]["detail"]))
    assert int(str(checks["imports"]["detail"]).split()[0]) > 500


def test_a_profile_switch_removes_exactly_what_it_drops(built: None) -> None:
    """standard -> minimal -> full -> standard in the same RFS; a file of the user's survives each."""
    mine = DEFAULT_RFS / "usr" / "lib" / "python3.13" / "users-own.txt"
    mine.write_bytes(b"placed by the board's owner\n")
    try:
        before_python = {f["path"] for f in manifest()["files"]}  # type: ignore[attr-defined]
        others = tree_state(DEFAULT_RFS, skip=set())
        for profile in ("minimal", "full", "standard"):
            done = invoke("install", "--profile", profile, "verify")
            assert done.returncode == 0, done.stderr
            data = manifest()
            assert data["profile"] == profile
            installed = {f["path"] for f in data["files"]}  # type: ignore[attr-defined]
            # What the RFS holds of python3.13's tree is what this profile installed, and nothing else ...
            stdlib = {
                str(p.relative_to(DEFAULT_RFS))
                for p in (DEFAULT_RFS / "usr/lib/python3.13").rglob("*")
                if not p.is_dir() or p.is_symlink()
            }
            assert stdlib - installed == {"usr/lib/python3.13/users-own.txt"}
            # ... and the user's file is byte-identical.
            assert mine.read_bytes() == b"placed by the board's owner\n"
            if profile == "minimal":
                assert "usr/lib/python313.zip" in installed
                assert not any(p.endswith(".pyc") for p in installed)  # all in the zip
        # Back to standard: everything outside the installs is as it was.
        after = tree_state(DEFAULT_RFS, skip=set())
        unchanged = {
            k: v for k, v in others.items() if k not in before_python and not k.startswith("usr/lib/python3.13")
        }
        assert {k: after.get(k) for k in unchanged} == unchanged
    finally:
        mine.unlink(missing_ok=True)


def _no_write_attempts(rfs: Path) -> None:
    """Run the interpreter from a read-only bind mount of `rfs` under qemu-arm -strace: it must run,
    and never open a file for writing nor make a directory (no __pycache__ is attempted)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a read-only bind mount needs root and unshare (util-linux)")
    mount = ARTIFACTS / "test" / "ro-mount"
    mount.mkdir(parents=True, exist_ok=True)
    script = (
        f"mount --bind {rfs} {mount} && mount -o remount,ro,bind {mount} && "
        f"qemu-arm -strace -L {mount} {mount}/usr/bin/python3.13 -c "
        "'import json, asyncio, ssl, sqlite3, zoneinfo, logging, argparse, subprocess; print(\"ran\")'"
    )
    done = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ran" in done.stdout
    calls = done.stdout + done.stderr
    writes = [
        line
        for line in calls.splitlines()
        if re.search(r"\b(openat|open)\(.*(O_WRONLY|O_RDWR|O_CREAT)", line) or re.search(r"\bmkdirat?\(", line)
    ]
    assert writes == [], writes[:10]


@pytest.mark.parametrize("profile", ["standard", "minimal"])
def test_a_read_only_rfs_runs_without_writing(built: None, profile: str, tmp_path: Path) -> None:
    done = invoke("install", "--profile", profile)
    assert done.returncode == 0, done.stderr
    copy = ARTIFACTS / "test" / f"ro-{profile}"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(DEFAULT_RFS, copy, symlinks=True)
    try:
        _no_write_attempts(copy)
    finally:
        shutil.rmtree(copy)
        assert invoke("install").returncode == 0  # back to the default profile


def test_an_application_gets_exactly_its_closure(built: None, tmp_path: Path) -> None:
    """A small application importing json, sqlite3 and http.client, with --profile minimal --app."""
    app = tmp_path / "myapp.py"
    app.write_text(
        "import json, sqlite3, http.client\n"
        "con = sqlite3.connect(':memory:')\n"
        "print(json.dumps({'sqlite': con.execute('select sqlite_version()').fetchone()[0],\n"
        "                  'http': http.client.responses[200]}))\n"
    )
    done = invoke("install", "--profile", "minimal", "--app", str(app), "verify", "--app", str(app))
    try:
        assert done.returncode == 0, done.stderr
        assert "application modules seen: myapp" in done.stdout
        run = subprocess.run(
            ["qemu-arm", "-L", str(DEFAULT_RFS), str(DEFAULT_RFS / "usr/bin/python3.13"), "-I", str(app)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr
        out = json.loads(run.stdout)
        assert out["http"] == "OK" and out["sqlite"].startswith("3.")
        with zipfile.ZipFile(DEFAULT_RFS / "usr/lib/python313.zip") as zf:
            names = set(zf.namelist())
        assert {"json/__init__.pyc", "sqlite3/__init__.pyc", "http/client.pyc"} <= names
        assert not any(n.startswith(("tarfile", "xml/", "unittest/")) for n in names)  # never imported
    finally:
        assert invoke("install").returncode == 0


def test_the_gate_fails_on_a_profiles_footprint_growth(built: None, tmp_path: Path) -> None:
    assert invoke("board", "--profile", "minimal").returncode == 0
    done = invoke("sizes")
    assert done.returncode == 0, done.stderr
    report = json.loads((ARTIFACTS / "reports" / "sizes.json").read_text())
    totals = {f["profile"]: f["total"] for f in report["footprints"] if f["cell"] == CELL}
    assert {"standard", "minimal"} <= set(totals) and totals["minimal"] < totals["standard"]
    baseline = json.loads((ROOT / "matrix" / "sizes-baseline.json").read_text())
    metric = "installed total (profile standard)"
    assert metric in baseline["cells"][CELL], "the baseline tracks each profile's installed total"
    baseline["cells"][CELL][metric] = int(totals["standard"] / 1.10)
    shrunk = tmp_path / "baseline.json"
    shrunk.write_text(json.dumps(baseline))
    failed = invoke("sizes", "--check", f"--baseline={shrunk}")
    assert failed.returncode == 8
    assert f"{CELL} / {metric}" in failed.stderr and "+10.0" in failed.stderr


def test_verify_names_an_installed_file_changed_since(built: None) -> None:
    target = DEFAULT_RFS / "usr" / "lib" / "python3.13" / "json" / "decoder.pyc"
    original = target.read_bytes()
    target.write_bytes(original + b"\0")  # someone edited the board's copy
    try:
        done = invoke("verify")
        assert done.returncode == 7
        assert "installed files" in done.stdout and "usr/lib/python3.13/json/decoder.pyc" in done.stdout
    finally:
        again = invoke("install", "verify")  # the install puts it back (its size no longer matches)
        assert again.returncode == 0, again.stderr
    assert target.read_bytes() == original
