"""Install: the staged product is checked, and the RFS is untouched unless the whole merge can go."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crosspython.build.cross import plan_cross
from crosspython.build.toolchain import Toolchain
from crosspython.core.errors import BuildIncomplete
from crosspython.core.layout import Layout
from crosspython.core.runner import Runner
from crosspython.core.stamps import Stamp
from crosspython.install.manifest import Manifest, files_of, read_manifest, write_manifest
from crosspython.install.stage import InstallPlan, check_stage, plan_install, read_stage_record
from crosspython.matrix import Matrix
from crosspython.rfs.merge import staged_entries
from crosspython.rfs.sysroot import inspect_rfs
from tests.unit.trees import fake_stage


def _plan(matrix: Matrix, tmp_path: Path) -> InstallPlan:
    cell = matrix.cell(python="3.13", triplet="arm-linux-gnueabihf", variant="default")
    layout = Layout(tmp_path / "artifacts")
    cross = plan_cross(
        cell,
        layout=layout,
        source_dir=tmp_path / "src",
        build_python=tmp_path / "python",
        toolchain=Toolchain(prefix="arm-linux-gnueabihf", bindir=Path("/usr/bin")),
        toolchain_version="gcc 12",
        rfs=inspect_rfs(tmp_path / "rfs", "arm-linux-gnueabihf"),
        build_triplet="x86_64-pc-linux-gnu",
        jobs=1,
        ccache=None,
        host_pkg_config="pkg-config",
        host_path="/usr/bin",
        rfs_fingerprint="f",
    )
    plan = plan_install(
        cross,
        layout=layout,
        rfs=tmp_path / "rfs",
        toolchain="/usr/bin/x-gcc",
        toolchain_version="12",
        strip="/usr/bin/x-strip",
    )
    fake_stage(plan.stage)
    return plan


def test_stage_check_accepts_target_elves(matrix: Matrix, tmp_path: Path) -> None:
    plan = _plan(matrix, tmp_path)
    elves = check_stage(plan)
    assert "usr/bin/python3.13" in elves and len(elves) == 8


def test_a_host_binary_in_the_stage_is_an_error(matrix: Matrix, tmp_path: Path) -> None:
    plan = _plan(matrix, tmp_path)
    shutil.copy("/bin/true", plan.stage / "usr" / "bin" / "helper")
    with pytest.raises(BuildIncomplete) as info:
        check_stage(plan)
    assert "usr/bin/helper: X86_64/64-bit/little-endian, expected ARM/32-bit/little-endian" in info.value.message


def test_a_staged_interpreter_or_module_that_is_not_an_elf_is_an_error(matrix: Matrix, tmp_path: Path) -> None:
    """A link cut short leaves a file of the right name, zeros where its ELF header belongs."""
    plan = _plan(matrix, tmp_path)
    (plan.stage / "usr" / "bin" / "python3.13").write_bytes(bytes(4096))
    module = next((plan.stage / "usr" / "lib" / "python3.13" / "lib-dynload").glob("_ssl.*"))
    module.write_bytes(bytes(100))
    with pytest.raises(BuildIncomplete) as info:
        check_stage(plan)
    assert "should be ELF programs are not: usr/bin/python3.13, usr/lib/python3.13/lib-dynload/_ssl." in (
        info.value.message
    )
    assert str(plan.cross.build_dir) in info.value.hint


def test_missing_required_module_in_stage(matrix: Matrix, tmp_path: Path) -> None:
    plan = _plan(matrix, tmp_path)
    next((plan.stage / "usr" / "lib" / "python3.13" / "lib-dynload").glob("_ssl.*")).unlink()
    with pytest.raises(BuildIncomplete, match="_ssl"):
        check_stage(plan)


def test_install_inputs_name_what_was_built(matrix: Matrix, tmp_path: Path) -> None:
    plan = _plan(matrix, tmp_path)
    assert plan.inputs["python"] == matrix.version("3.13").full
    assert plan.inputs["triplet"] == "arm-linux-gnueabihf"
    assert plan.inputs["sha256"] == matrix.version("3.13").sha256
    assert plan.inputs["toolchain_version"] == "12"
    assert plan.make == ("make", "install", f"DESTDIR={plan.stage}")
    # One manifest per RFS and cell: a profile switch in that RFS reads it.
    assert plan.manifest.parent.parent == tmp_path / "artifacts" / "installs"
    assert (
        plan.manifest.parent.name.startswith("rfs-") and plan.manifest.name == "cp313-arm-linux-gnueabihf-default.json"
    )


def test_the_stage_record_is_what_its_stamp_holds(matrix: Matrix, tmp_path: Path) -> None:
    """`sizes` reads the stage through StageRecord: the strip tool is recorded, not derived from gcc's name."""
    plan = _plan(matrix, tmp_path)
    assert read_stage_record(plan.stage) is None  # not stamped yet: not a complete stage
    Stamp(plan.stage).write(plan.record.to_inputs())
    record = read_stage_record(plan.stage)
    assert record == plan.record
    assert record is not None and record.strip == "/usr/bin/x-strip"
    assert plan.inputs == record.to_inputs() | {"rfs": str(tmp_path / "rfs")}
    Stamp(plan.stage).write({"library": "zlib"})  # another kind of step's stamp
    assert read_stage_record(plan.stage) is None


