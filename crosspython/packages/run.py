"""Running `packages`' steps: the build tools, the probe under qemu-user, pip, the import check."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

from ..core.errors import PackageFailed, VerifyFailed
from ..core.files import remove_tree, sha256_of, write_json_atomic, write_text_atomic
from ..core.locks import file_lock
from ..core.runner import Runner
from ..core.stamps import Stamp, cached_step
from ..matrix import Profile
from . import into_rfs
from .plan import BUILD_TOOLS, PackagesPlan
from .target import (
    PROBE_SCRIPT,
    TargetFacts,
    build_details,
    facts_from_json,
    meson_cross_file,
    parse_facts,
    pyo3_config,
)
from .wheels import Wheel, check_wheel, explain_pip_failure, library_names, parse_wheel


def build_tools(plan: PackagesPlan, runner: Runner) -> None:
    """The build host's wheel tools for the build interpreter's version, from their pinned hashes."""
    short = plan.cell.version.short
    inputs = {"build_tools": sha256_of(BUILD_TOOLS), "python": short, "build_python": str(plan.build_python)}

    def work() -> None:
        with runner.step(plan.cell.id, "packages-tools") as step:
            remove_tree(plan.tools)
            step.run([sys.executable, *plan.tools_command(short)], hint=f"the pins are in {BUILD_TOOLS}")
            # pip wrote the scripts (cython, meson, ninja) for the Python that ran it; they must run
            # under the build interpreter, whose version the compiled build tools (Cython) are for.
            for script in sorted((plan.tools / "bin").glob("*")):
                text = script.read_bytes()
                if text.startswith(b"#!") and b"python" in text.split(b"\n", 1)[0]:
                    script.write_bytes(f"#!{plan.build_python}\n".encode() + text.split(b"\n", 1)[1])

    cached_step(
        Stamp(plan.tools),
        inputs,
        work,
        lock=plan.tools.parent / f".{plan.tools.name}.lock",
        holder=f"the build tools {plan.tools}",
    )


def probe(plan: PackagesPlan, runner: Runner) -> TargetFacts:
    """The target's facts (target.py), asked once per installed interpreter and RFS; the files made
    from them are rewritten with them."""
    interpreter = plan.rfs / plan.cell.version.interpreter
    inputs = {
        "interpreter": sha256_of(interpreter),
        "rfs": str(plan.rfs),
        "sysconfigdata": sha256_of(_staged_sysconfigdata(plan)),  # the cross files' compilers and flags
        "probe": hashlib.sha256(PROBE_SCRIPT.encode()).hexdigest(),
    }
    stamp = Stamp(plan.work, "target")
    if stamp.matches(inputs) and plan.facts_file.is_file():
        return facts_from_json(json.loads(plan.facts_file.read_text()))
    with runner.step(plan.cell.id, "packages-probe") as step:
        stamp.clear()
        done = step.run(
            [plan.qemu, "-L", str(plan.rfs), str(interpreter), "-s", "-c", PROBE_SCRIPT],
            env={"PYTHONPATH": str(plan.tools)},  # packaging, to compute the tags as pip on the board would
            timeout=300,
        )
        facts = parse_facts(done.output)
        step.note(
            f"{facts.platform}, {facts.byteorder}-endian, {facts.sizeof_pointer * 8}-bit, extension suffix "
            f"{facts.ext_suffix}, long double {facts.longdouble_format or '?'}; {len(facts.tags)} wheel tags, "
            f"first {facts.tags[0]}"
        )
        _write_files(plan, facts)
        stamp.write(inputs)
    return facts


def _write_files(plan: PackagesPlan, facts: TargetFacts) -> None:
    plan.work.mkdir(parents=True, exist_ok=True)
    write_json_atomic(plan.facts_file, facts.to_json())
    write_json_atomic(plan.tags_file, list(facts.tags))
    remove_tree(plan.sysconfig_dir)
    plan.sysconfig_dir.mkdir(parents=True)
    source = _staged_sysconfigdata(plan)
    shutil.copy2(source, plan.sysconfig_dir / source.name)
    env = dict(plan.cross_env)
    config = _sysconfig_vars(source)
    cc = config.get("CC", "gcc").split()
    gcc = next((word for word in cc if word.endswith("gcc")), "gcc")
    tools = {name: _tool(gcc, name) for name in ("ar", "strip")}
    tools["pkg-config"] = env.get("PKG_CONFIG", "pkg-config")
    write_text_atomic(
        plan.work / "meson-cross.ini",
        meson_cross_file(
            facts,
            cc=cc,
            tools=tools,
            qemu=plan.qemu,
            rfs=plan.rfs,
            pkg_config_libdir=env.get("PKG_CONFIG_LIBDIR", ""),
            c_args=[w for w in config.get("CPPFLAGS", "").split() if w.startswith(f"-I{plan.rfs}")],
            link_args=config.get("LDFLAGS", "").split(),
        ),
    )
    write_json_atomic(plan.work / "build-details.json", build_details(facts))
    write_text_atomic(plan.work / "pyo3-config.txt", pyo3_config(facts))


def _staged_sysconfigdata(plan: PackagesPlan) -> Path:
    return plan.stage / "usr" / "lib" / f"python{plan.cell.version.short}" / f"{plan.sysconfigdata}.py"


def _tool(gcc: str, name: str) -> str:
    return gcc[: -len("gcc")] + name if gcc.endswith("gcc") else name


def _sysconfig_vars(module: Path) -> dict[str, str]:
    """The build-time variables of a staged _sysconfigdata module (our own generated file)."""
    namespace: dict[str, object] = {}
    exec(compile(module.read_text(), str(module), "exec"), namespace)
    build_time_vars = namespace["build_time_vars"]
    assert isinstance(build_time_vars, dict)
    return {str(k): str(v) for k, v in build_time_vars.items()}


def build_wheels(plan: PackagesPlan, runner: Runner) -> list[Wheel]:
    """pip resolves the requirements for the target and downloads or builds each wheel into a fresh
    directory: the set of this run (keep_wheels keeps them once checked)."""
    fresh = plan.fresh_wheels
    for directory in (fresh, plan.build_tmp):
        remove_tree(directory)
        directory.mkdir(parents=True)
    plan.wheelhouse.mkdir(parents=True, exist_ok=True)
    write_text_atomic(plan.requirements_file, plan.requirements)
    facts = facts_from_json(json.loads(plan.facts_file.read_text()))
    with runner.step(plan.cell.id, "packages-wheels") as step:
        done = step.run(plan.wheel_command(), env=plan.env(facts.platform), check=False)
        if done.returncode != 0:
            failure = explain_pip_failure(done.output)
            tail = "\n".join(f"    {line}" for line in done.output.splitlines()[-12:])
            message = failure.message if failure else f"pip could not make the wheels for {plan.cell.id}"
            if failure is None or failure.generic:
                message += f" (exit {done.returncode}); the RFS was not written; last lines:\n{tail}"
            else:
                message += "; the RFS was not written"
            hint = failure.hint if failure and failure.hint else ""
            raise PackageFailed(message, hint=(hint + "; " if hint else "") + f"whole log: {step.log}")
        found = [parse_wheel(p) for p in sorted(fresh.glob("*.whl"))]
        step.note(f"{len(found)} wheels: " + ", ".join(w.path.name for w in found))
    return found


def keep_wheels(plan: PackagesPlan, wheels: list[Wheel]) -> None:
    """Keep the checked wheels in the cell's wheelhouse: the next run finds them there (no rebuild)."""
    for wheel in wheels:
        kept = plan.wheelhouse / wheel.path.name
        if not kept.exists():
            shutil.copy2(wheel.path, kept)


