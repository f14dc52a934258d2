"""The size history (history.jsonl), the Size-Increase trailer, and the trend in the HTML report."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosspython.core.errors import ConfigError
from crosspython.sizes import history
from crosspython.sizes.report import to_html, trend_svg
from tests.unit.sizes.fake import MEASURED

LOG = """0123456789abcdef0123456789abcdef01234567
2026-12-01T22:00:00+00:00
sizes: a bigger table

Why: a bigger table is faster.

Size-Increase: the unicode tables of 16.0
Signed-off-by: Someone <a@example.org>
"""


def test_the_trailer_is_read_from_the_last_paragraph() -> None:
    commit = history.parse_log(LOG)
    assert commit.sha.startswith("0123456789") and commit.date.startswith("2026-12-01")
    assert commit.size_increase == "the unicode tables of 16.0"
    # in the body, not a trailer: not read
    assert history.trailer("subject\n\nSize-Increase: no\n\nlast words") == ""
    assert history.trailer("subject\n\nsize-increase: lower case works too\n") == "lower case works too"
    assert history.trailer("subject") == ""
    with pytest.raises(ValueError):
        history.parse_log("fatal: bad revision")


def test_history_appends_and_replaces_a_commit_measured_again(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    one = history.Commit(sha="a" * 40, date="2026-11-30T00:00:00Z")
    two = history.Commit(sha="b" * 40, date="2026-12-01T00:00:00Z")
    tracked = {"cell-x": {"interpreter (stripped)": 100}, "cell-y": {"interpreter (stripped)": 200}}
    trend = history.appended(history.read_history(path), history.lines_for(tracked, one))
    trend = history.appended(trend, history.lines_for({"cell-x": {"interpreter (stripped)": 110}}, two))
    trend = history.appended(trend, history.lines_for({"cell-x": {"interpreter (stripped)": 111}}, two))
    history.write_history(path, trend)
    again = history.read_history(path)
    assert [(x["commit"][0], x["cell"], x["sizes"]["interpreter (stripped)"]) for x in again] == [
        ("a", "cell-x", 100),
        ("a", "cell-y", 200),
        ("b", "cell-x", 111),
    ]
    path.write_text('{"commit": "c"}\n')
    with pytest.raises(ConfigError, match=r"history.jsonl:1: expected commit, cell and sizes"):
        history.read_history(path)


def test_the_html_report_draws_each_cells_trend() -> None:
    lines = [
        {"commit": c * 40, "date": "", "cell": "cp313-arm", "sizes": {"interpreter (stripped)": v}}
        for c, v in (("a", 3_600_000), ("b", 3_650_000), ("c", 3_640_000))
    ]
    svg = trend_svg(lines)
    assert "cp313-arm: over 3 commits" in svg and svg.count("<circle") == 3 and "<polyline" in svg
    assert "bbbbbbbbbb: 3,650,000 bytes" in svg
    assert "over 3 commits" in to_html(MEASURED, "", None, lines)
    assert "commits" not in to_html(MEASURED, "", None, [])