def test_manifest_round_trip_keeps_its_json_shape(matrix: Matrix, tmp_path: Path) -> None:
    plan = _plan(matrix, tmp_path)
    files = files_of(plan.stage, staged_entries(plan.stage))
    manifest = Manifest(inputs=plan.inputs, interpreter=plan.interpreter, files=files)
    write_manifest(plan.manifest, manifest)
    assert read_manifest(plan.manifest) == manifest
    data = manifest.to_json()
    assert data["interpreter"] == "usr/bin/python3.13"
    assert data["total_bytes"] == sum(f.size for f in files) > 0
    link = next(f for f in data["files"] if f["path"] == "usr/bin/python3")
    assert link == {"path": "usr/bin/python3", "kind": "link", "target": "python3.13"}
    binary = next(f for f in data["files"] if f["path"] == "usr/bin/python3.13")
    assert set(binary) == {"path", "kind", "size", "sha256"} and len(binary["sha256"]) == 64
    # present_in: the cheap check of an unchanged RFS
    rfs = tmp_path / "rfs"
    assert not manifest.present_in(rfs)
    shutil.copytree(plan.stage, rfs, symlinks=True)
    assert manifest.present_in(rfs)
    (rfs / "usr" / "bin" / "python3.13").write_bytes(b"changed size")
    assert not manifest.present_in(rfs)
    plan.manifest.write_text("{not json")
    assert read_manifest(plan.manifest) is None


def test_an_interrupted_merge_is_finished_by_the_next_install(
    matrix: Matrix, tmp_path: Path, runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or SIGTERM) in the middle of the merge: the journal and the temporary files it left
    are found by the next install, which completes the RFS as an uninterrupted one would have."""
    from dataclasses import replace

    from crosspython.core.stamps import Stamp
    from crosspython.install import into_rfs
    from crosspython.install.board import plan_board

    plan = _plan(matrix, tmp_path)
    layout = Layout(tmp_path / "artifacts")
    Stamp(plan.cross.build_dir).write(plan.cross.inputs)  # "built"
    Stamp(plan.stage).write(plan.record.to_inputs())  # "staged"
    (tmp_path / "rfs").mkdir()
    profile = replace(matrix.profile("full"), strip=False)  # the fake stage's ELF headers cannot be stripped
    board = plan_board(plan, profile, layout=layout, build_python=Path("/nonexistent"), strip="", objcopy="")
    real_merge = into_rfs.merge

    def interrupted(stage: Path, rfs: Path, entries: list[tuple[str, str]]) -> None:
        real_merge(stage, rfs, entries[: len(entries) // 2])
        (rfs / "usr" / "bin" / ".python3.13.crosspython-tmp").write_text("half-copied")
        raise KeyboardInterrupt

    monkeypatch.setattr(into_rfs, "merge", interrupted)
    with pytest.raises(KeyboardInterrupt):
        into_rfs.run_install(board, runner, layout)
    journal = into_rfs.journal_of(plan.manifest)
    assert journal.is_file() and not plan.manifest.exists()
    monkeypatch.setattr(into_rfs, "merge", real_merge)
    into_rfs.run_install(board, runner, layout)
    assert not journal.exists() and plan.manifest.is_file()
    assert not list((tmp_path / "rfs").rglob("*.crosspython-tmp"))
    for rel, kind in staged_entries(plan.stage):
        if kind == "file":
            assert (tmp_path / "rfs" / rel).read_bytes() == (plan.stage / rel).read_bytes(), rel


def test_an_install_whose_journal_is_left_is_not_up_to_date(matrix: Matrix, tmp_path: Path, runner: Runner) -> None:
    """The manifest matches and its files are there, but a later install of the cell into this RFS
    was cut short (its journal is left): the next install is redone, and the journal goes."""
    from dataclasses import replace

    from crosspython.install import into_rfs
    from crosspython.install.board import plan_board

    plan = _plan(matrix, tmp_path)
    layout = Layout(tmp_path / "artifacts")
    Stamp(plan.cross.build_dir).write(plan.cross.inputs)
    Stamp(plan.stage).write(plan.record.to_inputs())
    (tmp_path / "rfs").mkdir()
    profile = replace(matrix.profile("full"), strip=False)
    board = plan_board(plan, profile, layout=layout, build_python=Path("/nonexistent"), strip="", objcopy="")
    into_rfs.run_install(board, runner, layout)
    assert into_rfs.installed_matches(board)
    journal = into_rfs.journal_of(plan.manifest)
    journal.write_text(plan.manifest.read_text())
    assert not into_rfs.installed_matches(board)
    into_rfs.run_install(board, runner, layout)
    assert not journal.exists() and into_rfs.installed_matches(board)
