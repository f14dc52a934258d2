"""The default RFS from Debian's packages: absolute symlinks made relative inside it."""

from __future__ import annotations

import os
from pathlib import Path

from crosspython.rfs.provision import relativize_symlinks


def test_absolute_symlinks_become_relative(tmp_path: Path) -> None:
    (tmp_path / "lib" / "arm").mkdir(parents=True)
    (tmp_path / "lib" / "arm" / "libz.so.1").write_text("z")
    (tmp_path / "usr" / "lib" / "arm").mkdir(parents=True)
    link = tmp_path / "usr" / "lib" / "arm" / "libz.so"
    link.symlink_to("/lib/arm/libz.so.1")
    (tmp_path / "usr" / "lib" / "arm" / "rel.so").symlink_to("libz.so")
    assert relativize_symlinks(tmp_path) == 1
    assert os.readlink(link) == "../../../lib/arm/libz.so.1"
    assert link.read_text() == "z"
