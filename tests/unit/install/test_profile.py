"""Install profiles: the data model and its validation, and what each keeps of a stage (pure)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crosspython.core.errors import ConfigError
from crosspython.install.profile import category, module_dropped, modules_in, select, stdlib_file
from crosspython.matrix import Matrix, Profile, load_matrix, load_profiles
from crosspython.rfs.merge import staged_entries
from tests.conftest import FIXTURE_MATRIX
from tests.unit.trees import ARM_ELF_HEADER, fake_stage


def _stage(root: Path) -> Path:
    """A fake stage with what the profiles tell apart: tests, GUI, headers, static library, bytecode."""
    fake_stage(root)
    std = root / "usr" / "lib" / "python3.13"
    files = {
        "usr/lib/python3.13/json/__init__.py": "",
        "usr/lib/python3.13/json/decoder.py": "",
        "usr/lib/python3.13/json/__pycache__/decoder.cpython-313.opt-1.pyc": "",
        "usr/lib/python3.13/test/test_os.py": "",
        "usr/lib/python3.13/sqlite3/test/test_dump.py": "",
        "usr/lib/python3.13/idlelib/idle.py": "",
        "usr/lib/python3.13/ensurepip/_bundled/pip.whl": "wheel",
        "usr/lib/python3.13/encodings/cp932.py": "",
        "usr/lib/python3.13/encodings/utf_8.py": "",
        "usr/lib/python3.13/_pydecimal.py": "",
        "usr/lib/python3.13/config-3.13-arm-linux-gnueabihf/libpython3.13.a": "!<arch>",
        "usr/lib/python3.13/config-3.13-arm-linux-gnueabihf/Makefile": "",
        "usr/lib/python3.13/site-packages/README.txt": "",
        "usr/lib/libpython3.13.a": "!<arch>",
        "usr/include/python3.13/Python.h": "",
        "usr/include/python3.13/pyconfig.h": "",
        "usr/bin/python3.13-config": "",
        "usr/share/man/man1/python3.13.1": "",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for module in ("_testcapi", "_codecs_jp", "xxlimited"):
        (std / "lib-dynload" / f"{module}.cpython-313-arm-linux-gnueabihf.so").write_bytes(ARM_ELF_HEADER)
    return root


def test_the_shipped_profiles_load(shipped_matrix: Matrix) -> None:
    assert {"full", "standard", "minimal"} <= set(shipped_matrix.profiles)
    standard = shipped_matrix.profile("standard")
    assert standard.stdlib == "pyc" and not standard.sources and standard.strip
    minimal = shipped_matrix.profile("minimal")
    assert minimal.stdlib == "zip" and {"ssl", "hashlib", "zlib", "ctypes", "json", "sqlite3", "asyncio"} <= set(
        minimal.modules
    )
    assert {"socket", "subprocess", "logging", "argparse", "datetime", "zoneinfo"} <= set(minimal.modules)
    # Every module the standard profile leaves out says why.
    assert all(why.strip() for _, why in standard.drop_modules)


def test_stdlib_paths_map_to_their_modules() -> None:
    found = stdlib_file("usr/lib/python3.13/os.py", "3.13")
    assert found is not None and (found.module, found.kind) == ("os", "source")
    found = stdlib_file("usr/lib/python3.13/json/__pycache__/decoder.cpython-313.opt-1.pyc", "3.13")
    assert found is not None and (found.module, found.kind) == ("json.decoder", "bytecode")
    found = stdlib_file("usr/lib/python3.13/json/__init__.py", "3.13")
    assert found is not None and (found.module, found.kind) == ("json", "source")
    found = stdlib_file("usr/lib/python3.13/lib-dynload/_ssl.cpython-313-arm-linux-gnueabihf.so", "3.13")
    assert found is not None and (found.module, found.kind) == ("_ssl", "extension")
    found = stdlib_file("usr/lib/python2.7/lib-tk/Tkinter.pyc", "2.7")
    assert found is not None and found.module == "Tkinter"  # lib-tk is a sys.path directory, not a package
    found = stdlib_file("usr/lib/python3.13/ensurepip/_bundled/pip.whl", "3.13")
    assert found is not None and (found.module, found.kind) == ("ensurepip._bundled", "data")
    assert stdlib_file("usr/bin/python3.13", "3.13") is None
    assert category("usr/lib/python3.13/test/test_os.py", "3.13") == "tests"
    assert category("usr/lib/python3.13/lib-dynload/_testcapi.cpython-313-x.so", "3.13") == "tests"
    assert category("usr/lib/libpython3.13.a", "3.13") == "static libraries"
    assert category("usr/include/python3.13/Python.h", "3.13") == "headers and config"
    assert category("usr/lib/python313.zip", "3.13") == "stdlib zip"
    assert category("usr/bin/python3.13", "3.13") == "interpreter"


def test_full_keeps_everything(matrix: Matrix, tmp_path: Path) -> None:
    stage = _stage(tmp_path / "stage")
    entries = staged_entries(stage)
    selection = select(entries, matrix.profile("full"), "3.13")
    assert selection.dropped == () and list(selection.kept) == entries


def test_standard_drops_tests_gui_headers_and_static_libraries(matrix: Matrix, tmp_path: Path) -> None:
    stage = _stage(tmp_path / "stage")
    selection = select(staged_entries(stage), matrix.profile("standard"), "3.13")
    kept = {rel for rel, kind in selection.kept if kind != "dir"}
    dropped = {d.path: d for d in selection.dropped}
    for rel in (
        "usr/lib/python3.13/test/test_os.py",
        "usr/lib/python3.13/sqlite3/test/test_dump.py",
        "usr/lib/python3.13/idlelib/idle.py",
        "usr/lib/python3.13/ensurepip/_bundled/pip.whl",
        "usr/lib/python3.13/encodings/cp932.py",
        "usr/lib/python3.13/_pydecimal.py",
        "usr/lib/python3.13/config-3.13-arm-linux-gnueabihf/libpython3.13.a",
        "usr/lib/libpython3.13.a",
        "usr/include/python3.13/Python.h",
        "usr/bin/python3.13-config",
        "usr/share/man/man1/python3.13.1",
        "usr/lib/python3.13/lib-dynload/_testcapi.cpython-313-arm-linux-gnueabihf.so",
        "usr/lib/python3.13/lib-dynload/_codecs_jp.cpython-313-arm-linux-gnueabihf.so",
        "usr/lib/python3.13/lib-dynload/xxlimited.cpython-313-arm-linux-gnueabihf.so",
    ):
        assert rel in dropped and rel not in kept, rel
    assert dropped["usr/lib/python3.13/test/test_os.py"].category == "tests"
    assert "test-target" in dropped["usr/lib/python3.13/test/test_os.py"].why
    assert dropped["usr/lib/libpython3.13.a"].category == "static libraries"
    for rel in (
        "usr/bin/python3.13",
        "usr/bin/python3",
        "usr/lib/python3.13/os.py",
        "usr/lib/python3.13/json/decoder.py",
        "usr/lib/python3.13/encodings/utf_8.py",
        "usr/include/python3.13/pyconfig.h",  # kept: sysconfig and distutils read it
        "usr/lib/python3.13/config-3.13-arm-linux-gnueabihf/Makefile",
        "usr/lib/python3.13/lib-dynload/_ssl.cpython-313-arm-linux-gnueabihf.so",
    ):
        assert rel in kept, rel
    # Directories come with what they hold, parents first; emptied ones stay out.
    dirs = [rel for rel, kind in selection.kept if kind == "dir"]
    assert "usr/lib/python3.13/test" not in dirs and "usr/share" not in dirs
    assert dirs.index("usr") < dirs.index("usr/lib") < dirs.index("usr/lib/python3.13")


def test_a_closure_keeps_only_what_the_module_list_imports(matrix: Matrix, tmp_path: Path) -> None:
    stage = _stage(tmp_path / "stage")
    closure = frozenset({"os", "json", "json.decoder", "_ssl", "encodings", "encodings.utf_8"})
    selection = select(staged_entries(stage), matrix.profile("minimal"), "3.13", closure=closure)
    kept = {rel for rel, kind in selection.kept if kind != "dir"}
    assert "usr/lib/python3.13/json/decoder.py" in kept and "usr/lib/python3.13/os.py" in kept
    assert "usr/lib/python3.13/lib-dynload/_ssl.cpython-313-arm-linux-gnueabihf.so" in kept
    assert "usr/lib/python3.13/lib-dynload/zlib.cpython-313-arm-linux-gnueabihf.so" not in kept
    assert "usr/lib/python3.13/_pydecimal.py" not in kept
    why = {d.path: d.why for d in selection.dropped}
    assert why["usr/lib/python3.13/lib-dynload/zlib.cpython-313-arm-linux-gnueabihf.so"] == (
        "not imported by the profile's module list"
    )


def test_module_patterns_take_packages_with_them(matrix: Matrix) -> None:
    standard = matrix.profile("standard")
    assert module_dropped("test.support.os_helper", standard)
    assert module_dropped("sqlite3.test", standard) and module_dropped("_testinternalcapi", standard)
    assert module_dropped("encodings.shift_jis_2004", standard)
    assert module_dropped("json", standard) is None and module_dropped("encodings.utf_8", standard) is None
    assert module_dropped("testing_is_not_test", standard) is None


def test_modules_in_reads_a_tree_and_its_zip(tmp_path: Path) -> None:
    import zipfile

    root = tmp_path / "rfs"
    (root / "usr/lib/python3.13/lib-dynload").mkdir(parents=True)
    (root / "usr/lib/python3.13/lib-dynload/_ssl.cpython-313-arm-linux-gnueabihf.so").write_bytes(b"")
    (root / "usr/lib/python3.13/os.pyc").write_bytes(b"")
    (root / "usr/lib/python3.13/site-packages").mkdir()
    (root / "usr/lib/python3.13/site-packages/theirs.py").write_text("")
    with zipfile.ZipFile(root / "usr/lib/python313.zip", "w") as zf:
        zf.writestr("json/__init__.pyc", b"")
        zf.writestr("json/decoder.pyc", b"")
    assert modules_in(root, "3.13") == ["_ssl", "json", "json.decoder", "os"]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('stdlib = "pyc"\nsources = false', 'stdlib = "tar"\nsources = false', "'stdlib' must be one of"),
        ('\nstdlib = "zip"\n', '\nstdlib = "as-built"\nsources = false\n', "sources = false needs stdlib"),
        (
            '"_pyio" = "pure-Python io: `import io` uses the C _io; only tests import _pyio"',
            '"_pyio" = " "',
            "needs a reason",
        ),
        ('"usr/share/*",', '"/usr/share/*",', "must be relative to the RFS root"),
        ('"usr/share/*",', '"{prefix}/share/*",', "only {stdlib} and {version}"),
        ("[profiles.standard]", "[profiles.Standard]", "profile name 'Standard'"),
        ("[profiles.full]\n", "[profiles.full]\nstrips = true\n", "unknown key(s) strips"),
    ],
)
def test_bad_profile_data_is_a_clear_error(tmp_path: Path, old: str, new: str, message: str) -> None:
    directory = tmp_path / "matrix"
    shutil.copytree(FIXTURE_MATRIX, directory)
    path = directory / "profiles.toml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_matrix(directory)
    assert message in info.value.message and "profiles.toml" in info.value.message


def test_a_users_profile_is_one_more_table(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text(
        '[profiles.kiosk]\ndescription = "no tests, sources kept"\nstdlib = "pyc"\n'
        '[profiles.kiosk.drop_modules]\n"test" = "not on the kiosk"\n'
    )
    profiles = load_profiles(mine, require_default=False)
    kiosk = profiles["kiosk"]
    assert isinstance(kiosk, Profile) and kiosk.sources and kiosk.drop_modules == (("test", "not on the kiosk"),)


def test_2_7_config_dir_and_windows_stubs_are_handled(matrix: Matrix, tmp_path: Path) -> None:
    """2.7 keeps its build settings in config/ (not config-2.7-<multiarch>/), beside configparser-like names."""
    root = tmp_path / "stage"
    for rel in (
        "usr/bin/python2.7",
        "usr/lib/python2.7/config/libpython2.7.a",
        "usr/lib/python2.7/config/Makefile",
        "usr/lib/python2.7/ConfigParser.py",
        "usr/lib/python2.7/distutils/command/wininst-9.0.exe",
        "usr/lib/python2.7/distutils/command/build.py",
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    selection = select(staged_entries(root), matrix.profile("standard"), "2.7")
    kept = {rel for rel, kind in selection.kept if kind == "file"}
    assert kept == {
        "usr/bin/python2.7",
        "usr/lib/python2.7/config/Makefile",
        "usr/lib/python2.7/ConfigParser.py",
        "usr/lib/python2.7/distutils/command/build.py",
    }
    assert category("usr/lib/python2.7/config/libpython2.7.a", "2.7") == "static libraries"
    assert category("usr/lib/python2.7/config/Makefile", "2.7") == "headers and config"
    assert category("usr/lib/python3.13/configparser.py", "3.13") == "stdlib sources"
