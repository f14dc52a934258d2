"""nox sessions: the test suite on every host Python, the cross-build matrix, the size comparison.

    nox -s tests                 # unit tests on Python 3.10-3.13 (those this machine has)
    nox -s matrix                # every (version x triplet) cell: build, install, verify, sizes; summary at the end
    nox -s "matrix(cp313-arm-linux-gnueabihf)"  /  nox -t arm  /  nox -l --json
    nox -s matrix -- --target-tests   # ... and CPython's regression subset on each cell (invoke test-target)
    nox -s sizes                 # build the variants of the default cell, then the size report
    nox -s packages              # numpy (meson-python, C and C++) cross-built for armhf, computed with under qemu
    nox -s ci-local              # the generated GitHub workflow's jobs, run here in fresh clones (two cells)

A bare `nox` runs only `tests`: the other sessions build CPython and take many minutes.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from crosspython.matrix import DEFAULT_VARIANT, load_matrix  # noqa: E402  (after the sys.path line above)
from crosspython.session import configured_layout  # noqa: E402

nox.options.sessions = ["tests"]
nox.options.error_on_missing_interpreters = False

# pyenv installs several Pythons but its shims expose only the selected one: make the others
# findable as pythonX.Y so that `tests` runs on each of them.
_pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
if _pyenv.is_dir():
    os.environ["PATH"] = os.pathsep.join([*(str(p / "bin") for p in sorted(_pyenv.iterdir())), os.environ["PATH"]])

MATRIX = load_matrix()
LAYOUT = configured_layout()  # the tasks' artifacts directory, however it is configured
RESULTS = LAYOUT.matrix_results
HOST_PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


CELLS = [
    nox.param(
        version.short,
        triplet,
        id=f"{version.tag}-{triplet}",
        tags=[target.family, version.tag],
    )
    for version in MATRIX.versions.values()
    for triplet, target in MATRIX.targets.items()
]


def _install(session: nox.Session) -> None:
    session.install("--require-hashes", "-r", "requirements.lock")


@nox.session(python=HOST_PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite with pytest-xdist (unit tests; add `-- -m integration` for the real builds)."""
    _install(session)
    args = session.posargs or ["-m", "not integration"]
    session.run("python", "-m", "pytest", "-n", "auto", *args)


@nox.session(default=False)
@nox.parametrize(("python_version", "triplet"), CELLS)
def matrix(session: nox.Session, python_version: str, triplet: str) -> None:
    """One cell: native, cross, install into its RFS, verify under qemu, sizes. A summary ends the run."""
    _install(session)
    cell = MATRIX.cell(python=python_version, triplet=triplet, variant=DEFAULT_VARIANT)
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    target_tests = "--target-tests" in session.posargs
    extra = [a for a in session.posargs if a != "--target-tests"]
    result: dict[str, object] = {
        "cell": cell.id,
        "result": "failed",
        "seconds": 0.0,
        "python_bytes": None,
        "stripped_bytes": None,
        "target_tests": None,
    }
    session.notify("summary")
    try:
        session.run(
            "invoke", "native", "cross", "install", "verify", "--python", python_version, "--triplet", triplet, *extra
        )
        result["result"] = "ok"
        if target_tests:
            result["result"] = "tests failed"
            try:
                session.run("invoke", "test-target", "--python", python_version, "--triplet", triplet)
                result["result"] = "ok"
            finally:
                record = LAYOUT.target_tests_junit(cell).with_suffix(".json")
                if record.is_file():
                    t = json.loads(record.read_text())
                    result["target_tests"] = (
                        f"{t['run']} run, {t['passed']} passed, {t['real_failures']} failed, "
                        f"{t['expected_failures']} expected, {t['skipped']} skipped, {t['duration_s']:.0f}s"
                    )
        session.run("invoke", "sizes", silent=True)
        totals = json.loads((LAYOUT.reports / "sizes.json").read_text())["totals"]
        for row in totals:
            if row["cell"] == cell.id:
                result["stripped_bytes" if row["stripped"] else "python_bytes"] = row["interpreter"]
    finally:
        result["seconds"] = round(time.monotonic() - started, 1)
        (RESULTS / f"{cell.id}.json").write_text(json.dumps(result, indent=1) + "\n")


@nox.session(default=False, python=False)
def summary(session: nox.Session) -> None:
    """The matrix table: cell, result, wall time, interpreter size (built / stripped)."""
    rows = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    if not rows:
        session.skip("no matrix results yet: run `nox -s matrix`")
    width = max(len(r["cell"]) for r in rows)
    print(f"{'cell':<{width}}  {'result':<7} {'wall time':>10} {'python':>12} {'stripped':>12}")
    for r in rows:
        size = f"{r['python_bytes']:,}" if r["python_bytes"] else "-"
        stripped = f"{r['stripped_bytes']:,}" if r["stripped_bytes"] else "-"
        print(f"{r['cell']:<{width}}  {r['result']:<7} {r['seconds']:>9.0f}s {size:>12} {stripped:>12}")
        if r.get("target_tests"):
            print(f"{'':<{width}}  target tests: {r['target_tests']}")
    report = LAYOUT.reports / "sizes.md"
    if report.is_file():
        # The variants side by side, per target (from `invoke sizes`, run by each cell).
        print("\n" + report.read_text())
    if any(r["result"] != "ok" for r in rows):
        session.error("some cells failed (see above and artifacts/logs/<cell>/)")


