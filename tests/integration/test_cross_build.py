"""Real cross builds of CPython 3.13 for arm-linux-gnueabihf, installed into an RFS and run under qemu-arm.

Slow (minutes): the native build, the cross build, `make install`, and emulated start-up. ccache
and the shared native build keep reruns fast.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crosspython.core.elf import read_header
from tests.conftest import run_invoke

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CELL = "cp313-arm-linux-gnueabihf-default"
DEFAULT_RFS = ARTIFACTS / "rfs" / "arm-linux-gnueabihf"


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    done = run_invoke(*args, timeout=3600)
    print(done.stdout[-6000:])
    print(done.stderr[-3000:], file=sys.stderr)
    return done


@pytest.fixture(scope="module")
def main_job() -> subprocess.CompletedProcess[str]:
    """The README's main job on the defaults: 3.13, arm-linux-gnueabihf, the default RFS."""
    return invoke("native", "cross", "install", "verify")


def installed_manifest(rfs: Path, cell: str) -> Path:
    """The manifest of `cell`'s install into `rfs` (artifacts/installs/<rfs>-<hash>/<cell>.json)."""
    (path,) = list((ARTIFACTS / "installs").glob(f"{rfs.name}-*/{cell}.json"))
    return path


def verify_checks(cell: str) -> dict[str, dict[str, object]]:
    """verify's JSON record of `cell` (artifacts/reports/verify/<cell>.json): check name -> {ok, detail}."""
    record = json.loads((ARTIFACTS / "reports" / "verify" / f"{cell}.json").read_text())
    assert record["cell"] == cell
    return {c["name"]: c for c in record["checks"]}


def verify_rows(cell: str) -> dict[str, str]:
    """Check name -> "ok" or "FAIL", as verify's record says."""
    return {name: "ok" if c["ok"] else "FAIL" for name, c in verify_checks(cell).items()}


def test_main_job_builds_installs_and_runs_under_qemu(main_job: subprocess.CompletedProcess[str]) -> None:
    assert main_job.returncode == 0, main_job.stderr
    rows = verify_rows(CELL)
    assert set(rows) >= {
        "implementation",
        "machine",
        "extension modules",
        "ssl",
        "zlib",
        "ctypes",
        "sqlite3",
        "bz2",
        "lzma",
        "json",
        "asyncio",
    }
    assert set(rows.values()) == {"ok"}, rows
    assert verify_checks(CELL)["machine"]["detail"] == "armv7l, little-endian, 32-bit"


def test_installed_interpreter_is_an_arm_elf_with_a_manifest(main_job: subprocess.CompletedProcess[str]) -> None:
    assert main_job.returncode == 0
    header = read_header(DEFAULT_RFS / "usr" / "bin" / "python3.13")
    assert header is not None and (header.machine, header.elf_class, header.endianness) == ("ARM", 32, "little")
    manifest = json.loads(installed_manifest(DEFAULT_RFS, CELL).read_text())
    assert manifest["inputs"]["python"] == "3.13.5"
    assert manifest["inputs"]["triplet"] == "arm-linux-gnueabihf"
    assert manifest["inputs"]["toolchain_version"].startswith("arm-linux-gnueabihf-gcc")
    paths = {f["path"] for f in manifest["files"]}
    assert "usr/bin/python3.13" in paths
    assert any(p.startswith("usr/lib/python3.13/lib-dynload/_ssl.") for p in paths)
    assert manifest["profile"] == "standard"  # the default: board-ready
    # Built under SOURCE_DATE_EPOCH: sys.version's date is the release's (versions.toml source_date).
    interpreter = (DEFAULT_RFS / "usr" / "bin" / "python3.13").read_bytes()
    assert b"Jun 11 2025" in interpreter and b"15:36:57" in interpreter
    for step in ("configure", "make", "install", "verify"):
        assert (ARTIFACTS / "logs" / CELL / f"{step}.log").is_file()


def test_immediate_rerun_does_nothing(main_job: subprocess.CompletedProcess[str]) -> None:
    assert main_job.returncode == 0
    again = invoke("native", "cross", "install")
    assert again.returncode == 0, again.stderr
    assert "==> [native-cp313] native: up to date" in again.stdout
    assert f"==> [{CELL}] cross: up to date" in again.stdout
    assert f"==> [{CELL}] install: up to date" in again.stdout
    assert "$ " not in again.stdout  # not one command was run


