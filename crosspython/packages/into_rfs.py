"""Packages into the RFS: each wheel installed (by `installer`) into a tree of its own as the board
will hold it, byte-code and stripping as the RFS's install profile says, then merged with the same
confinement as `install` and recorded in one manifest per package (which `--uninstall` reads)."""

from __future__ import annotations

import json
from pathlib import Path

from ..core import pythontree
from ..core.errors import BuildIncomplete, ConfigError
from ..core.files import remove_tree, sha256_of
from ..core.runner import Step
from ..install.board import strip_elf_files
from ..install.into_rfs import Removal, journal_of, remove_installed, require_mergeable
from ..install.manifest import Manifest, files_of, read_manifest, write_manifest
from ..matrix import Profile
from ..rfs.merge import clean_leftovers, merge, staged_entries
from .plan import PackagesPlan
from .wheels import Wheel, normalise

# Run by the build interpreter with the build tools on its path: installer's API, with the target's
# scheme and the target's interpreter as the scripts' shebang (its CLI would write the build host's).
INSTALL_SCRIPT = r"""
import json, sys
from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.sources import WheelFile
spec = json.loads(sys.argv[1])
for wheel, destdir in spec["wheels"]:
    destination = SchemeDictionaryDestination(
        spec["scheme"], interpreter=spec["interpreter"], script_kind="posix",
        bytecode_optimization_levels=(), destdir=destdir,
    )
    with WheelFile.open(wheel) as source:
        install(source, destination, {"INSTALLER": b"crosspython\n"})
"""


def scheme(short: str, prefix: str = "/usr") -> dict[str, str]:
    """Where a wheel's parts go on the board: CPython's posix_prefix scheme under /usr."""
    site = f"{prefix}/lib/python{short}/site-packages"
    return {
        "purelib": site,
        "platlib": site,
        "headers": f"{prefix}/include/python{short}",
        "scripts": f"{prefix}/bin",
        "data": prefix,
    }


def stage_wheels(plan: PackagesPlan, wheels: list[Wheel], profile: Profile, step: Step) -> dict[str, Path]:
    """Install each wheel into its own tree under plan.staged; {name: tree}."""
    short = plan.cell.version.short
    trees = {w.name: plan.staged / w.name for w in wheels}
    for tree in trees.values():
        remove_tree(tree)
        tree.mkdir(parents=True)
    spec = {
        "scheme": scheme(short),
        "interpreter": "/" + plan.cell.version.interpreter,
        "wheels": [[str(w.path), str(trees[w.name])] for w in wheels],
    }
    env = {"PYTHONPATH": str(plan.tools), "PYTHONNOUSERSITE": "1"}
    step.run([str(plan.build_python), "-s", "-c", INSTALL_SCRIPT, json.dumps(spec)], env=env)
    for wheel in wheels:
        tree = trees[wheel.name]
        _compile(plan, tree, profile, step)
        if profile.strip:
            strip_elf_files(tree, plan.debug_dir, objcopy=plan.objcopy, strip=plan.strip, step=step)
    return trees


def _compile(plan: PackagesPlan, tree: Path, profile: Profile, step: Step) -> None:
    """Byte-code as the profile compiles the stdlib: unchecked-hash .pyc (the board never stats the
    source), and no sources where the profile keeps none."""
    site = tree / pythontree.stdlib(plan.cell.version.short) / "site-packages"
    if not site.is_dir():
        return
    sources = [p for p in site.rglob("*.py") if not p.is_symlink()]
    legacy = not profile.sources
    command = [str(plan.build_python), "-E", "-m", "compileall", "-q", "-j", "0", "-o", "0"]
    command += ["--invalidation-mode", "unchecked-hash", "-s", str(tree), "-p", "/"]
    step.run([*command, *(["-b"] if legacy else []), str(site)], hint="a module of the package does not compile")
    if legacy:
        for source in sources:
            if not source.with_suffix(".pyc").is_file():
                raise BuildIncomplete(f"{source} was not compiled", hint=f"see {step.log}")
            source.unlink()