@nox.session(default=False)
def sizes(session: nox.Session) -> None:
    """Build and stage every variant of the default cell, make each install profile's tree, then the
    size report with start-up times (posargs go to `invoke sizes`)."""
    _install(session)
    for variant in MATRIX.variants:
        session.run("invoke", "cross", "stage", "--variant", variant)
    for profile in MATRIX.profiles:
        session.run("invoke", "board", "--profile", profile)
    session.run("invoke", "sizes", "--startup", *session.posargs)


# numpy computes on the board: a matrix product and a linear solve, checked against known answers.
NUMPY_CHECK = r"""
import time
started = time.monotonic()
import numpy as np
a = np.array([[3.0, 1.0], [1.0, 2.0]])
b = np.array([9.0, 8.0])
assert np.allclose(a @ np.array([[1.0, 0.0], [0.0, 1.0]]), a)
assert np.allclose(a @ a, [[10.0, 5.0], [5.0, 5.0]])
x = np.linalg.solve(a, b)
assert np.allclose(x, [2.0, 3.0]), x
m = np.arange(1, 10, dtype=np.float64).reshape(3, 3) + np.eye(3)
assert np.allclose(m @ np.linalg.inv(m), np.eye(3))
print("NUMPY OK", np.__version__, "solve ->", x.tolist(), f"in {time.monotonic() - started:.1f}s under qemu")
"""


@nox.session(default=False)
def packages(session: nox.Session) -> None:
    """numpy for the default cell (3.13, armhf): meson-python with the probed cross file, C and C++,
    built from source for the target; then a matrix product and numpy.linalg.solve under qemu-arm.
    Outside CI's time budget (minutes of compiling). posargs: the numpy requirement (default numpy)."""
    _install(session)
    spec = " ".join(session.posargs) or "numpy"
    session.run("invoke", "setup", "--triplet", "arm-linux-gnueabihf", "--cxx")
    session.run("invoke", "native", "cross", "install")
    started = time.monotonic()
    session.run("invoke", "packages", "--specs", spec)
    built = time.monotonic() - started
    rfs = LAYOUT.default_rfs("arm-linux-gnueabihf")
    session.run(
        "qemu-arm", "-L", str(rfs), str(rfs / "usr/bin/python3.13"), "-I", "-B", "-c", NUMPY_CHECK, external=True
    )
    site = rfs / "usr/lib/python3.13/site-packages"
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file() and "numpy" in p.relative_to(site).parts[0])
    print(f"numpy: built and installed in {built:.0f}s; {size / 1e6:.1f} MB installed (numpy*, stripped)")


CI_LOCAL_CELLS = ["cp313-arm-linux-gnueabihf", "cp313-powerpc-linux-gnu"]  # one little-, one big-endian


@nox.session(default=False, python=False, name="ci-local")
def ci_local(session: nox.Session) -> None:
    """The committed .github/workflows/crosspython.yml run here as a runner would: each cell's job in a
    fresh clone of HEAD, then the sizes job twice (as a push to main: history and base kept; then as a
    pull request: compared with that base, its comment printed). posargs: cells (default: arm, powerpc)."""
    import subprocess

    from ruamel.yaml import YAML

    from crosspython.ci import local
    from crosspython.ci.plan import GITHUB_FILE
    from crosspython.core.runner import Runner

    workflow = YAML(typ="safe", pure=True).load((ROOT / GITHUB_FILE).read_text())
    cells = local.choose(workflow, list(session.posargs) or CI_LOCAL_CELLS)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    if subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip():
        session.warn("the work tree has uncommitted changes: ci-local runs the commit, as CI would")
    work = LAYOUT.root / "ci-local"
    runner = Runner(log_root=work / "logs")
    artifacts = work / "artifacts"
    if artifacts.exists():
        session.run("rm", "-rf", str(artifacts), external=True)

    def fresh_clone(name: str) -> Path:
        clone = work / "clones" / name
        if clone.exists():
            session.run("rm", "-rf", str(clone), external=True)
        session.run("git", "clone", "--quiet", str(ROOT), str(clone), external=True)
        return clone

    def run_job(job: str, clone_name: str, matrix: dict[str, str], on_main: bool, scope: str) -> None:
        clone = fresh_clone(clone_name)
        context = local.Context(matrix=matrix, sha=sha.strip(), on_main=on_main, root=clone)
        env = {"CROSSPYTHON_COMMENT_DRY_RUN": "1", "CI": "true"}
        local.run_job(
            workflow["jobs"][job], context, clone=clone, artifacts=artifacts, runner=runner, scope=scope, extra_env=env
        )

    for cell in cells:
        run_job("cell", cell["cell"], cell, False, f"ci-local-{cell['cell']}")
    run_job("sizes", "sizes", {}, True, "ci-local-sizes-main")
    run_job("sizes", "sizes", {}, False, "ci-local-sizes-pull-request")
    print(f"ci-local: {len(cells)} cell job(s) and the sizes job ran; reports in {artifacts / 'sizes-report'}")
