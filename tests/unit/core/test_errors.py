"""A failing host (OSError) as a message: the path named is the one being written."""

from __future__ import annotations

import errno

from crosspython.core.errors import HostProblem


def test_a_full_disk_names_what_was_being_written() -> None:
    # shutil's copy sets filename to the source and filename2 to the destination.
    exc = OSError(errno.ENOSPC, "No space left on device", "/art/board/tree/libpython3.13.a", None, "/rfs/usr/lib/x")
    problem = HostProblem.from_os_error(exc)
    assert problem.message == "no space left on the device writing /rfs/usr/lib/x"
    assert problem.exit_code == 12


def test_an_unwritable_file_is_named() -> None:
    problem = HostProblem.from_os_error(OSError(errno.EROFS, "Read-only file system", "/art/logs/x.log"))
    assert problem.message == "cannot write /art/logs/x.log: Read-only file system"
