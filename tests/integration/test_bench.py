"""`invoke bench --quick`: a smoke run of the benchmark on the cell the suite builds (no timing asserted).

It rebuilds the default cell in the benchmark's own artifacts directory from this project's
ccache (warm), reruns it unchanged, and times `invoke sizes`; the table must come out whole.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.test_cross_build import ARTIFACTS, CELL, invoke

pytestmark = pytest.mark.integration

BENCH = ARTIFACTS / "bench"


def test_bench_quick_writes_its_table_from_real_runs() -> None:
    # The cell the suite's main job builds: it fills the ccache the warm run reads (no-op when built).
    assert invoke("native", "cross", "install").returncode == 0
    done = invoke("bench", "--quick")
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads((BENCH / "bench.json").read_text())
    runs = {r["flow"]: r for r in data["runs"]}
    assert list(runs) == ["warm", "noop", "sizes"]
    assert runs["warm"]["cells"] == [CELL]
    # configure and make really ran, and were read from the run's own logs
    assert 0 < runs["warm"]["build_commands"] < runs["warm"]["seconds"]
    assert runs["noop"]["seconds"] < runs["warm"]["seconds"]
    assert data["machine"]["cores"]
    table = (BENCH / "bench.md").read_text()
    assert "| warm | cell | 1 |" in table and "| noop | cell | 1 |" in table
    assert "no ratio measured" in table  # --quick runs no recipe: it says so rather than invent one
    # the warm run's install was a real one, into its own copy of the RFS
    card_rfs = BENCH / "card" / "artifacts" / "rfs" / "arm-linux-gnueabihf"
    assert (card_rfs / "usr" / "bin" / "python3.13").is_file()
    log = (BENCH / "card" / "artifacts" / "logs" / CELL / "make.log").read_text()
    assert "# exit 0 after" in log