def top_level_modules(tree: Path, short: str) -> tuple[str, ...]:
    """The importable names a package puts into site-packages (what `verify` imports)."""
    site = tree / pythontree.stdlib(short) / "site-packages"
    names: set[str] = set()
    for path in site.iterdir() if site.is_dir() else []:
        if path.name.startswith(".") or path.name == "__pycache__":
            continue
        if path.is_dir():
            # A package has an __init__; *.dist-info, *.data and vendored libraries (numpy.libs) have not.
            if "." not in path.name and any((path / f"__init__{suffix}").exists() for suffix in (".py", ".pyc")):
                names.add(path.name)
        elif path.suffix in (".py", ".pyc", ".so"):
            names.add(path.name.split(".")[0])
    return tuple(sorted(names))


def package_manifest(plan: PackagesPlan, name: str) -> Path:
    return plan.manifests / f"{name}.json"


def installed_packages(manifests: Path) -> dict[str, Manifest]:
    """{package: manifest} of the packages installed into an RFS for one interpreter."""
    found = {}
    for path in sorted(manifests.glob("*.json")) if manifests.is_dir() else []:
        if path.name.endswith(".in-progress.json"):
            continue
        manifest = read_manifest(path)
        if manifest is not None:
            found[path.stem] = manifest
    return found


def merge_packages(
    plan: PackagesPlan, trees: dict[str, Path], wheels: dict[str, Wheel], profile: Profile, step: Step
) -> list[Manifest]:
    """Merge the staged trees into the RFS: every tree checked (confinement, nothing in the way, room)
    before the first file lands; then one package at a time, each with its journal."""
    entries = {name: staged_entries(tree) for name, tree in trees.items()}
    require_mergeable(
        plan.rfs,
        [(tree, entries[name]) for name, tree in trees.items()],
        what="the packages",
        smaller="install fewer packages",
    )
    short = plan.cell.version.short
    done = []
    for name, tree in trees.items():
        wheel = wheels[name]
        manifest = Manifest(
            inputs={"rfs": str(plan.rfs), "wheel": wheel.path.name, "sha256": sha256_of(wheel.path)},
            interpreter=plan.cell.version.interpreter,
            files=files_of(tree, entries[name]),
            profile=profile.name,
            modules=top_level_modules(tree, short),
        )
        path = package_manifest(plan, name)
        previous = read_manifest(path)
        journal = journal_of(path)
        write_manifest(journal, manifest)
        clean_leftovers(plan.rfs, entries[name])
        merge(tree, plan.rfs, entries[name])
        if previous is not None:
            remove_files(plan.rfs, previous, keep=frozenset(f.path for f in manifest.files))
        write_manifest(path, manifest)
        journal.unlink(missing_ok=True)
        step.note(
            f"installed {name} {wheel.version} ({wheel.path.name}): {len(manifest.files)} files, "
            f"{manifest.total_bytes / 1e3:.0f} kB"
        )
        done.append(manifest)
    return done


def remove_files(rfs: Path, manifest: Manifest, *, keep: frozenset[str] = frozenset()) -> Removal:
    """Remove what `manifest` installed into `rfs` (but the paths in `keep`) and the directories that
    empties; a file changed since is left and named."""
    by_path = {entry.path: entry for entry in manifest.files if entry.path not in keep}
    return remove_installed(rfs, list(by_path), lambda rel: manifest.still_installed(rfs, by_path[rel]))


def uninstall(plan: PackagesPlan, names: list[str], step: Step) -> None:
    """Remove exactly the files the named packages' installs put into the RFS."""
    installed = installed_packages(plan.manifests)
    names = [normalise(n) for n in names]  # as pip names them: PyYAML, pyyaml and py_yaml are one
    unknown = [n for n in names if n not in installed]
    if unknown:
        raise ConfigError(
            f"not installed into {plan.rfs} by `invoke packages`: {', '.join(unknown)}",
            hint=f"installed: {', '.join(installed) or 'none'}",
        )
    for name in names:
        done = remove_files(plan.rfs, installed[name])
        package_manifest(plan, name).unlink()
        step.note(f"uninstalled {name}: {len(done.removed)} files removed")
        if done.changed:
            step.note(f"left alone, changed since the install: {', '.join(done.changed[:10])}")
