"""The import closure of a profile's module list (and of `--app`), over the *target's* staged stdlib.

modulefinder runs under the build interpreter (same version as the target, so it parses the
same syntax) with the stage's stdlib and lib-dynload as its whole path, and the target's
extension-module suffixes, so that what it finds is what the board will import. It records, for
each module, the module that first imported it: `install` says why the closure holds what it holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core import pythontree
from ..core.errors import BuildIncomplete, ConfigError
from ..core.files import sha256_of
from ..core.runner import Step

# Runs under the build interpreter, 2.7 or 3.x: standard library only, syntax both accept.
CLOSURE_SCRIPT = r"""
import json, sys
from modulefinder import ModuleFinder

args = json.loads(sys.argv[1])
if sys.version_info >= (3,):
    # The target's extension modules (e.g. .cpython-313-arm-linux-gnueabihf.so), not only the host's.
    import importlib.machinery as machinery
    import importlib.metadata  # PathFinder.invalidate_caches() imports it: load it with the host's hooks
    suffixes = args["extension_suffixes"] + list(machinery.EXTENSION_SUFFIXES)
    loaders = [(machinery.ExtensionFileLoader, suffixes),
               (machinery.SourceFileLoader, machinery.SOURCE_SUFFIXES),
               (machinery.SourcelessFileLoader, machinery.BYTECODE_SUFFIXES)]
    sys.path_hooks[:] = [machinery.FileFinder.path_hook(*loaders)]
    sys.path_importer_cache.clear()

class Finder(ModuleFinder):
    def __init__(self, *a, **k):
        ModuleFinder.__init__(self, *a, **k)
        self.why = {}

    def import_hook(self, name, caller=None, fromlist=None, level=-1):
        before = set(self.modules)
        try:
            return ModuleFinder.import_hook(self, name, caller, fromlist, level)
        finally:
            for new in set(self.modules) - before:
                self.why.setdefault(new, caller.__name__ if caller is not None else "")

# What the application imports itself is never excluded: the excludes cut the stdlib's own
# on-demand imports, not the application's.
direct = set()
for filename in args["app_files"]:
    code = compile(open(filename).read() + "\n", filename, "exec")
    scan = getattr(ModuleFinder, "scan_opcodes_25", None) or ModuleFinder.scan_opcodes
    stack = [code]
    while stack:
        co = stack.pop()
        stack.extend(c for c in co.co_consts if hasattr(c, "co_code"))
        for what, found in scan(ModuleFinder(), co):
            if what in ("import", "absolute_import"):
                fromlist, name = found
                direct.add(name)
                direct.update("%s.%s" % (name, sub) for sub in (fromlist or ()) if sub != "*")
excludes = [e for e in args["excludes"] if not any(d == e or d.startswith(e + ".") for d in direct)]
finder = Finder(path=args["path"], excludes=excludes)
absent = []
for name in args["modules"]:
    try:
        finder.import_hook(name)
    except ImportError:
        absent.append(name)  # not in this version's stdlib (2.7 has no asyncio), or a typo: reported
out = {}
for name, mod in finder.modules.items():
    out[name] = {"file": mod.__file__, "why": finder.why.get(name, "")}
sys.stdout.write(json.dumps({"modules": out, "missing": sorted(finder.badmodules), "absent": absent}) + "\n")
"""


@dataclass(frozen=True)
class Closure:
    """The stdlib modules a module list needs: name -> the module that first imported it ("" for a root)."""

    modules: dict[str, str]
    extensions: tuple[str, ...]  # of those, the extension modules in lib-dynload
    app_modules: tuple[str, ...]  # the application's own modules (not installed by the profile)
    absent: tuple[str, ...] = ()  # modules of the list this stdlib does not have (2.7: asyncio, zoneinfo)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.modules)


def app_roots(app: Path) -> tuple[Path, list[str]]:
    """(the directory to put on the path, the module names to import) for a script or a package."""
    if app.is_file() and app.suffix == ".py":
        return app.parent, [app.stem]
    if app.is_dir():
        names = []
        for py in sorted(app.rglob("*.py")):
            rel = py.relative_to(app.parent).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            names.append(".".join(parts))
        if not names:
            raise ConfigError(f"--app {app}: no .py file in it")
        return app.parent, names
    raise ConfigError(f"--app {app}: not a .py script or a directory of the application's modules")


def app_fingerprint(app: Path | None) -> dict[str, str]:
    """The application's sources by content: part of the inputs of a profile built with --app."""
    if app is None:
        return {}
    files = [app] if app.is_file() else sorted(app.rglob("*.py"))
    return {str(f.relative_to(app.parent)): sha256_of(f) for f in files}


