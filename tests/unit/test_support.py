"""Smaller pieces: ELF headers, locks, stamps, apt source parsing, RFS symlinks, session defaults."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from crosspython.core.elf import ElfHeader, mismatch, read_header
from crosspython.core.errors import ConfigError
from crosspython.core.layout import Stamp, file_lock, write_if_different
from crosspython.fetch.apt import AptState, find_debian_mirror, source_lines
from crosspython.matrix import Matrix
from crosspython.rfs.provision import relativize_symlinks
from crosspython.session import Options, resolve


def test_elf_header_of_a_host_binary() -> None:
    assert read_header(Path("/bin/true")) == ElfHeader("X86_64", 64, "little")


def test_elf_header_big_endian_powerpc(tmp_path: Path) -> None:
    path = tmp_path / "ppc"
    path.write_bytes(b"\x7fELF\x01\x02\x01" + b"\0" * 9 + b"\x00\x02" + b"\x00\x14" + b"\0" * 40)
    header = read_header(path)
    assert header == ElfHeader("PPC", 32, "big")
    assert mismatch(header, machine="PPC", elf_class=32, endianness="big") is None
    assert mismatch(header, machine="ARM", elf_class=32, endianness="little") is not None


def test_non_elf_is_none(tmp_path: Path) -> None:
    (tmp_path / "script").write_text("#!/bin/sh\n")
    assert read_header(tmp_path / "script") is None


def _hold(path: str, log: str, tag: str) -> None:
    with file_lock(Path(path), "test"):
        with open(log, "a") as handle:
            handle.write(f"{tag} in {time.monotonic()}\n")
        time.sleep(0.5)
        with open(log, "a") as handle:
            handle.write(f"{tag} out {time.monotonic()}\n")


def test_file_lock_serializes_processes(tmp_path: Path) -> None:
    lock, log = tmp_path / "x.lock", tmp_path / "log"
    spawn = multiprocessing.get_context("spawn")  # fork from a threaded pytest is deprecated
    procs = [spawn.Process(target=_hold, args=(str(lock), str(log), t)) for t in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(10)
    events = [line.split()[:2] for line in log.read_text().splitlines()]
    # Never two "in" in a row: the second waited for the first to leave.
    assert [e[1] for e in events] == ["in", "out", "in", "out"]
    assert events[0][0] == events[1][0]


def test_stamp_matches_only_the_same_inputs(tmp_path: Path) -> None:
    stamp = Stamp(tmp_path)
    assert not stamp.matches({"a": 1})
    stamp.write({"a": 1})
    assert stamp.matches({"a": 1}) and not stamp.matches({"a": 2})
    stamp.clear()
    assert not stamp.matches({"a": 1})
    assert Stamp(tmp_path, "configure").path != stamp.path


def test_write_if_different_keeps_mtime(tmp_path: Path) -> None:
    path = tmp_path / "config.site"
    assert write_if_different(path, "a=1\n")
    os.utime(path, (1, 1))
    assert not write_if_different(path, "a=1\n")
    assert path.stat().st_mtime == 1


def test_mirror_from_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n"
    )
    mirror = find_debian_mirror(tmp_path, "bookworm")
    assert mirror.uri == "http://mirror.example/debian"
    assert mirror.signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"


def test_mirror_from_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "deb [arch=amd64] https://vendor.example/apt stable main\n"
        "deb http://ftp.example.org/debian/ bookworm main contrib\n"
    )
    assert find_debian_mirror(tmp_path, "bookworm").uri == "http://ftp.example.org/debian"
    with pytest.raises(ConfigError, match="no Debian mirror for trixie"):
        find_debian_mirror(tmp_path, "trixie")


def test_private_apt_state_never_names_host_paths(tmp_path: Path) -> None:
    from crosspython.fetch.apt import Mirror

    lines = source_lines(Mirror("http://m/debian", "/nonexistent.gpg"), "bookworm", kind="deb", arch="armhf")
    assert lines == ["deb [arch=armhf] http://m/debian bookworm main"]
    options = AptState(tmp_path, lines, arch="armhf").options
    values = dict(o.split("=", 1) for o in options if o != "-o")
    assert values["Dir::State::Status"] == "/dev/null"
    assert values["APT::Architecture"] == "armhf"
    assert all(values[k].startswith(str(tmp_path)) for k in ("Dir::Etc::SourceList", "Dir::State::Lists", "Dir::Cache"))


def test_absolute_symlinks_become_relative(tmp_path: Path) -> None:
    (tmp_path / "lib" / "arm").mkdir(parents=True)
    (tmp_path / "lib" / "arm" / "libz.so.1").write_text("z")
    (tmp_path / "usr" / "lib" / "arm").mkdir(parents=True)
    link = tmp_path / "usr" / "lib" / "arm" / "libz.so"
    link.symlink_to("/lib/arm/libz.so.1")
    (tmp_path / "usr" / "lib" / "arm" / "rel.so").symlink_to("libz.so")
    assert relativize_symlinks(tmp_path) == 1
    assert os.readlink(link) == "../../../lib/arm/libz.so.1"
    assert link.read_text() == "z"


def test_rfs_precedence_flag_env_config(matrix: Matrix, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("flag", "env", "conf"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("RFS", str(tmp_path / "env"))
    config = {"rfs": str(tmp_path / "conf"), "artifacts": str(tmp_path / "a")}
    assert resolve(Options(rfs=str(tmp_path / "flag")), config=config, matrix=matrix).rfs == tmp_path / "flag"
    assert resolve(Options(), config=config, matrix=matrix).rfs == tmp_path / "env"
    monkeypatch.delenv("RFS")
    assert resolve(Options(), config=config, matrix=matrix).rfs == tmp_path / "conf"
    session = resolve(Options(), config={"artifacts": str(tmp_path / "a")}, matrix=matrix)
    assert session.rfs_is_default and session.rfs == tmp_path / "a" / "rfs" / "arm-linux-gnueabihf"


def test_wrong_rfs_path_is_a_clear_error(matrix: Matrix, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RFS", raising=False)
    with pytest.raises(ConfigError, match="does not exist") as info:
        resolve(Options(rfs=str(tmp_path / "srv" / "rootfs")), matrix=matrix)
    assert "leave --rfs out" in info.value.hint
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="is not a directory"):
        resolve(Options(rfs=str(tmp_path / "file")), matrix=matrix)


def test_jobs_and_config_defaults(matrix: Matrix, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RFS", raising=False)
    session = resolve(Options(), config={"jobs": 3, "verbose": True, "variant": "sections"}, matrix=matrix)
    assert session.jobs == 3 and session.runner.verbose and session.cell.variant.name == "sections"
    with pytest.raises(ConfigError, match="--jobs must be at least 1"):
        resolve(Options(jobs=-1), matrix=matrix)
