"""The target's facts, asked of the target itself: its interpreter, run from the RFS under qemu-user,
reports its platform, its wheel tags (with `packaging`, as pip on the board would compute them),
its extension suffix, the sizes of C types and the byte layout of `long double`. Nothing here is
taken from a table of architectures: a new target needs no entry.

From those facts come the files that build backends read: a meson cross file (qemu-user as its
`exe_wrapper`), PEP 739's build-details.json and a PyO3 config file.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..core.errors import VerifyFailed

# Run by the target's interpreter under qemu-user; `packaging` comes from the build tools on PYTHONPATH
# (pure Python). Prints one JSON line.
PROBE_SCRIPT = r"""
import json, platform, struct, sys, sysconfig
from packaging import tags
facts = {
    "platform": sysconfig.get_platform(),
    "machine": platform.machine(),
    "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
    "soabi": sysconfig.get_config_var("SOABI") or "",
    "multiarch": sysconfig.get_config_var("MULTIARCH") or "",
    "cache_tag": sys.implementation.cache_tag,
    "version": list(sys.version_info[:3]),
    "hexversion": sys.hexversion,
    "abiflags": getattr(sys, "abiflags", ""),
    "shared": bool(sysconfig.get_config_var("Py_ENABLE_SHARED")),
    "byteorder": sys.byteorder,
    "sizeof_pointer": struct.calcsize("P"),
    "sizeof_long": struct.calcsize("l"),
    "tags": [str(t) for t in tags.sys_tags()],
    "longdouble": "",
    "sizeof_longdouble": 0,
}
try:
    import ctypes
    value = ctypes.c_longdouble(-123.45)
    facts["sizeof_longdouble"] = ctypes.sizeof(value)
    facts["longdouble"] = bytes(value).hex()
except ImportError:
    pass
print("CROSSPYTHON-FACTS " + json.dumps(facts))
"""


@dataclass(frozen=True, kw_only=True)
class TargetFacts:
    """What the target's interpreter said about itself under qemu-user."""

    platform: str  # sysconfig.get_platform(): linux-armv7l, linux-ppc, ...
    machine: str  # platform.machine()
    ext_suffix: str
    soabi: str
    multiarch: str
    cache_tag: str
    version: tuple[int, int, int]
    hexversion: int
    abiflags: str
    shared: bool  # libpython is a shared library (--enable-shared)
    byteorder: str
    sizeof_pointer: int
    sizeof_long: int
    sizeof_longdouble: int
    longdouble: str  # hex of c_longdouble(-123.45)'s bytes, "" without ctypes
    tags: tuple[str, ...]  # most preferred first

    @property
    def platform_tag(self) -> str:
        """The wheel tag of the target's platform: linux_armv7l."""
        return self.platform.replace("-", "_").replace(".", "_")

    @property
    def longdouble_format(self) -> str:
        return longdouble_format(bytes.fromhex(self.longdouble)) if self.longdouble else ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_facts(output: str) -> TargetFacts:
    """The facts from the probe's output (its one marked line)."""
    for line in output.splitlines():
        if line.startswith("CROSSPYTHON-FACTS "):
            return facts_from_json(json.loads(line.split(" ", 1)[1]))
    raise VerifyFailed(
        "the target's interpreter did not report its facts under qemu-user",
        hint="run `invoke verify` to see whether the installed interpreter works",
    )


def facts_from_json(data: dict[str, Any]) -> TargetFacts:
    return TargetFacts(
        platform=str(data["platform"]),
        machine=str(data["machine"]),
        ext_suffix=str(data["ext_suffix"]),
        soabi=str(data["soabi"]),
        multiarch=str(data["multiarch"]),
        cache_tag=str(data["cache_tag"]),
        version=(int(data["version"][0]), int(data["version"][1]), int(data["version"][2])),
        hexversion=int(data["hexversion"]),
        abiflags=str(data["abiflags"]),
        shared=bool(data["shared"]),
        byteorder=str(data["byteorder"]),
        sizeof_pointer=int(data["sizeof_pointer"]),
        sizeof_long=int(data["sizeof_long"]),
        sizeof_longdouble=int(data["sizeof_longdouble"]),
        longdouble=str(data["longdouble"]),
        tags=tuple(str(t) for t in data["tags"]),
    )


def longdouble_format(raw: bytes) -> str:
    """Meson's (numpy's) name of the layout of -123.45 as a C `long double`, read from its bytes:
    what numpy's build finds by compiling and inspecting a test object, which a cross build cannot run."""
    if raw == struct.pack("<d", -123.45):
        return "IEEE_DOUBLE_LE"
    if raw == struct.pack(">d", -123.45):
        return "IEEE_DOUBLE_BE"
    if len(raw) == 16 and raw[:8] == struct.pack(">d", -123.45):
        return "IBM_DOUBLE_DOUBLE_BE"
    if len(raw) == 16 and raw[:8] == struct.pack("<d", -123.45):
        return "IBM_DOUBLE_DOUBLE_LE"
    # Sign and 15-bit exponent of -123.45 (2**6 <= 123.45 < 2**7): 0xC005.
    if len(raw) == 16 and raw[:2] == b"\xc0\x05":
        return "IEEE_QUAD_BE"
    if len(raw) == 16 and raw[14:] == b"\x05\xc0":
        return "IEEE_QUAD_LE"
    if len(raw) in (12, 16) and raw[8:10] == b"\x05\xc0":
        return f"INTEL_EXTENDED_{len(raw)}_BYTES_LE"
    if len(raw) in (12, 16) and raw[:2] == b"\xc0\x05":
        return "MOTOROLA_EXTENDED_12_BYTES_BE"
    return "UNKNOWN"


