"""configure's kept answers: keyed by what decides them, restored whole, dropped when they fail."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crosspython.build import confcache
from crosspython.build.native import plan_native
from crosspython.core.errors import StepFailed
from crosspython.core.layout import Layout
from crosspython.core.runner import Runner
from crosspython.matrix import Matrix
from tests.unit.build.test_plan import _plan

# A stand-in for configure: it reads the cache it was given (-C), fails when told to by a
# line of the cache, and writes its answers as configure does.
FAKE_CONFIGURE = """#!/bin/sh
if [ -f config.cache ]; then
    grep -q poisoned config.cache && { echo "cached answers do not fit"; exit 1; }
    echo "read cached answers: $(cat config.cache)"
fi
echo "ac_cv_func_answer=${CCACHE_DISABLE:-unset}" > config.cache
echo "ac_cv_own_check=yes" >> config.cache
"""


def _configure(tmp_path: Path) -> tuple[str, ...]:
    script = tmp_path / "configure"
    script.write_text(FAKE_CONFIGURE)
    script.chmod(0o755)
    return (str(script), "-C")


def test_answers_are_kept_after_success_and_restored_into_a_fresh_tree(runner: Runner, tmp_path: Path) -> None:
    shared = tmp_path / "cache" / "k.cache"
    command = _configure(tmp_path)
    first = tmp_path / "b1"
    first.mkdir()
    with runner.step("s", "configure") as step:
        confcache.run_configure(step, command, build_dir=first, env={}, shared=shared)
    # configure's own test programs never go through ccache
    assert shared.read_text() == "ac_cv_func_answer=1\n"  # (and not the check of its own)
    second = tmp_path / "b2"
    second.mkdir()
    with runner.step("s", "configure") as step:
        confcache.run_configure(step, command, build_dir=second, env={}, shared=shared)
    assert "read cached answers: ac_cv_func_answer=1" in step.log.read_text()
    assert "configure's answers from" in step.log.read_text()


def test_answers_that_make_configure_fail_are_dropped_and_configure_runs_without(
    runner: Runner, tmp_path: Path
) -> None:
    shared = tmp_path / "k.cache"
    shared.write_text("poisoned\n")
    build = tmp_path / "b"
    build.mkdir()
    with runner.step("s", "configure") as step:
        confcache.run_configure(step, _configure(tmp_path), build_dir=build, env={}, shared=shared)
    assert shared.read_text() == "ac_cv_func_answer=1\n"  # the fresh answers replaced the bad ones
    assert "configuring again without them" in step.log.read_text()


def test_a_failed_configure_keeps_nothing(runner: Runner, tmp_path: Path) -> None:
    script = tmp_path / "configure"
    script.write_text("#!/bin/sh\necho half > config.cache\nexit 3\n")
    script.chmod(0o755)
    shared = tmp_path / "k.cache"
    build = tmp_path / "b"
    build.mkdir()
    with pytest.raises(StepFailed), runner.step("s", "configure") as step:
        confcache.run_configure(step, (str(script), "-C"), build_dir=build, env={}, shared=shared)
    assert not shared.exists()


def test_the_key_follows_the_host_and_the_rfs(tmp_path: Path) -> None:
    key = confcache.cache_key({"a": 1}, {"X": "1"}, host="h1", rfs="r1")
    assert key == confcache.cache_key({"a": 1}, {"X": "1"}, host="h1", rfs="r1")
    assert key != confcache.cache_key({"a": 1}, {"X": "1"}, host="h2", rfs="r1")
    assert key != confcache.cache_key({"a": 1}, {"X": "1"}, host="h1", rfs="r2")
    assert key != confcache.cache_key({"a": 1}, {"X": "2"}, host="h1", rfs="r1")
    status = tmp_path / "status"
    assert confcache.host_packages(status) is None  # no dpkg database: nothing is kept
    status.write_text("Package: a\n")
    assert confcache.host_packages(status)


def test_rfs_state_sees_libraries_and_headers_but_not_pythons_own(tmp_path: Path) -> None:
    lib, include = tmp_path / "usr" / "lib", tmp_path / "usr" / "include"
    (include / "openssl").mkdir(parents=True)
    lib.mkdir(parents=True, exist_ok=True)
    (lib / "libz.so.1").write_bytes(b"z")
    (include / "openssl" / "ssl.h").write_text("x")

    def state() -> str:
        return confcache.tree_state([lib], recursive=[include])

    before = state()
    # what an install of Python adds changes none of configure's answers
    (include / "python3.13").mkdir()
    (include / "python3.13" / "Python.h").write_text("p")
    (lib / "python3.13").mkdir()
    (lib / "python3.13" / "os.py").write_text("o")
    (lib / "libpython3.13.a").write_bytes(b"a")
    assert state() == before
    (lib / "libffi.so.8").write_bytes(b"f")
    assert state() != before
    after_lib = state()
    (include / "openssl" / "ssl.h").write_text("changed header")
    os.utime(include / "openssl" / "ssl.h", ns=(1, 1))
    assert state() != after_lib


def _surroundings(tmp_path: Path, packages: str, rfs_lib: str | None = None) -> confcache.Surroundings:
    """A dpkg status file holding `packages` and, with rfs_lib, an RFS library directory holding it."""
    status = tmp_path / "status"
    status.write_text(packages)
    if rfs_lib is None:
        return confcache.Surroundings(status=status)
    lib = tmp_path / "rfs-lib"
    lib.mkdir(exist_ok=True)
    for old in lib.iterdir():
        old.unlink()
    (lib / rfs_lib).write_bytes(b"so")
    os.utime(lib / rfs_lib, ns=(1, 1))  # the same file again, not a newer one
    return confcache.Surroundings(status=status, dirs=(lib,))


def test_plans_name_a_cache_only_when_the_surroundings_are_known(matrix: Matrix, tmp_path: Path) -> None:
    version = matrix.version("3.13")
    layout = Layout(tmp_path / "artifacts")
    common = dict(layout=layout, source_dir=tmp_path / "src", jobs=2, ccache=None, host_cc="gcc", cc_version="gcc 12")
    assert plan_native(version, **common).configure_answers is None  # type: ignore[arg-type]
    answers = plan_native(version, **common, surroundings=_surroundings(tmp_path, "h1")).configure_answers  # type: ignore[arg-type]
    assert answers is not None
    kept = answers.path()
    assert kept is not None and kept.parent == tmp_path / "artifacts" / "cache" / "configure"
    assert kept.name.startswith("native-cp313-")
    # named when configure runs: packages installed since the plan was made change the name
    _surroundings(tmp_path, "h2")
    assert answers.path() not in (None, kept)
    # no dpkg database: nothing is kept
    assert (
        confcache.kept_path(
            plan_native(
                version, **common, surroundings=confcache.Surroundings(status=tmp_path / "none")
            ).configure_answers  # type: ignore[arg-type]
        )
        is None
    )
    assert _plan(matrix, tmp_path).configure_answers is None
    # the cross build reads them through its config.site: its configure line (sysconfig's
    # CONFIG_ARGS, which is installed) stays what it was
    assert "-C" not in _plan(matrix, tmp_path).configure
    assert _plan(matrix, tmp_path).config_site.endswith("cache_file=config.cache\n")


def test_a_cross_plan_keeps_answers_per_cell_host_and_rfs_content(matrix: Matrix, tmp_path: Path) -> None:
    def kept(packages: str, rfs_lib: str) -> Path | None:
        plan = _plan(matrix, tmp_path, surroundings=_surroundings(tmp_path, packages, rfs_lib))
        return confcache.kept_path(plan.configure_answers)

    one = kept("h", "libz.so.1")
    assert one is not None and one.name.startswith("cp313-arm-linux-gnueabihf-default-")
    assert one == kept("h", "libz.so.1")
    assert one != kept("h", "libffi.so.8")
    assert one != kept("h2", "libz.so.1")


CACHE = """# This file is a shell script that caches the results of configure
ac_cv_build=${ac_cv_build=x86_64-pc-linux-gnu}
ac_cv_env_CC_set=set
ac_cv_env_CC_value='ccache gcc'
ac_cv_func_getrandom=${ac_cv_func_getrandom=yes}
ac_cv_header_zlib_h=${ac_cv_header_zlib_h=yes}
ac_cv_sizeof_long=${ac_cv_sizeof_long=4}
ac_cv_wl_no_as_needed=${ac_cv_wl_no_as_needed=yes}
ac_cv_lib_ffi_ffi_call=${ac_cv_lib_ffi_ffi_call='yes
still the same value'}
ac_cv_working_tzset=${ac_cv_working_tzset=yes}
"""


def test_only_answers_of_autoconfs_own_checks_are_kept() -> None:
    """CPython's own checks may set variables inside their cached part: "-Wl,--no-as-needed"
    sets NO_AS_NEEDED only when it runs, so its kept answer would drop it from the Makefile."""
    kept = confcache.kept_answers(CACHE)
    names = [line.split("=", 1)[0] for line in kept.splitlines() if "=" in line]
    assert names == [
        "ac_cv_build",
        "ac_cv_func_getrandom",
        "ac_cv_header_zlib_h",
        "ac_cv_sizeof_long",
        "ac_cv_lib_ffi_ffi_call",
    ]
    assert "still the same value'}" in kept  # a value on two lines stays whole
    assert "no_as_needed" not in kept and "ac_cv_env_" not in kept
