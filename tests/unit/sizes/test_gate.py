"""The size regression gate: tracked sizes, the threshold's precedence, notes, and a bad baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crosspython.core.errors import ConfigError, SizeRegression
from crosspython.sizes.gate import (
    Baseline,
    check,
    enforce,
    gate_table,
    load_baseline,
    tracked,
    updated_baseline,
    write_baseline,
)
from tests.unit.sizes.fake import MEASURED


def _current(interp: int, ssl: int) -> dict[str, dict[str, int]]:
    return {"cp313-arm-linux-gnueabihf-default": {"interpreter (stripped)": interp, "_ssl (stripped)": ssl}}


BASE = Baseline(cells=_current(3_650_000, 100_000), threshold_pct=2.0)


def test_gate_passes_within_threshold_and_fails_on_growth() -> None:
    result = check(_current(3_700_000, 101_000), BASE)
    assert result.grew == [] and len(result.compared) == 2 and result.notes == [] and result.limit == 2.0
    result = check(_current(3_650_000, 110_000), BASE)  # injected growth: +10 % on _ssl
    assert [(g.metric, round(g.growth, 1)) for g in result.grew] == [("_ssl (stripped)", 10.0)]
    table = gate_table(result.grew)
    assert "_ssl (stripped)" in table and "100,000" in table and "110,000" in table and "+10.00%" in table
    result = check(_current(3_650_000, 101_500), BASE, threshold=1.0)  # the flag wins over the baseline
    assert len(result.grew) == 1 and result.limit == 1.0


def test_enforce_says_why_it_fails(tmp_path: Path) -> None:
    said: list[str] = []
    enforce(check(_current(3_650_000, 100_500), BASE), tmp_path / "b.json", said.append)
    assert said == [f"size check passed: 2 tracked sizes within 2.0 % of {tmp_path / 'b.json'}"]
    with pytest.raises(SizeRegression, match=r"1 tracked size\(s\) grew more than 2.0 %") as info:
        enforce(check(_current(3_650_000, 110_000), BASE), tmp_path / "b.json", said.append)
    assert "--update-baseline" in info.value.hint
    with pytest.raises(SizeRegression, match="nothing to check"):
        enforce(check({}, BASE), tmp_path / "b.json", said.append)
    assert said[-1] == "    note: cp313-arm-linux-gnueabihf-default: not built here, not checked"


def test_gate_notes_cells_it_cannot_check() -> None:
    current = {"cp313-arm-linux-gnueabihf-os": {"interpreter (stripped)": 1}}
    result = check(current, BASE)
    assert result.grew == [] and result.compared == []
    assert result.notes == [
        "cp313-arm-linux-gnueabihf-default: not built here, not checked",
        "cp313-arm-linux-gnueabihf-os: no baseline (add it with --update-baseline)",
    ]


def test_update_baseline_keeps_other_cells(tmp_path: Path) -> None:
    new = updated_baseline({"cp313-arm-linux-gnueabihf-os": {"interpreter (stripped)": 5}}, BASE)
    assert set(new.cells) == {"cp313-arm-linux-gnueabihf-default", "cp313-arm-linux-gnueabihf-os"}
    assert new.threshold_pct == 2.0
    write_baseline(tmp_path / "b.json", new)
    assert load_baseline(tmp_path / "b.json") == new


def test_tracked_sizes_are_the_stripped_ones() -> None:
    stripped = MEASURED[1]
    assert tracked(stripped, ("_ssl",)) == {
        "interpreter (stripped)": 3_650_000,
        "_ssl (stripped)": 100_000,
        "extension modules total (stripped)": 101_000,
        "installed tree total (stripped)": 280_000_000,
    }
    with pytest.raises(ValueError, match="stripped"):
        tracked(MEASURED[0], ("_ssl",))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"cells": []}', "expected"),
        ('{"threshold_pct": "2", "cells": {}}', "threshold_pct must be a number"),
        ('{"cells": {"c": {"interpreter (stripped)": "big"}}}', "must be a byte count, got 'big'"),
        ('{"cells": {"c": 5}}', "must be an object of sizes"),
    ],
)
def test_a_bad_baseline_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_baseline(path)
    with pytest.raises(ConfigError, match="no size baseline"):
        load_baseline(tmp_path / "missing.json")


def test_the_shipped_baseline_loads() -> None:
    baseline = load_baseline(Path(__file__).resolve().parents[3] / "matrix" / "sizes-baseline.json")
    assert baseline.cells and all(v > 0 for metrics in baseline.cells.values() for v in metrics.values())
    assert json.loads(json.dumps(baseline.to_json())) == baseline.to_json()
