"""Where things are in an installed CPython tree (prefix /usr): the one owner of each of these paths."""

from __future__ import annotations

from pathlib import PurePath


def interpreter(short: str) -> str:
    """The interpreter's path inside an RFS or a stage, e.g. usr/bin/python3.13."""
    return f"usr/bin/python{short}"


def stdlib(short: str) -> str:
    return f"usr/lib/python{short}"


def stdlib_zip(short: str) -> str:
    """The zip a stdlib can be imported from: usr/lib/python313.zip (getpath's ZIP_LANDMARK)."""
    return f"usr/lib/python{short.replace('.', '')}.zip"


def lib_dynload(short: str) -> str:
    return f"{stdlib(short)}/lib-dynload"


def libpython_prefix(short: str) -> str:
    """The start of libpython's installed paths (shared library or static archive)."""
    return f"usr/lib/libpython{short}"


def is_config_dir(name: str) -> bool:
    """The stdlib's build-settings directory: config-3.13-<multiarch>/, or 2.7's config/."""
    return name == "config" or name.startswith("config-")


def module_name(path: str | PurePath) -> str:
    """The module an extension file provides: `_ssl` for _ssl.cpython-313-arm-linux-gnueabihf.so."""
    return PurePath(path).name.split(".", 1)[0]
