"""The merge of a staged tree into an RFS: a dry run first, then atomic renames."""

from __future__ import annotations

import os
from pathlib import Path

from crosspython.rfs.merge import merge, merge_problems, space_needed, staged_entries
from tests.unit.trees import ARM_ELF_HEADER, fake_stage


def test_merge_copies_files_and_links(tmp_path: Path) -> None:
    stage = fake_stage(tmp_path / "stage")
    rfs = tmp_path / "rfs"
    (rfs / "usr" / "bin").mkdir(parents=True)
    (rfs / "usr" / "bin" / "busybox").write_text("board's own")
    (stage / ".crosspython-stamp.json").write_text("{}")
    entries = staged_entries(stage)
    assert not any(rel.startswith(".crosspython") for rel, _ in entries)  # our stamp stays out of the RFS
    assert ("usr/bin/python3", "link") in entries
    assert (
        entries.index(("usr", "dir"))
        < entries.index(("usr/bin", "dir"))
        < entries.index(("usr/bin/python3.13", "file"))
    )
    assert merge_problems(stage, rfs, entries) == []
    merge(stage, rfs, entries)
    # Every staged file landed with its bytes and mode, every link with its target.
    for rel, kind in entries:
        src, dest = stage / rel, rfs / rel
        if kind == "file":
            assert dest.read_bytes() == src.read_bytes() and dest.stat().st_mode == src.stat().st_mode, rel
        elif kind == "link":
            assert dest.is_symlink() and dest.readlink() == src.readlink(), rel
        else:
            assert dest.is_dir() and not dest.is_symlink(), rel
    assert (rfs / "usr" / "bin" / "python3.13").read_bytes() == ARM_ELF_HEADER
    assert (rfs / "usr" / "bin" / "python3").readlink() == Path("python3.13")
    assert (rfs / "usr" / "bin" / "busybox").read_text() == "board's own"
    assert not list(rfs.rglob("*.crosspython-tmp"))
    merge(stage, rfs, entries)  # again: replaces in place, no error


def test_conflicts_are_found_before_anything_is_written(tmp_path: Path) -> None:
    stage = fake_stage(tmp_path / "stage")
    rfs = tmp_path / "rfs"
    (rfs / "usr").mkdir(parents=True)
    (rfs / "usr" / "bin").write_text("a file where a directory must go")
    before = sorted(str(p) for p in rfs.rglob("*"))
    problems = merge_problems(stage, rfs, staged_entries(stage))
    assert problems == [f"{rfs / 'usr' / 'bin'} is a file, but a directory must be installed there"]
    assert sorted(str(p) for p in rfs.rglob("*")) == before


def test_the_space_a_merge_needs_counts_new_blocks_less_replaced_ones(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    (stage / "usr" / "lib").mkdir(parents=True)
    (stage / "usr" / "lib" / "new.so").write_bytes(b"x" * 10000)
    (stage / "usr" / "lib" / "same.so").write_bytes(b"y" * 5000)
    (stage / "usr" / "lib" / "link.so").symlink_to("new.so")
    rfs = tmp_path / "rfs"
    (rfs / "usr").mkdir(parents=True)
    block = os.statvfs(rfs).f_frsize

    def blocks(size: int) -> int:
        return -(-size // block) * block

    entries = staged_entries(stage)
    # usr/lib is new (a block), two files and a link, plus the largest file written beside its old self.
    assert space_needed(stage, rfs, entries) == block + blocks(10000) + blocks(5000) + block + blocks(10000)
    (rfs / "usr" / "lib").mkdir()
    (rfs / "usr" / "lib" / "same.so").write_bytes(b"z" * 5000)  # replaced: its blocks come back
    assert space_needed(stage, rfs, entries) == blocks(10000) + block + blocks(10000)