# Meson's cpu_family for a kernel's machine name (`uname -m`, as the probe found it).
_MESON_FAMILIES = (
    ("armv", "arm"),
    ("arm", "arm"),
    ("aarch64", "aarch64"),
    ("ppc64", "ppc64"),
    ("ppc", "ppc"),
    ("mips64", "mips64"),
    ("mips", "mips"),
    ("riscv64", "riscv64"),
    ("s390x", "s390x"),
    ("x86_64", "x86_64"),
    ("i686", "x86"),
)


def meson_cpu_family(machine: str) -> str:
    return next((family for prefix, family in _MESON_FAMILIES if machine.startswith(prefix)), machine)


def _meson_list(words: list[str]) -> str:
    return "[" + ", ".join(repr(w) for w in words) + "]"


def meson_cross_file(
    facts: TargetFacts,
    *,
    cc: list[str],
    tools: dict[str, str],
    qemu: str,
    rfs: Path,
    pkg_config_libdir: str,
    c_args: tuple[str, ...] | list[str] = (),
    link_args: tuple[str, ...] | list[str] = (),
) -> str:
    """A meson cross file for the target: its compilers, qemu-user as `exe_wrapper` (so that meson
    may run test programs), and the facts the probe found."""
    lines = [
        "# Generated by crosspython from the target's probed facts; do not edit.",
        "[binaries]",
        f"c = {_meson_list(cc)}",
        f"cpp = {_meson_list([w[: -len('gcc')] + 'g++' if w.endswith('gcc') else w for w in cc])}",
        *(f"{name} = {path!r}" for name, path in sorted(tools.items())),
        f"exe_wrapper = {_meson_list([qemu, '-L', str(rfs)])}",
        "",
        "[host_machine]",
        "system = 'linux'",
        f"cpu_family = {meson_cpu_family(facts.machine)!r}",
        f"cpu = {facts.machine!r}",
        f"endian = {facts.byteorder!r}",
        "",
        "[properties]",
        f"sys_root = {str(rfs)!r}",
        f"pkg_config_libdir = {pkg_config_libdir!r}",
        f"longdouble_format = {facts.longdouble_format!r}",
        "needs_exe_wrapper = true",
    ]
    if c_args or link_args:
        # An RFS used with -I/-L rather than as --sysroot: the cell's own search paths.
        lines += [
            "",
            "[built-in options]",
            f"c_args = {_meson_list(list(c_args))}",
            f"cpp_args = {_meson_list(list(c_args))}",
            f"c_link_args = {_meson_list(list(link_args))}",
            f"cpp_link_args = {_meson_list(list(link_args))}",
        ]
    return "\n".join(lines) + "\n"


def build_details(facts: TargetFacts, *, prefix: str = "/usr") -> dict[str, Any]:
    """PEP 739's build-details.json of the installed target interpreter."""
    major, minor, micro = facts.version
    short = f"{major}.{minor}"
    return {
        "schema_version": "1.0",
        "base_prefix": prefix,
        "platform": facts.platform,
        "language": {"version": short, "version_info": {"major": major, "minor": minor, "micro": micro}},
        "implementation": {
            "name": "cpython",
            "version": {"major": major, "minor": minor, "micro": micro},
            "hexversion": facts.hexversion,
            "cache_tag": facts.cache_tag,
            **({"_multiarch": facts.multiarch} if facts.multiarch else {}),
        },
        "abi": {"flags": list(facts.abiflags), "extension_suffix": facts.ext_suffix, "stable_abi_suffix": ".abi3.so"},
        "suffixes": {
            "source": [".py"],
            "bytecode": [".pyc"],
            "extension": [facts.ext_suffix, ".abi3.so", ".so"],
        },
        "c_api": {"headers": f"{prefix}/include/python{short}{facts.abiflags}"},
    }


def pyo3_config(facts: TargetFacts, *, prefix: str = "/usr") -> str:
    """A PyO3 config file (PYO3_CONFIG_FILE) for the target interpreter: what PyO3's build script
    would ask a host interpreter, which a cross build cannot run."""
    major, minor, _ = facts.version
    return (
        "implementation=CPython\n"
        f"version={major}.{minor}\n"
        f"shared={'true' if facts.shared else 'false'}\n"
        "abi3=false\n"
        f"lib_name=python{major}.{minor}{facts.abiflags}\n"
        f"lib_dir={prefix}/lib\n"
        f"executable={prefix}/bin/python{major}.{minor}\n"
        f"pointer_width={facts.sizeof_pointer * 8}\n"
        "build_flags=\n"
        "suppress_build_script_link_lines=false\n"
    )
