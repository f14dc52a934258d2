"""matrix/*.toml: loading, validation, lookups and cell ids."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crosspython.core.errors import ConfigError
from crosspython.matrix import VERIFY_CHECKS, Matrix, load_matrix
from tests.conftest import FIXTURE_MATRIX


def test_matrix_loads_default_cell(matrix: Matrix) -> None:
    cell = matrix.cell(python="3.13", triplet="arm-linux-gnueabihf", variant="default")
    assert cell.id == "cp313-arm-linux-gnueabihf-default"
    assert cell.version.full == "3.13.42"
    assert cell.version.interpreter == "usr/bin/python3.13"
    assert cell.target.debian_arch == "armhf"
    assert "_ssl" in cell.version.required_modules


def test_full_version_is_accepted(matrix: Matrix) -> None:
    assert matrix.version("3.13.42") is matrix.version("3.13")


def test_the_shipped_matrix_is_consistent(shipped_matrix: Matrix) -> None:
    """matrix/ as shipped loads; every release belongs to its line; the card's default cell exists."""
    assert shipped_matrix.cell(python="3.13", triplet="arm-linux-gnueabihf", variant="default")
    for short, version in shipped_matrix.versions.items():
        assert version.full.startswith(short + ".") and version.tarball.startswith(f"Python-{version.full}.")
        assert set(version.checks) <= set(VERIFY_CHECKS)
        # A release whose tarball was read here has its date: its builds are reproducible.
        assert version.source_date_epoch is not None or short == "3.14", short
    for knob in shipped_matrix.knobs:
        assert knob.before.removesuffix("+strip") in shipped_matrix.variants


@pytest.mark.parametrize(
    ("kind", "kwargs", "message"),
    [
        ("triplet", {"triplet": "sparc-sun-solaris"}, "unknown target triplet 'sparc-sun-solaris'"),
        ("version", {"python": "3.99"}, "unknown CPython version '3.99'"),
        ("variant", {"variant": "fast"}, "unknown variant 'fast'"),
    ],
)
def test_unknown_names_list_what_is_known(matrix: Matrix, kind: str, kwargs: dict[str, str], message: str) -> None:
    args = {"python": "3.13", "triplet": "arm-linux-gnueabihf", "variant": "default"} | kwargs
    with pytest.raises(ConfigError) as info:
        matrix.cell(**args)
    assert message in info.value.message
    assert "known:" in info.value.hint


def _copy(tmp_path: Path) -> Path:
    dest = tmp_path / "matrix"
    shutil.copytree(FIXTURE_MATRIX, dest)
    return dest


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("versions.toml", 'sha256 = "1313', 'sha256 = "XYZ5', "'sha256'"),
        ("versions.toml", "size = 1000", "size = -1", "size must be positive"),
        ("versions.toml", 'full = "3.13.42"', 'full = "3.12.1"', "is not a 3.13 release"),
        ("versions.toml", 'tarball = "Python-3.13.42.tar.xz"\n', "", "missing key 'tarball'"),
        (
            "versions.toml",
            'build_python = "path"',
            'build_python = "env"',
            "'build_python' must be one of 'configure', 'path'",
        ),
        ("versions.toml", '"bz2", "json", "tls"', '"bz2", "jsn", "tls"', "unknown check(s) jsn"),
        (
            "versions.toml",
            "source_date = 2001-02-03T04:05:06Z",
            "source_date = 2001-02-03T04:05:06",
            "'source_date' needs a time zone",
        ),
        (
            "versions.toml",
            "source_date = 2001-02-03T04:05:06Z",
            'source_date = "2001"',
            "'source_date' must be a date-time",
        ),
        ("targets.toml", 'endianness = "little"', 'endianness = "middle"', "'endianness'"),
        ("targets.toml", "elf_class = 32", "elf_class = 16", "'elf_class' must be one of"),
        ("targets.toml", 'qemu = "qemu-arm"', 'qemu = "qemu-arm"\nqemu_flags = 1', "unknown key(s) qemu_flags"),
        ("targets.toml", 'ac_cv_working_tzset = "yes"', "ac_cv_working_tzset = true", 'ac_cv_* = "string"'),
        ("variants.toml", "[variants.default]", "[variants.plain]", "a variant named 'default' is required"),
        ("rfs.toml", 'suite = "bookworm"', "suite = 12", "'suite' must be a string"),
        ("targets.toml", 'toolchain_prefix = "arm-linux-gnueabihf"', 'toolchain_prefix = "arm', "invalid TOML"),
    ],
)
def test_invalid_data_is_rejected_with_file_and_key(
    tmp_path: Path, file: str, old: str, new: str, message: str
) -> None:
    directory = _copy(tmp_path)
    _edit(directory / file, old, new)
    with pytest.raises(ConfigError) as info:
        load_matrix(directory)
    assert message in info.value.message
    assert file in info.value.message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    (directory / "rfs.toml").unlink()
    with pytest.raises(ConfigError, match=r"rfs\.toml is missing"):
        load_matrix(directory)


def test_a_new_triplet_is_a_data_change(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    with (directory / "targets.toml").open("a") as handle:
        handle.write(
            '\n[targets."riscv64-linux-gnu"]\ntoolchain_prefix = "riscv64-linux-gnu"\n'
            'toolchain_package = "gcc-riscv64-linux-gnu"\nqemu = "qemu-riscv64"\nelf_machine = "RISCV"\n'
            'elf_class = 64\nendianness = "little"\nplatform_machine = "riscv64"\ndebian_arch = "riscv64"\n'
        )
    matrix = load_matrix(directory)
    cell = matrix.cell(python="3.13", triplet="riscv64-linux-gnu", variant="sections")
    assert cell.id == "cp313-riscv64-linux-gnu-sections"
    target = cell.target
    assert (target.toolchain_prefix, target.toolchain_package, target.qemu) == (
        "riscv64-linux-gnu",
        "gcc-riscv64-linux-gnu",
        "qemu-riscv64",
    )
    assert (target.elf_machine, target.elf_class, target.endianness) == ("RISCV", 64, "little")
    assert (target.platform_machine, target.debian_arch, target.family) == ("riscv64", "riscv64", "riscv64")
    assert target.config_site == ()
    assert target.deps == "debian"  # the default: its libraries are Debian's riscv64 packages
    assert set(matrix.targets) == set(load_matrix(FIXTURE_MATRIX).targets) | {"riscv64-linux-gnu"}


def test_dataclasses_are_frozen(matrix: Matrix) -> None:
    target = matrix.target("arm-linux-gnueabihf")
    with pytest.raises(AttributeError):
        target.qemu = "qemu-ppc"  # type: ignore[misc]
