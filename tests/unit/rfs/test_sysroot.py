"""One rule for "does this RFS hold a C library?", used by the cross build and by `deps`."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosspython.rfs.sysroot import has_libc_headers, inspect_rfs, libc_runtime


@pytest.mark.parametrize("layout_kind", ["debian", "plain"])
def test_inspect_rfs_finds_library_dirs(tmp_path: Path, layout_kind: str) -> None:
    rfs = tmp_path / "rfs"
    lib = rfs / "usr" / "lib" / ("arm-linux-gnueabihf" if layout_kind == "debian" else "")
    (lib / "pkgconfig").mkdir(parents=True)
    found = inspect_rfs(rfs, "arm-linux-gnueabihf")
    assert lib.resolve() in [p.resolve() for p in found.lib_dirs]
    assert (lib / "pkgconfig").resolve() in [p.resolve() for p in found.pkgconfig_dirs]
    # Debian multiarch first, then plain; the same list whatever exists.
    assert found.lib_dirs == tuple(
        rfs / p for p in ("usr/lib/arm-linux-gnueabihf", "lib/arm-linux-gnueabihf", "usr/lib", "lib")
    )
    assert not found.has_libc


@pytest.mark.parametrize(
    "libc",
    [
        "lib/libc.so.6",  # the tool-chain's run-time seeded by `deps`
        "lib/arm-linux-gnueabihf/libc.so.6",  # Debian multiarch
        "usr/lib/libc.so.6",  # merged /usr, plain
        "usr/lib/arm-linux-gnueabihf/libc.so.6",  # merged /usr, multiarch
    ],
)
def test_one_rule_finds_libc_wherever_a_board_keeps_it(tmp_path: Path, libc: str) -> None:
    """Until this rule, `cross` (multiarch or plain lib dirs, libc.so or libc.so.6) and `deps` (lib/,
    lib/*/, usr/lib/*/) disagreed: an RFS with only usr/lib/libc.so.6 was a sysroot to `cross` but
    had no C run-time to `deps`, which then copied a second libc into lib/."""
    rfs = tmp_path / "rfs"
    (rfs / libc).parent.mkdir(parents=True)
    (rfs / libc).write_bytes(b"\x7fELF")
    assert libc_runtime(rfs) == rfs / libc
    assert not inspect_rfs(rfs, "arm-linux-gnueabihf").has_libc  # no headers: not a sysroot
    (rfs / "usr" / "include").mkdir(parents=True)
    (rfs / "usr" / "include" / "stdio.h").write_text("")
    assert has_libc_headers(rfs) and inspect_rfs(rfs, "arm-linux-gnueabihf").has_libc


def test_a_linker_script_alone_is_no_c_library(tmp_path: Path) -> None:
    rfs = tmp_path / "rfs"
    (rfs / "usr" / "lib").mkdir(parents=True)
    (rfs / "usr" / "lib" / "libc.so").write_text("GROUP ( libc.so.6 )")
    (rfs / "usr" / "include").mkdir(parents=True)
    (rfs / "usr" / "include" / "stdio.h").write_text("")
    assert libc_runtime(rfs) is None and not inspect_rfs(rfs, "arm-linux-gnueabihf").has_libc
