"""Finding the cross tool-chain: Debian's on PATH, or a vendor SDK with any prefix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crosspython.build.toolchain import CROSS_TOOLS, find_toolchain, missing_packages
from crosspython.core.errors import ConfigError, ToolMissing
from crosspython.matrix import Matrix


def _sdk(tmp_path: Path, prefix: str, tools: tuple[str, ...] = CROSS_TOOLS) -> Path:
    bindir = tmp_path / "sdk" / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    for tool in tools:
        path = bindir / f"{prefix}-{tool}"
        path.write_text("#!/bin/sh\necho fake\n")  # planning only: never compiles anything
        path.chmod(0o755)
    return bindir


def test_vendor_sdk_bin_dir_with_its_own_prefix(matrix: Matrix, tmp_path: Path) -> None:
    bindir = _sdk(tmp_path, "arm-poky-linux-gnueabi")
    chain = find_toolchain(matrix.target("arm-linux-gnueabihf"), bindir)
    assert chain.prefix == "arm-poky-linux-gnueabi"
    assert chain.tool("strip") == bindir / "arm-poky-linux-gnueabi-strip"


def test_sdk_root_is_accepted_for_its_bin(matrix: Matrix, tmp_path: Path) -> None:
    bindir = _sdk(tmp_path, "arm-linux-gnueabihf")
    chain = find_toolchain(matrix.target("arm-linux-gnueabihf"), bindir.parent)
    assert chain.bindir == bindir


def test_several_prefixes_need_the_compiler_named(matrix: Matrix, tmp_path: Path) -> None:
    _sdk(tmp_path, "arm-a-linux-gnueabi")
    bindir = _sdk(tmp_path, "arm-b-linux-gnueabi")
    with pytest.raises(ConfigError, match="several tool-chains"):
        find_toolchain(matrix.target("arm-linux-gnueabihf"), bindir)
    chain = find_toolchain(matrix.target("arm-linux-gnueabihf"), bindir / "arm-b-linux-gnueabi-gcc")
    assert chain.prefix == "arm-b-linux-gnueabi"


def test_incomplete_toolchain_names_the_missing_tool(matrix: Matrix, tmp_path: Path) -> None:
    bindir = _sdk(tmp_path, "arm-x-linux-gnueabi", tools=("gcc", "ar"))
    with pytest.raises(ToolMissing, match="arm-x-linux-gnueabi-ranlib"):
        find_toolchain(matrix.target("arm-linux-gnueabihf"), bindir)


def test_missing_directory_is_a_config_error(matrix: Matrix, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such directory"):
        find_toolchain(matrix.target("arm-linux-gnueabihf"), tmp_path / "nope")


def test_missing_debian_toolchain_names_the_package(
    matrix: Matrix, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no cross gcc anywhere
    with pytest.raises(ToolMissing) as info:
        find_toolchain(matrix.target("arm-linux-gnueabihf"))
    assert "arm-linux-gnueabihf-gcc" in info.value.message
    assert "apt-get install gcc-arm-linux-gnueabihf" in info.value.hint
    assert "--toolchain" in info.value.hint


def test_setup_lists_packages_of_missing_tools(matrix: Matrix, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    packages = missing_packages([matrix.target("arm-linux-gnueabihf")])
    assert {"gcc-arm-linux-gnueabihf", "qemu-user", "ccache", "make", "pkg-config"} <= set(packages)
    # `setup --triplet T`: that target's tool-chain, not the other targets' of the matrix
    assert not {"gcc-powerpc-linux-gnu", "gcc-mips-linux-gnu", "gcc-aarch64-linux-gnu"} & set(packages)
    monkeypatch.setenv("PATH", os.defpath + ":" + str(_sdk(tmp_path, "arm-linux-gnueabihf")))
    assert "gcc-arm-linux-gnueabihf" not in missing_packages([matrix.target("arm-linux-gnueabihf")])


def test_setup_adds_the_toolchains_libc_dev_package(matrix: Matrix, monkeypatch: pytest.MonkeyPatch) -> None:
    """gcc-<triplet> only recommends its libc headers; targets built on the tool-chain's libc need them."""
    from crosspython.build import toolchain

    ppc = matrix.target("powerpc-linux-gnu")
    monkeypatch.setattr(toolchain, "_installed", lambda package: False)
    assert "libc6-dev-powerpc-cross" in missing_packages([ppc])
    monkeypatch.setattr(toolchain, "_installed", lambda package: package == "libc6-dev-powerpc-cross")
    assert "libc6-dev-powerpc-cross" not in missing_packages([ppc])
