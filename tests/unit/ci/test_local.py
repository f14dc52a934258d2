"""ci-local's stand-ins for a runner: expressions, conditions, artifacts and caches (real shell steps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crosspython.ci import local
from crosspython.core.errors import ConfigError, StepFailed
from crosspython.core.runner import Runner

CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"


def _context(tmp_path: Path, on_main: bool = False) -> local.Context:
    return local.Context(matrix={"cell": "cp313-x", "triplet": "x-linux"}, sha="abc123", on_main=on_main, root=tmp_path)


def test_expressions_and_conditions(tmp_path: Path) -> None:
    (tmp_path / "matrix").mkdir()
    (tmp_path / "matrix" / "versions.toml").write_text("v")
    context = _context(tmp_path)
    assert context.expand("k-${{ matrix.cell }}-${{ github.sha }}") == "k-cp313-x-abc123"
    digest = context.expand("${{ hashFiles('matrix/versions.toml', 'matrix/none.toml') }}")
    assert len(digest) == 64 and digest == local.hash_files(tmp_path, ["matrix/versions.toml"])
    assert context.expand("${{ github.event_name == 'push' && github.ref == 'refs/heads/main' }}") == "false"
    assert (
        _context(tmp_path, on_main=True).expand("${{ github.event_name == 'push' && github.ref == 'refs/heads/main' }}")
        == "true"
    )
    with pytest.raises(ConfigError, match="cannot evaluate"):
        context.expand("${{ secrets.TOKEN }}")
    assert context.runs(None, {}) and context.runs("always()", {})
    assert context.runs("always() && github.event_name == 'pull_request'", {})
    assert not _context(tmp_path, on_main=True).runs("always() && github.event_name == 'pull_request'", {})
    assert context.runs("env.ON_MAIN == 'true'", {"ON_MAIN": "true"})
    assert not context.runs("env.ON_MAIN == 'true'", {"ON_MAIN": "false"})
    with pytest.raises(ConfigError, match="cannot decide"):
        context.runs("failure()", {})


def _job(steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {"env": {"CELL": "${{ matrix.cell }}"}, "steps": steps}


def test_a_job_runs_its_steps_uploads_and_restores(tmp_path: Path) -> None:
    clone, artifacts = tmp_path / "clone", tmp_path / "work" / "artifacts"
    clone.mkdir()
    runner = Runner(log_root=tmp_path / "logs")
    cache = {
        "path": "kept/\n",
        "key": "k-${{ matrix.cell }}-${{ github.sha }}",
        "restore-keys": "k-${{ matrix.cell }}-",
    }
    job = _job(
        [
            {"uses": CHECKOUT},
            {"name": "restore", "uses": "actions/cache/restore@x", "with": cache},
            {"run": 'mkdir -p out kept && echo "$CELL $EXTRA" > out/report.txt && echo 1 >> kept/runs'},
            {"uses": "actions/upload-artifact@x", "with": {"name": "cell-sizes-${{ matrix.cell }}", "path": "out/"}},
            {"uses": "actions/cache/save@x", "with": {"path": cache["path"], "key": cache["key"]}},
            {"name": "only on main", "if": "env.ON_MAIN == 'true'", "run": "exit 1"},
        ]
    )
    local.run_job(
        job, _context(clone), clone=clone, artifacts=artifacts, runner=runner, scope="t", extra_env={"EXTRA": "e"}
    )
    assert (artifacts / "cell-sizes-cp313-x" / "report.txt").read_text() == "cp313-x e\n"
    assert (tmp_path / "work" / "cache" / "k-cp313-x-abc123" / "kept" / "runs").read_text() == "1\n"
    # another commit's run of the job: the cache restored by its restore key, then a download
    second = tmp_path / "clone2"
    second.mkdir()
    later = local.Context(matrix={"cell": "cp313-x"}, sha="def456", on_main=False, root=second)
    steps = [
        job["steps"][1],
        {"run": "echo 2 >> kept/runs"},
        {"uses": "actions/download-artifact@x", "with": {"pattern": "cell-sizes-*", "path": "in"}},
    ]
    local.run_job(_job(steps), later, clone=second, artifacts=artifacts, runner=runner, scope="t", extra_env={})
    assert (second / "kept" / "runs").read_text() == "1\n2\n"
    assert (second / "in" / "cell-sizes-cp313-x" / "report.txt").is_file()
    # a failing step fails the job, naming its log
    with pytest.raises(StepFailed):
        local.run_job(
            _job([{"run": "false"}]), later, clone=second, artifacts=artifacts, runner=runner, scope="t", extra_env={}
        )
    with pytest.raises(ConfigError, match="no stand-in for the action someone/thing"):
        local.run_job(
            _job([{"uses": "someone/thing@v1"}]),
            later,
            clone=second,
            artifacts=artifacts,
            runner=runner,
            scope="t",
            extra_env={},
        )
