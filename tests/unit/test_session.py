"""Options resolved into a Session: flag, then $RFS, then invoke configuration, then built-ins."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosspython.core.errors import ConfigError
from crosspython.matrix import Matrix
from crosspython.session import Options, resolve


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


def test_ccache_remote_storage_reaches_every_command(matrix: Matrix, tmp_path: Path) -> None:
    config = {"artifacts": str(tmp_path / "a"), "ccache_remote": "redis://127.0.0.1:6379"}
    session = resolve(Options(), config=config, matrix=matrix)
    assert session.runner.env == {"CCACHE_REMOTE_STORAGE": "redis://127.0.0.1:6379"}
    with session.runner.step("t", "env") as step:
        seen = step.run(["sh", "-c", 'echo "remote=$CCACHE_REMOTE_STORAGE"']).output
        assert "remote=redis://127.0.0.1:6379" in seen
        # a step's own setting wins
        own = step.run(["sh", "-c", 'echo "remote=$CCACHE_REMOTE_STORAGE"'], env={"CCACHE_REMOTE_STORAGE": ""})
        assert "remote=\n" in own.output + "\n"
    assert resolve(Options(), config={"artifacts": str(tmp_path / "a")}, matrix=matrix).runner.env == {}
    with pytest.raises(ConfigError, match="is not a ccache remote storage"):
        resolve(Options(), config={**config, "ccache_remote": "cache.example:6379"}, matrix=matrix)