IMPORT_SCRIPT = r"""
import importlib, json, sys
failed = {}
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except BaseException as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
print("CROSSPYTHON-IMPORTS " + json.dumps(failed))
"""


def import_check(plan: PackagesPlan, modules: list[str], runner: Runner) -> None:
    """Each installed package's top-level modules imported by the board's interpreter, from the RFS."""
    if not modules:
        return
    interpreter = str(plan.rfs / plan.cell.version.interpreter)
    with runner.step(plan.cell.id, "packages-import") as step:
        done = step.run(
            [plan.qemu, "-L", str(plan.rfs), interpreter, "-I", "-B", "-c", IMPORT_SCRIPT, json.dumps(modules)],
            check=False,
            timeout=600,
        )
        line = next((x for x in done.output.splitlines() if x.startswith("CROSSPYTHON-IMPORTS ")), None)
        failed = json.loads(line.split(" ", 1)[1]) if line else {"(interpreter)": f"exit {done.returncode}"}
        if failed:
            raise VerifyFailed(
                "installed, but not importable on the target: "
                + "; ".join(f"{name}: {why}" for name, why in failed.items()),
                hint=f"see {step.log}",
            )
        step.note(f"imported under {plan.qemu}: {', '.join(modules)}")


def run_packages(
    plan: PackagesPlan, *, profile: Profile, installed_cell: str, runner: Runner, rfs_lock: Path, work_lock: Path
) -> None:
    """The whole of `packages` for one cell and RFS: build tools, probe, wheels, checks, install, imports.
    Nothing is written into the RFS before every wheel is built and checked; an unchanged rerun does nothing."""
    build_tools(plan, runner)
    with file_lock(work_lock, f"the packages of {plan.cell.id} for {plan.rfs}"):
        facts = probe(plan, runner)
        stamp = Stamp(plan.work, "packages")
        inputs = plan.inputs(facts.to_json(), profile.name, installed_cell)
        if stamp.matches(inputs) and _still_installed(plan):
            runner.skip(plan.cell.id, "packages", f"the same packages are installed in {plan.rfs}")
            return
        stamp.clear()
        found = build_wheels(plan, runner)
        with runner.step(plan.cell.id, "packages-check") as step:
            has = library_names(plan.rfs_lib_dirs)
            target = plan.cell.target
            problems = [p for w in found for p in check_wheel(w, target, ext_suffix=facts.ext_suffix, has_library=has)]
            if problems:
                raise PackageFailed(
                    f"{len(problems)} problem(s) with the wheels for {plan.cell.id}; the RFS was not written:\n  "
                    + "\n  ".join(problems[:20]),
                    hint="a wheel built for another machine, or a library missing from the RFS (add its package)",
                )
            step.note(f"{len(found)} wheels fit the target: " + ", ".join(w.path.name for w in found))
            keep_wheels(plan, found)
        with runner.step(plan.cell.id, "packages-install") as step:
            trees = into_rfs.stage_wheels(plan, found, profile, step)
            with file_lock(rfs_lock, f"the RFS {plan.rfs}"):
                merged = into_rfs.merge_packages(plan, trees, {w.name: w for w in found}, profile, step)
        import_check(plan, [m for manifest in merged for m in manifest.modules], runner)
        write_json_atomic(plan.installed_file, sorted(trees))
        stamp.write(inputs)


def _still_installed(plan: PackagesPlan) -> bool:
    """The packages of the last complete run are all in the RFS as their manifests say."""
    if not plan.installed_file.is_file():
        return False
    installed = into_rfs.installed_packages(plan.manifests)
    names = json.loads(plan.installed_file.read_text())
    return all(n in installed and installed[n].present_in(plan.rfs) for n in names)


def uninstall_packages(plan: PackagesPlan, names: list[str], runner: Runner, rfs_lock: Path) -> None:
    with file_lock(rfs_lock, f"the RFS {plan.rfs}"), runner.step(plan.cell.id, "packages-uninstall") as step:
        into_rfs.uninstall(plan, names, step)