def test_user_rfs_and_another_variant(main_job: subprocess.CompletedProcess[str]) -> None:
    """An RFS given with --rfs (a board's libraries, no crosspython stamp), built in the `sections` variant.

    Its .so links are absolute, as on a board's copy or after `dpkg -x`: on the build host they
    dangle, and without the link farm the linker took libbz2.a, liblzma.a and libz.a instead.
    """
    assert main_job.returncode == 0
    # Under artifacts/ (not /tmp) so that ccache, whose base is the project root, hits on reruns.
    board = ARTIFACTS / "test" / "board-rootfs"
    if board.exists():
        shutil.rmtree(board)

    def ignore(directory: str, names: list[str]) -> set[str]:
        skip = {".crosspython-stamp.json"}
        rel = Path(directory).relative_to(DEFAULT_RFS)
        if rel == Path("usr/bin"):
            skip |= {n for n in names if n.startswith("python")}
        if rel == Path("usr/lib"):
            skip |= {n for n in names if n.startswith(("python3", "libpython3"))}
        if rel == Path("usr/include"):
            skip |= {n for n in names if n.startswith("python3")}
        return skip & set(names)

    shutil.copytree(DEFAULT_RFS, board, symlinks=True, ignore=ignore)
    assert not (board / "usr" / "bin" / "python3.13").exists()
    multiarch = board / "usr" / "lib" / "arm-linux-gnueabihf"
    made_absolute = 0
    for link in multiarch.glob("lib*.so"):
        if link.is_symlink() and not os.readlink(link).startswith("/"):
            target = (link.parent / os.readlink(link)).resolve()
            if target.is_relative_to(board) and target.parent != link.parent:
                link.unlink()
                link.symlink_to("/" + str(target.relative_to(board)))
                made_absolute += 1
    assert made_absolute >= 3 and not (multiarch / "libbz2.so").exists()  # dangles on the build host
    done = invoke("cross", "install", "verify", "--variant", "sections", f"--rfs={board}")
    assert done.returncode == 0, done.stderr
    assert (board / "usr" / "bin" / "python3.13").is_file()
    assert set(verify_rows("cp313-arm-linux-gnueabihf-sections").values()) == {"ok"}
    manifest = json.loads(installed_manifest(board, "cp313-arm-linux-gnueabihf-sections").read_text())
    assert manifest["inputs"]["rfs"] == str(board)
    assert manifest["inputs"]["cflags"] == ["-ffunction-sections", "-fdata-sections"]
    # The board's shared libraries were linked, as the board resolves its links (the link farm).
    dynload = board / "usr" / "lib" / "python3.13" / "lib-dynload"
    for module, library in (("_bz2", "libbz2.so"), ("_lzma", "liblzma.so"), ("zlib", "libz.so")):
        (so,) = list(dynload.glob(f"{module}.cpython-*.so"))
        needed = subprocess.run(["arm-linux-gnueabihf-readelf", "-d", str(so)], capture_output=True, text=True).stdout
        assert f"[{library}" in needed, (module, needed)
    make_log = (ARTIFACTS / "logs" / "cp313-arm-linux-gnueabihf-sections" / "make.log").read_text()
    assert "statically" not in make_log


def test_sizes_report_and_regression_gate(main_job: subprocess.CompletedProcess[str], tmp_path: Path) -> None:
    """lief on the real cross-built CPython; the committed baseline holds; an injected growth fails the gate."""
    assert main_job.returncode == 0
    done = invoke("stage", "sizes", "--check")
    assert done.returncode == 0, done.stderr
    assert "size check passed" in done.stdout
    report = json.loads((ARTIFACTS / "reports" / "sizes.json").read_text())
    interp = [e for e in report["elves"] if e["cell"] == CELL and e["role"] == "interpreter"]
    assert {e["stripped"] for e in interp} == {False, True}
    for e in interp:
        assert (e["machine"], e["elf_class"], e["endianness"]) == ("ARM", 32, "little")
        assert e["text"] > 1_000_000 and e["rodata"] > 100_000
    built, stripped = sorted(interp, key=lambda e: e["stripped"])
    assert built["debug"] > 10_000_000 and stripped["debug"] == 0
    assert stripped["text"] == built["text"]  # strip removes no code
    modules = {e["path"].rsplit("/", 1)[-1].split(".")[0] for e in report["elves"] if e["cell"] == CELL}
    assert {"_ssl", "_hashlib", "zlib", "_ctypes", "_sqlite3", "_bz2", "_lzma"} <= modules
    markdown = (ARTIFACTS / "reports" / "sizes.md").read_text()
    assert "| default+strip |" in markdown
    assert "<svg" in (ARTIFACTS / "reports" / "sizes.html").read_text()

    # Injected growth: a baseline 10 % smaller than what was built.
    baseline = json.loads((ROOT / "matrix" / "sizes-baseline.json").read_text())
    metrics = baseline["cells"][CELL]
    metrics["interpreter (stripped)"] = int(metrics["interpreter (stripped)"] / 1.10)
    shrunk = tmp_path / "baseline.json"
    shrunk.write_text(json.dumps(baseline))
    failed = invoke("sizes", "--check", f"--baseline={shrunk}")
    assert failed.returncode == 8
    assert "grew more than 2.0 %" in failed.stderr
    assert f"{CELL} / interpreter (stripped)" in failed.stderr and "+10.0" in failed.stderr


