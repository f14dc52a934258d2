"""Small fake trees for the unit tests: a staged CPython install of ARM ELF headers."""

from __future__ import annotations

from pathlib import Path

# An ELF header claiming ARM/32-bit/little-endian: enough for the header checks, never run.
ARM_ELF_HEADER = b"\x7fELF\x01\x01\x01" + b"\0" * 9 + b"\x02\x00" + b"\x28\x00" + b"\0" * 40
REQUIRED = ("_ssl", "_hashlib", "zlib", "_ctypes", "_sqlite3", "_bz2", "_lzma")


def fake_stage(root: Path, short: str = "3.13") -> Path:
    """usr/bin/python<short> (+ a python3 link), os.py and the required modules in lib-dynload."""
    tag = short.replace(".", "")
    dynload = root / "usr" / "lib" / f"python{short}" / "lib-dynload"
    (root / "usr" / "bin").mkdir(parents=True)
    dynload.mkdir(parents=True)
    (root / "usr" / "bin" / f"python{short}").write_bytes(ARM_ELF_HEADER)
    (root / "usr" / "bin" / "python3").symlink_to(f"python{short}")
    (root / "usr" / "lib" / f"python{short}" / "os.py").write_text("# os\n")
    for module in REQUIRED:
        (dynload / f"{module}.cpython-{tag}-arm-linux-gnueabihf.so").write_bytes(ARM_ELF_HEADER)
    return root
