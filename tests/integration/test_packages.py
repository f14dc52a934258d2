"""`invoke packages` with real cross builds: pure and C packages (setuptools, Cython, cffi linking the
RFS's libffi) for armhf (little-endian) and 32-bit PowerPC (big-endian, no wheels on PyPI), installed
into the default RFS, a function of each called under qemu-user; then every bad input of the issue,
each a one-line error with the RFS byte-identical; then uninstall, which gives back the RFS as it was.

Reuses the cells test_cross_build and test_big_endian built; the wheels come from PyPI (sdists built
with the cell's tool-chain through ccache).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from crosspython.core.elf import read_header
from tests.faults.test_bad_input import tree_state
from tests.integration.test_cross_build import ARTIFACTS, invoke, verify_checks

pytestmark = pytest.mark.integration

SPECS = "pyserial paho-mqtt markupsafe msgpack cffi"
QEMU = {"arm-linux-gnueabihf": "qemu-arm", "powerpc-linux-gnu": "qemu-ppc"}
ELF = {"arm-linux-gnueabihf": ("ARM", 32, "little"), "powerpc-linux-gnu": ("PPC", 32, "big")}

# Each package does something on the target; the C ones prove their extension module is the one used.
CALLS = r"""
import cffi, markupsafe, msgpack, serial, paho.mqtt.client as mqtt
port = serial.serial_for_url("loop://", timeout=1)
port.write(b"ping")
assert port.read(4) == b"ping"
assert msgpack.unpackb(msgpack.packb({"t": [1, 2.5, "x"]})) == {"t": [1, 2.5, "x"]}
assert msgpack.Packer.__module__ == "msgpack._cmsgpack", msgpack.Packer.__module__
assert str(markupsafe.escape("<b>")) == "&lt;b&gt;"
assert markupsafe._escape_inner.__module__ == "markupsafe._speedups"
ffi = cffi.FFI()
ffi.cdef("size_t strlen(const char *);")
assert ffi.dlopen(None).strlen(b"hello") == 5
assert mqtt.topic_matches_sub("sensors/+", "sensors/t1")
print("CALLS OK", msgpack.version, cffi.__version__)
"""


def _rfs(triplet: str) -> Path:
    return ARTIFACTS / "rfs" / triplet


def _manifests(triplet: str) -> Path:
    """Where `packages` records what it installed into the default RFS of `triplet`."""
    (installs,) = (ARTIFACTS / "installs").glob(f"{triplet}-*")
    return installs / "packages" / "cp313"


@pytest.fixture(scope="module", params=sorted(QEMU))
def installed(request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, str], subprocess.CompletedProcess[str]]]:
    """The cell installed (built by the earlier modules), the RFS before the packages, then `packages`."""
    triplet = str(request.param)
    assert invoke("native", "cross", "install", "--triplet", triplet).returncode == 0
    left = sorted(p.stem for p in _manifests(triplet).glob("*.json"))
    if left:  # from an earlier run of these tests that stopped before its uninstall
        assert invoke("packages", "--triplet", triplet, "--uninstall", " ".join(left)).returncode == 0
    before = tree_state(_rfs(triplet))
    done = invoke("packages", "--triplet", triplet, "--specs", SPECS)
    yield triplet, before, done


def test_packages_are_built_for_the_target_and_work_there(
    installed: tuple[str, dict[str, str], subprocess.CompletedProcess[str]],
) -> None:
    triplet, _, done = installed
    assert done.returncode == 0, done.stderr
    rfs = _rfs(triplet)
    ran = subprocess.run(
        [QEMU[triplet], "-L", str(rfs), str(rfs / "usr/bin/python3.13"), "-I", "-B", "-c", CALLS],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "CALLS OK" in ran.stdout, ran.stderr
    site = rfs / "usr/lib/python3.13/site-packages"
    modules = [*site.glob("msgpack/*.so"), *site.glob("markupsafe/*.so"), *site.glob("_cffi_backend*.so")]
    assert len(modules) == 3
    for module in modules:
        header = read_header(module)
        assert header is not None and (header.machine, header.elf_class, header.endianness) == ELF[triplet]
        assert module.name.endswith(f"-{triplet}.so") or module.name.endswith(".abi3.so"), module.name
        debug = (
            ARTIFACTS / "debug" / f"cp313-{triplet}-default" / "packages" / (str(module.relative_to(rfs)) + ".debug")
        )
        assert debug.is_file(), debug  # stripped on the board, debug info on the host
    # The board's profile (standard): unchecked-hash .pyc, no sources; scripts run the board's python.
    assert (site / "msgpack/__init__.pyc").read_bytes()[4:8] == b"\x01\0\0\0"  # PEP 552: unchecked hash
    assert not list(site.rglob("*.py"))
    assert (rfs / "usr/bin/pyserial-miniterm").read_text().startswith("#!/usr/bin/python3.13\n")
    wheels = {p.name for p in (ARTIFACTS / "wheels" / f"cp313-{triplet}-default").glob("*.whl")}
    assert any(w.startswith("msgpack-") and "x86_64" not in w for w in wheels), wheels


def test_a_second_run_does_nothing(installed: tuple[str, dict[str, str], subprocess.CompletedProcess[str]]) -> None:
    triplet, _, done = installed
    assert done.returncode == 0
    state = tree_state(_rfs(triplet))
    started = time.monotonic()
    again = invoke("packages", "--triplet", triplet, "--specs", SPECS)
    print(f"unchanged rerun: {time.monotonic() - started:.2f}s")
    assert again.returncode == 0 and "up to date" in again.stdout
    assert "packages-wheels" not in again.stdout
    assert tree_state(_rfs(triplet)) == state


def test_verify_imports_the_packages(installed: tuple[str, dict[str, str], subprocess.CompletedProcess[str]]) -> None:
    triplet, _, done = installed
    assert done.returncode == 0
    assert invoke("verify", "--triplet", triplet).returncode == 0
    checks = verify_checks(f"cp313-{triplet}-default")
    assert checks["imports"]["ok"] and checks["installed files"]["ok"]
    log = (ARTIFACTS / "logs" / f"cp313-{triplet}-default" / "verify.log").read_text()
    assert all(f'"{m}"' in log for m in ("msgpack", "markupsafe", "serial", "paho", "cffi", "_cffi_backend"))


def _foreign_wheel(directory: Path, triplet: str) -> None:
    """A wheel that claims the target's tags but holds an x86_64 extension module (the build host's)."""
    directory.mkdir(parents=True, exist_ok=True)
    tag = "linux_armv7l" if triplet.startswith("arm") else "linux_ppc"
    with zipfile.ZipFile(directory / f"mislabelled-1.0-cp313-cp313-{tag}.whl", "w") as zf:
        zf.write(shutil.which("true") or "/bin/true", f"mislabelled/_impl.cpython-313-{triplet}.so")
        zf.writestr("mislabelled/__init__.py", "")
        zf.writestr("mislabelled-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: mislabelled\nVersion: 1.0\n")
        zf.writestr(
            "mislabelled-1.0.dist-info/WHEEL", f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp313-cp313-{tag}\n"
        )
        zf.writestr("mislabelled-1.0.dist-info/RECORD", "")


def _mislinked_wheel(directory: Path, triplet: str) -> None:
    """A wheel for the target whose extension module links a library the RFS has not (compiled here
    with the target's tool-chain against a stub of that library)."""
    tag = "linux_armv7l" if triplet.startswith("arm") else "linux_ppc"
    build = directory / "build"
    build.mkdir(parents=True, exist_ok=True)
    (build / "stub.c").write_text("int crosspython_stub(void) { return 1; }\n")
    (build / "impl.c").write_text("int crosspython_stub(void);\nint impl(void) { return crosspython_stub(); }\n")
    gcc = f"{triplet}-gcc"
    subprocess.run([gcc, "-shared", "-fPIC", "-o", build / "libcrosspythonstub.so", build / "stub.c"], check=True)
    module = build / "impl.so"
    subprocess.run(
        [gcc, "-shared", "-fPIC", "-o", module, build / "impl.c", f"-L{build}", "-lcrosspythonstub"], check=True
    )
    with zipfile.ZipFile(directory / f"mislinked-1.0-cp313-cp313-{tag}.whl", "w") as zf:
        zf.write(module, f"mislinked/_impl.cpython-313-{triplet}.so")
        zf.writestr("mislinked/__init__.py", "")
        zf.writestr("mislinked-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: mislinked\nVersion: 1.0\n")
        zf.writestr(
            "mislinked-1.0.dist-info/WHEEL", f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp313-cp313-{tag}\n"
        )
        zf.writestr("mislinked-1.0.dist-info/RECORD", "")


BAD = [
    ("unknown-package", "crosspython-no-such-package-xyz", "the target can use for crosspython-no-such-package-xyz"),
    # Wheels for Windows, macOS and x86_64 Linux only: nothing for the board, and no source.
    ("only-wheels-for-other-platforms", "pyqt5-qt5==5.15.2", "no wheel for the target, no source distribution"),
    ("no-such-version", "msgpack==0.0.1", "no version of msgpack==0.0.1 has a wheel for the target or a source"),
    ("missing-c-library", "python-ldap==3.4.4", "python-ldap: the C header lber.h is not in the RFS"),
    ("wheel-for-the-build-host", "mislabelled==1.0", "X86_64/64-bit/little-endian"),
    ("wheel-links-what-the-rfs-lacks", "mislinked==1.0", "links libcrosspythonstub.so, which the RFS has not"),
]


@pytest.mark.parametrize(("spec", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_packages_are_one_line_and_leave_the_rfs_alone(
    installed: tuple[str, dict[str, str], subprocess.CompletedProcess[str]], tmp_path: Path, spec: str, message: str
) -> None:
    triplet, _, done = installed
    assert done.returncode == 0
    requirements = tmp_path / "requirements.txt"
    _foreign_wheel(tmp_path / "wheels", triplet)
    _mislinked_wheel(tmp_path / "wheels", triplet)
    requirements.write_text(f"--find-links {tmp_path / 'wheels'}\n{spec}\n")
    state = tree_state(_rfs(triplet))
    failed = invoke("packages", "--triplet", triplet, "--requirements", str(requirements))
    assert failed.returncode == 13, (failed.stdout[-3000:], failed.stderr)
    first = failed.stderr.splitlines()[0]
    assert first.startswith("error: ") and message in failed.stderr and "Traceback" not in failed.stderr
    assert "the RFS was not written" in failed.stderr
    assert tree_state(_rfs(triplet)) == state


def test_a_rust_package_without_a_wheel_for_the_target_is_named(
    installed: tuple[str, dict[str, str], subprocess.CompletedProcess[str]],
) -> None:
    """PyPI has no powerpc wheel of orjson, and no Rust target for the board can be installed here."""
    triplet, _, _ = installed
    if triplet != "powerpc-linux-gnu":
        pytest.skip("orjson publishes armv7l wheels: on armhf it installs from its wheel")
    state = tree_state(_rfs(triplet))
    failed = invoke("packages", "--triplet", triplet, "--specs", "orjson==3.13.0")
    assert failed.returncode == 13 and "orjson: a Rust extension (maturin)" in failed.stderr, failed.stderr
    assert tree_state(_rfs(triplet)) == state


def test_uninstall_gives_back_the_rfs_as_it_was(
    installed: tuple[str, dict[str, str], subprocess.CompletedProcess[str]],
) -> None:
    triplet, before, done = installed
    assert done.returncode == 0
    manifests = _manifests(triplet)
    names = sorted(p.stem for p in manifests.glob("*.json"))
    assert names == ["cffi", "markupsafe", "msgpack", "paho-mqtt", "pycparser", "pyserial"]
    assert json.loads((manifests / "msgpack.json").read_text())["modules"] == ["msgpack"]
    gone = invoke("packages", "--triplet", triplet, "--uninstall", " ".join(names).replace("paho-mqtt", "Paho_MQTT"))
    assert gone.returncode == 0, gone.stderr
    assert tree_state(_rfs(triplet)) == before
    assert not list(manifests.glob("*.json"))