def _as_cell(report: dict[str, object], source: str, cell: str) -> dict[str, object]:
    """`report` holding only `source`'s measurements, named `cell`: the base a commit that built
    `cell` with `source`'s flags would have reported."""
    out: dict[str, object] = {"schema": report["schema"]}
    for key in ("totals", "elves", "footprints"):
        rows = [dict(r) for r in report[key] if r["cell"] == source]  # type: ignore[attr-defined]
        for row in rows:
            row["cell"] = cell
        out[key] = rows
    out["tracked"] = {cell: report["tracked"][source]}  # type: ignore[index]
    out["symbols"] = {cell: report["symbols"][source]}  # type: ignore[index]
    return out


def _scratch_commit(message: str) -> str:
    """A commit of HEAD's tree with `message`, referenced by nothing (no branch or work tree moves)."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    done = subprocess.run(
        ["git", "commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", message],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return done.stdout.strip()


def test_sizes_compare_attributes_a_growth_and_the_trailer_accepts_it(
    main_job: subprocess.CompletedProcess[str], tmp_path: Path
) -> None:
    """The base built the default cell with --gc-sections (the `sections` variant's flags), the head
    without: the growth is found in python3.13's .text and in symbols that --gc-sections dropped;
    the gate fails, then passes for a commit whose message says why (Size-Increase:)."""
    assert main_job.returncode == 0
    sections = "cp313-arm-linux-gnueabihf-sections"
    if not (ARTIFACTS / "stage" / sections).is_dir():
        done = invoke("cross", "stage", "--variant", "sections")
        assert done.returncode == 0, done.stderr
    done = invoke("sizes", "--symbols", "--history")
    assert done.returncode == 0, done.stderr
    report = json.loads((ARTIFACTS / "reports" / "sizes.json").read_text())
    assert {CELL, sections} <= set(report["symbols"])
    head_sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    trend = [json.loads(x) for x in (ARTIFACTS / "reports" / "history.jsonl").read_text().splitlines()]
    assert {(x["commit"], x["cell"]) for x in trend} >= {(head_sha, CELL), (head_sha, sections)}
    base = tmp_path / "base-sizes.json"
    base.write_text(json.dumps(_as_cell(report, sections, CELL)))

    plain = _scratch_commit("sizes: build without --gc-sections\n\nNo reason given.")
    failed = invoke("sizes", f"--compare={base}", f"--commit={plain}")
    assert failed.returncode == 8, failed.stdout[-3000:]
    assert f"{CELL} / interpreter (stripped)" in failed.stderr
    diff = json.loads((ARTIFACTS / "reports" / "sizes-diff.json").read_text())
    assert diff["failed"] is True and sections in diff["only_head"]
    (cell,) = diff["cells"]
    interp = next(e for e in cell["elves"] if e["path"] == "usr/bin/python3.13")
    assert interp["file"]["head"] > interp["file"]["base"]
    assert any(s["what"] == "text" and s["head"] > s["base"] for s in interp["sections"])
    grown = [s for s in cell["grew"] if s["elf"] == "usr/bin/python3.13" and s["section"] == "text"]
    assert grown, cell["grew"]
    markdown = (ARTIFACTS / "reports" / "sizes-diff.md").read_text()
    assert f"`{grown[0]['name']}`" in markdown and "grew past their limits" in markdown

    justified = _scratch_commit("sizes: build without --gc-sections\n\nSize-Increase: debugging a board without gc")
    accepted = invoke("sizes", f"--compare={base}", f"--commit={justified}")
    assert accepted.returncode == 0, accepted.stderr
    assert "size growth accepted (Size-Increase: debugging a board without gc)" in accepted.stdout
    assert (
        "**accepted**: Size-Increase: debugging a board without gc"
        in (ARTIFACTS / "reports" / "sizes-diff.md").read_text()
    )


def test_cpython_regression_tests_run_on_the_target(main_job: subprocess.CompletedProcess[str]) -> None:
    """A small regrtest subset under qemu-arm; its -j2 workers are child interpreters started through binfmt."""
    assert main_job.returncode == 0
    done = invoke("test-target", "--tests", "test_zlib test_struct test_json", "--jobs", "2")
    assert done.returncode == 0, done.stderr
    record = json.loads((ARTIFACTS / "reports" / "target-tests" / f"{CELL}.json").read_text())
    assert record["tests"] == ["test_zlib", "test_struct", "test_json"]
    assert record["mode"] == "binfmt", record["note"]
    # 3.13.5's three files hold 299 tests, 9 of them skipped on this target.
    assert record["run"] > 250 and record["passed"] > 250
    assert record["real_failures"] == 0 and record["failed"] == 0
    assert record["run"] == record["passed"] + record["skipped"] + len(record["failures"])
    # The rule this run registered (named in its note) was removed when it ended.
    rule = record["note"].split("'")[1]
    assert rule.startswith("crosspython-qemu-arm-") and not (Path("/proc/sys/fs/binfmt_misc") / rule).exists()
