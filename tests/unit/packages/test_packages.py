"""`packages`' planning logic: target facts, cross files, wheel checks, pip's failures, requirements."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest

from crosspython.core.errors import ConfigError
from crosspython.matrix import Matrix
from crosspython.packages import target as tgt
from crosspython.packages.into_rfs import scheme, top_level_modules
from crosspython.packages.wheels import check_wheel, explain_pip_failure, parse_wheel
from crosspython.pipeline import read_requirements

FACTS = {
    "platform": "linux-armv7l",
    "machine": "armv7l",
    "ext_suffix": ".cpython-313-arm-linux-gnueabihf.so",
    "soabi": "cpython-313-arm-linux-gnueabihf",
    "multiarch": "arm-linux-gnueabihf",
    "cache_tag": "cpython-313",
    "version": [3, 13, 5],
    "hexversion": 0x030D05F0,
    "abiflags": "",
    "shared": False,
    "byteorder": "little",
    "sizeof_pointer": 4,
    "sizeof_long": 4,
    "sizeof_longdouble": 8,
    "longdouble": struct.pack("<d", -123.45).hex(),
    "tags": ["cp313-cp313-manylinux_2_36_armv7l", "cp313-cp313-linux_armv7l", "py3-none-any"],
}


def test_facts_are_read_from_the_probes_marked_line() -> None:
    import json

    facts = tgt.parse_facts("noise\nCROSSPYTHON-FACTS " + json.dumps(FACTS) + "\n")
    assert facts.platform_tag == "linux_armv7l" and facts.version == (3, 13, 5)
    assert facts.longdouble_format == "IEEE_DOUBLE_LE" and facts.tags[0].endswith("armv7l")


def test_no_facts_is_an_error_not_a_guess() -> None:
    with pytest.raises(Exception, match="did not report its facts"):
        tgt.parse_facts("Segmentation fault\n")


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        (struct.pack("<d", -123.45), "IEEE_DOUBLE_LE"),
        (struct.pack(">d", -123.45), "IEEE_DOUBLE_BE"),
        (struct.pack(">d", -123.45) + struct.pack(">d", 0.0), "IBM_DOUBLE_DOUBLE_BE"),
        (b"\xc0\x05" + bytes(14), "IEEE_QUAD_BE"),
        (bytes(14) + b"\x05\xc0", "IEEE_QUAD_LE"),
        (bytes(8) + b"\x05\xc0" + bytes(6), "INTEL_EXTENDED_16_BYTES_LE"),
        (bytes(8) + b"\x05\xc0" + bytes(2), "INTEL_EXTENDED_12_BYTES_LE"),
        (b"\x01\x02\x03", "UNKNOWN"),
    ],
)
def test_long_double_layout_from_its_bytes(raw: bytes, name: str) -> None:
    assert tgt.longdouble_format(raw) == name


def test_meson_cross_file_runs_tests_under_qemu_with_the_probed_facts() -> None:
    facts = tgt.facts_from_json(FACTS)
    text = tgt.meson_cross_file(
        facts,
        cc=["/usr/bin/ccache", "/usr/bin/arm-linux-gnueabihf-gcc", "--sysroot=/rfs"],
        tools={"ar": "/usr/bin/arm-linux-gnueabihf-ar"},
        qemu="qemu-arm",
        rfs=Path("/rfs"),
        pkg_config_libdir="/rfs/usr/lib/pkgconfig",
    )
    assert "c = ['/usr/bin/ccache', '/usr/bin/arm-linux-gnueabihf-gcc', '--sysroot=/rfs']" in text
    assert "cpp = ['/usr/bin/ccache', '/usr/bin/arm-linux-gnueabihf-g++', '--sysroot=/rfs']" in text
    assert "exe_wrapper = ['qemu-arm', '-L', '/rfs']" in text
    assert "cpu_family = 'arm'" in text and "endian = 'little'" in text
    assert "longdouble_format = 'IEEE_DOUBLE_LE'" in text


def test_build_details_and_pyo3_config_describe_the_target() -> None:
    facts = tgt.facts_from_json(FACTS | {"byteorder": "big", "sizeof_pointer": 8, "shared": True})
    details = tgt.build_details(facts)
    assert details["schema_version"] == "1.0" and details["platform"] == "linux-armv7l"
    assert details["abi"]["extension_suffix"] == FACTS["ext_suffix"]
    assert details["c_api"]["headers"] == "/usr/include/python3.13"
    config = tgt.pyo3_config(facts)
    assert "pointer_width=64\n" in config and "shared=true\n" in config and "version=3.13\n" in config


def _wheel(tmp_path: Path, name: str, members: dict[str, bytes]) -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in members.items():
            zf.writestr(member, data)
    return path


def _elf(machine: int, *, big: bool = False, bits: int = 32) -> bytes:
    ident = b"\x7fELF" + bytes([1 if bits == 32 else 2, 2 if big else 1, 1]) + bytes(9)
    return ident + struct.pack(">HH" if big else "<HH", 3, machine) + bytes(64)


def test_a_wheel_for_the_build_host_is_refused(tmp_path: Path, matrix: Matrix) -> None:
    target = matrix.targets["arm-linux-gnueabihf"]
    wheel = parse_wheel(
        _wheel(
            tmp_path,
            "msgpack-1.0-cp313-cp313-linux_x86_64.whl",
            {"msgpack/_cmsgpack.cpython-313-x86_64-linux-gnu.so": _elf(62, bits=64), "msgpack/__init__.py": b""},
        )
    )
    (problem,) = check_wheel(wheel, target, ext_suffix=FACTS["ext_suffix"])
    assert "X86_64/64-bit/little-endian" in problem and "ARM/32-bit/little-endian" in problem


def test_a_wheel_with_a_foreign_extension_suffix_is_refused(tmp_path: Path, matrix: Matrix) -> None:
    target = matrix.targets["arm-linux-gnueabihf"]
    wheel = parse_wheel(
        _wheel(tmp_path, "m-1-cp313-cp313-linux_armv7l.whl", {"m/_x.cpython-313-x86_64-linux-gnu.so": _elf(40)})
    )
    (problem,) = check_wheel(wheel, target, ext_suffix=FACTS["ext_suffix"])
    assert "extension suffix is not the target's" in problem
    fit = parse_wheel(_wheel(tmp_path, "m-2-cp313-cp313-linux_armv7l.whl", {f"m/_x{FACTS['ext_suffix']}": _elf(40)}))
    assert check_wheel(fit, target, ext_suffix=FACTS["ext_suffix"]) == []
    assert not fit.pure and fit.name == "m" and "cp313-cp313-linux_armv7l" in fit.tags


def test_pure_wheel_names_are_parsed_with_every_tag(tmp_path: Path) -> None:
    wheel = parse_wheel(tmp_path / "pyserial-3.5-py2.py3-none-any.whl")
    assert wheel.pure and wheel.tags == {"py2-none-any", "py3-none-any"} and wheel.version == "3.5"
    assert parse_wheel(tmp_path / "Paho_MQTT-2.1.0-py3-none-any.whl").name == "paho-mqtt"


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (
            "ERROR: Could not find a version that satisfies the requirement nosuchpkg (from versions: none)\n"
            "ERROR: No matching distribution found for nosuchpkg",
            "nothing on the index that the target can use for nosuchpkg",
        ),
        (
            "ERROR: Could not find a version that satisfies the requirement msgpack==9.9 (from versions: 1.0.0, 1.1.0)",
            "no version of msgpack==9.9",
        ),
        (
            "src/c/_cffi_backend.c:15:10: fatal error: ffi.h: No such file or directory\n"
            "ERROR: Failed building wheel for cffi",
            "cffi: the C header ffi.h is not in the RFS",
        ),
        ("ld: cannot find -lyaml\nERROR: Failed building wheel for pyyaml", "pyyaml: the library libyaml is not"),
        (
            "Collecting six\nCollecting orjson (from -r r.txt (line 1))\n  Downloading orjson-3.13.0.tar.gz\n"
            "  x Cannot import build backend 'maturin'.\n  ╰─> ModuleNotFoundError: No module named 'maturin'\n",
            "orjson: a Rust extension (maturin)",
        ),
        ("ModuleNotFoundError: No module named 'pdm'\n", "needs pdm, which is not among"),
        ("error: something else\nERROR: Failed building wheel for foo", "the build of foo for the target failed"),
    ],
)
def test_pips_failures_become_one_line(output: str, expected: str) -> None:
    failure = explain_pip_failure(output)
    assert failure is not None and expected in failure.message


def test_an_unknown_failure_is_not_explained() -> None:
    assert explain_pip_failure("Killed\n") is None


def test_requirements_from_a_file_and_specs(tmp_path: Path) -> None:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("# the board\npyserial==3.5 \\\n    --hash=sha256:abc\n\nmsgpack>=1  # fast\n")
    text = read_requirements("paho-mqtt markupsafe==3.*", str(reqs))
    assert text.splitlines()[-2:] == ["paho-mqtt", "markupsafe==3.*"] and "pyserial==3.5" in text


@pytest.mark.parametrize(
    ("specs", "requirements", "message"),
    [
        (None, None, "no packages given"),
        ("", None, "no packages given"),
        ("pyserial==", None, "not a requirement (--specs): 'pyserial=='"),
        (None, "/nonexistent/req.txt", "no such file"),
    ],
)
def test_bad_requirements_are_refused_before_any_work(
    specs: str | None, requirements: str | None, message: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        read_requirements(specs, requirements)
    assert message in exc.value.message


def test_a_bad_requirement_is_named_where_it_was_given(tmp_path: Path) -> None:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("pyserial\nmsgpack>>1\n")
    with pytest.raises(ConfigError, match=r"requirements.txt, line 2\): 'msgpack>>1'"):
        read_requirements("six", str(reqs))
    reqs.write_text("pyserial\n")
    with pytest.raises(ConfigError, match=r"not a requirement \(--specs\): 'six=='"):
        read_requirements("six==", str(reqs))


def test_top_level_modules_and_the_scheme(tmp_path: Path) -> None:
    site = tmp_path / "usr/lib/python3.13/site-packages"
    for rel in (
        "msgpack/__init__.py",
        "serial/__init__.pyc",
        "_cffi_backend.cpython-313-arm-linux-gnueabihf.so",
        "six.py",
        "msgpack-1.0.dist-info/RECORD",
        "numpy.libs/libgfortran.so",
        "__pycache__/x.pyc",
        "data_only/readme.txt",
    ):
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text("")
    assert top_level_modules(tmp_path, "3.13") == ("_cffi_backend", "msgpack", "serial", "six")
    assert scheme("3.13")["platlib"] == "/usr/lib/python3.13/site-packages"
    assert scheme("3.13")["scripts"] == "/usr/bin"


def test_a_missing_cxx_compiler_names_its_package() -> None:
    output = (
        "meson.build:1:0: ERROR: Unknown compiler(s): [['/usr/bin/ccache', '/usr/bin/arm-linux-gnueabihf-g++']]\n"
        "ERROR: Failed building wheel for numpy"
    )
    failure = explain_pip_failure(output)
    assert failure is not None and "numpy: it has C++ sources" in failure.message
    assert "arm-linux-gnueabihf-g++" in failure.message and "g++-arm-linux-gnueabihf" in failure.hint


def test_setup_adds_the_cxx_compilers_only_when_asked(matrix: Matrix, monkeypatch: pytest.MonkeyPatch) -> None:
    from crosspython.build import toolchain

    monkeypatch.setattr(toolchain.shutil, "which", lambda tool: None)  # nothing installed
    monkeypatch.setattr(toolchain, "_installed", lambda package: False)
    targets = [matrix.targets["arm-linux-gnueabihf"]]
    assert "g++-arm-linux-gnueabihf" not in toolchain.missing_packages(targets)
    assert "g++-arm-linux-gnueabihf" in toolchain.missing_packages(targets, cxx=True)


def test_an_rfs_without_sysroot_gives_meson_its_search_paths() -> None:
    text = tgt.meson_cross_file(
        tgt.facts_from_json(FACTS),
        cc=["/usr/bin/powerpc-linux-gnu-gcc"],
        tools={},
        qemu="qemu-ppc",
        rfs=Path("/rfs"),
        pkg_config_libdir="",
        c_args=["-I/rfs/usr/include"],
        link_args=["-L/rfs/usr/lib"],
    )
    assert "[built-in options]\nc_args = ['-I/rfs/usr/include']" in text and "c_link_args = ['-L/rfs/usr/lib']" in text


def test_the_cross_build_environment_points_the_build_interpreter_at_the_target(tmp_path: Path, matrix: Matrix) -> None:
    from crosspython.packages.plan import PackagesPlan

    cell = matrix.cell(python="3.13", triplet="arm-linux-gnueabihf", variant="default")
    work = tmp_path / "packages" / cell.id / "rfs-1234"
    plan = PackagesPlan(
        cell=cell,
        rfs=tmp_path / "rfs",
        build_python=tmp_path / "native" / "python",
        build_dir=tmp_path / "cross",
        stage=tmp_path / "stage",
        tools=tmp_path / "tools",
        wheelhouse=tmp_path / "wheels",
        work=work,
        manifests=tmp_path / "installs",
        debug_dir=tmp_path / "debug",
        pip_cache=tmp_path / "pip-cache",
        requirements="msgpack\n",
        cross_env=(("PATH", "/usr/bin"), ("PKG_CONFIG_LIBDIR", "/rfs/usr/lib/pkgconfig")),
        rfs_lib_dirs=(),
        sysconfigdata="_sysconfigdata__linux_arm-linux-gnueabihf",
        strip="strip",
        objcopy="objcopy",
        qemu="qemu-arm",
    )
    env = plan.env("linux-armv7l")
    assert env["_PYTHON_SYSCONFIGDATA_NAME"] == "_sysconfigdata__linux_arm-linux-gnueabihf"
    assert env["_PYTHON_PROJECT_BASE"] == str(tmp_path / "cross")
    assert env["_PYTHON_HOST_PLATFORM"] == "linux-armv7l"
    assert env["PYTHONPATH"] == f"{work / 'sysconfig'}:{tmp_path / 'tools'}"  # the target's sysconfig first
    assert env["PATH"] == f"{tmp_path / 'tools' / 'bin'}:/usr/bin"
    assert env["PKG_CONFIG_LIBDIR"] == "/rfs/usr/lib/pkgconfig"  # pkg-config reads only the RFS
    assert env["TMPDIR"] == env["CCACHE_BASEDIR"] == str(work / "tmp")
    assert "--cross-file=" in env["CROSSPYTHON_CONFIG_SETTINGS"]
    command = plan.wheel_command()
    assert command[0] == str(tmp_path / "native" / "python") and "--no-build-isolation" in command
    assert command[command.index("--wheel-dir") + 1] == str(work / "wheels")
    assert command[command.index("--find-links") + 1] == str(tmp_path / "wheels")
    tools = plan.tools_command("3.13")
    assert "--require-hashes" in tools and "manylinux_2_17_x86_64" in tools and "cp313" in tools
