"""Publishing a size report: its files (JSON, Markdown, HTML, OpenMetrics), the history, the
comparison with another report, and its verdict. Shared by `sizes` (which measures) and
`size-diff` (which merges reports measured elsewhere, e.g. by each cell's CI job)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError, SizeRegression
from ..core.files import write_json_atomic, write_text_atomic
from ..core.layout import PROJECT_ROOT
from ..session import Session
from . import compare, gate, history, report
from .footprint import Footprint
from .gate import Limits
from .measure import Measurement


def head_commit(session: Session, revision: str) -> history.Commit | None:
    """The commit `revision` names in this checkout (None: not a git checkout)."""
    with session.runner.step("sizes", "commit") as step:
        done = step.run(["git", "log", "-1", "--format=%H%n%cI%n%B", revision, "--"], cwd=PROJECT_ROOT, check=False)
    if done.returncode != 0:
        return None
    try:
        return history.parse_log(done.output)
    except ValueError:
        return None


@dataclass(frozen=True)
class Publication:
    """How a size report is published: its files, the history, the comparison and its verdict."""

    session: Session
    base: dict[str, Any] | None
    compare_to: Path | None
    limits: Limits | None
    limits_path: Path | None
    head: history.Commit | None
    keep_history: bool

    def write(
        self, measurements: list[Measurement], footprints: list[Footprint], current: dict[str, dict[str, int]]
    ) -> tuple[dict[str, Path], compare.SizeDiff | None]:
        """Write the reports (with the history's trend, after adding this run to it) and the
        comparison; returns the files and the comparison (None without a base)."""
        say = self.session.runner.say
        reports = self.session.layout.reports
        trend = history.read_history(reports / "history.jsonl")
        if self.keep_history and self.head is not None:
            trend = history.appended(trend, history.lines_for(current, self.head))
            history.write_history(reports / "history.jsonl", trend)
        paths, head_report = report.write_reports(
            measurements, reports, self.session.matrix.knobs, footprints, current, trend
        )
        write_text_atomic(reports / "sizes-metrics.txt", report.openmetrics(current))
        paths["metrics"] = reports / "sizes-metrics.txt"
        if self.keep_history:
            paths["history"] = reports / "history.jsonl"
        say(report.to_markdown(measurements, self.session.matrix.knobs))
        say(report.footprint_markdown(footprints))
        diff = None
        if self.base is not None and self.compare_to is not None and self.limits is not None:
            reason = self.head.size_increase if self.head else ""
            diff = compare.compare(self.base, head_report, self.limits, base_name=str(self.compare_to), reason=reason)
            markdown = compare.to_markdown(diff)
            paths["diff_md"] = reports / "sizes-diff.md"
            paths["diff_json"] = reports / "sizes-diff.json"
            write_text_atomic(paths["diff_md"], markdown)
            write_json_atomic(paths["diff_json"], compare.to_json(diff))
            say(markdown)
            summary = os.environ.get("GITHUB_STEP_SUMMARY")  # GitHub Actions shows it on the run's page
            if summary:
                with open(summary, "a", encoding="utf-8") as handle:
                    handle.write(markdown + "\n")
        else:
            # an earlier run's diff is not this run's: nothing may read it as such
            for stale in (reports / "sizes-diff.md", reports / "sizes-diff.json"):
                stale.unlink(missing_ok=True)
        say("reports: " + ", ".join(str(p) for p in paths.values()))
        return paths, diff

    def judge(self, diff: compare.SizeDiff | None, paths: dict[str, Path]) -> None:
        """The comparison's verdict: SizeRegression when a tracked size grew past its limit unjustified."""
        if diff is None:
            return
        over = compare.over_rows(diff)
        if diff.failed:
            raise SizeRegression(
                f"{len(over)} tracked size(s) grew past their limits ({self.limits_path}) against "
                f"{self.compare_to}:\n" + "\n".join(over),
                hint=f"see {paths['diff_md']}; if the growth is intended, say why in the head commit's message: "
                "a last paragraph with `Size-Increase: <why>`",
            )
        say = self.session.runner.say
        if diff.accepted:
            say(f"size growth accepted (Size-Increase: {diff.reason}):\n" + "\n".join(over))
        else:
            say(f"size comparison passed: no tracked size grew past its limit against {self.compare_to}")


def publication(
    session: Session,
    compare_to: Path | None,
    commit: str,
    thresholds: Path | None,
    threshold: float | None,
    keep_history: bool,
) -> Publication:
    """Everything a publication reads, checked before anything is measured or merged."""
    limits_path = thresholds or gate.THRESHOLDS
    base = compare.load_report(compare_to) if compare_to else None
    limits = gate.load_limits(limits_path).with_pct(threshold) if compare_to else None
    head = head_commit(session, commit) if compare_to or keep_history else None
    if head is None and (keep_history or (compare_to and commit != "HEAD")):
        # (outside a git checkout, --compare alone goes on: no commit, no trailer to read)
        raise ConfigError(
            f"{commit!r} is not a commit of {PROJECT_ROOT}",
            hint="--commit takes what git names a commit by (a hash, a branch, HEAD); --history needs one",
        )
    return Publication(
        session=session,
        base=base,
        compare_to=compare_to,
        limits=limits,
        limits_path=limits_path,
        head=head,
        keep_history=keep_history,
    )