def expand(modules: list[str], stdlib: Path) -> list[str]:
    """The module list with its patterns (e.g. _sysconfigdata_*) matched against the stdlib's top-level modules."""
    out: list[str] = []
    for name in modules:
        if not any(c in name for c in "*?["):
            out.append(name)
            continue
        found = sorted(
            {p.stem for p in stdlib.glob(f"{name}.py")}
            | {p.name for p in stdlib.glob(name) if (p / "__init__.py").is_file()}
        )
        if not found:
            raise ConfigError(f"the profile's module pattern {name!r} matches no module of {stdlib}")
        out += found
    return out


def closure_command(
    build_python: Path, stage: Path, short: str, modules: list[str], excludes: list[str], app: Path | None
) -> list[str]:
    stdlib = stage / pythontree.stdlib(short)
    dynload = stage / pythontree.lib_dynload(short)
    suffixes = sorted({"." + p.name.split(".", 1)[1] for p in dynload.glob("*.so")} | {".so"}, key=len, reverse=True)
    path = [str(stdlib), str(dynload)]
    roots = expand(modules, stdlib)
    if app is not None:
        app_dir, app_modules = app_roots(app)
        path.insert(0, str(app_dir))
        roots += app_modules
    app_files = [
        str(p) for p in ([app] if app is not None and app.is_file() else sorted(app.rglob("*.py")) if app else [])
    ]
    args = {
        "path": path,
        "extension_suffixes": suffixes,
        "excludes": excludes,
        "modules": roots,
        "app_files": app_files,
    }
    return [str(build_python), "-S", "-E", "-c", CLOSURE_SCRIPT, json.dumps(args)]


def run_closure(
    step: Step,
    build_python: Path,
    stage: Path,
    short: str,
    modules: list[str],
    excludes: list[str],
    app: Path | None = None,
) -> Closure:
    """The closure, computed by the build interpreter over the staged stdlib."""
    result = step.run(closure_command(build_python, stage, short, modules, excludes, app), check=False)
    data = _parse(result.output)
    if result.returncode != 0 or data is None:
        raise BuildIncomplete(
            f"the import closure of {', '.join(modules[:5])}... could not be computed (exit {result.returncode})",
            hint=f"a module of the list (or of --app) may not exist in the staged stdlib; see {step.log}",
        )
    stdlib = str(stage / pythontree.stdlib(short)) + "/"
    found: dict[str, str] = {}
    extensions = []
    app_modules = []
    for name, info in data["modules"].items():
        file = info.get("file")
        if file is None or str(file).startswith(stdlib):
            found[name] = str(info.get("why", ""))
            if file is not None and str(file).endswith(".so"):
                extensions.append(name)
        else:
            app_modules.append(name)
    absent = tuple(str(name) for name in data.get("absent", []))
    if app is not None and any(m in absent for m in app_roots(app)[1]):
        raise BuildIncomplete(f"--app {app}: its modules could not be read", hint=f"see {step.log}")
    return Closure(
        modules=found,
        extensions=tuple(sorted(extensions)),
        app_modules=tuple(sorted(app_modules)),
        absent=absent,
    )


def _parse(output: str) -> dict[str, Any] | None:
    for line in reversed(output.splitlines()):
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                return None
            return data if isinstance(data, dict) and isinstance(data.get("modules"), dict) else None
    return None
