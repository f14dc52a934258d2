"""The size history: one line per cell and commit in artifacts/reports/history.jsonl (`sizes --history`).

CI appends to it on the main branch (the file travels between runs as a cache or an artifact);
the HTML report draws each cell's trend from it. A commit measured again replaces its lines, so
a rerun of the same commit does not draw a step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..core.files import write_text_atomic


@dataclass(frozen=True)
class Commit:
    """The commit a report measured, and its message's Size-Increase trailer."""

    sha: str
    date: str  # the committer's date, ISO 8601
    size_increase: str = ""


TRAILER = "Size-Increase"


def parse_log(text: str) -> Commit:
    """`git log -1 --format=%H%n%cI%n%B`'s output: hash, date, then the message."""
    lines = text.splitlines()
    if len(lines) < 2 or len(lines[0]) < 7:
        raise ValueError(f"not a commit: {text[:80]!r}")
    return Commit(sha=lines[0].strip(), date=lines[1].strip(), size_increase=trailer(lines[2:]))


def trailer(message: list[str] | str, key: str = TRAILER) -> str:
    """The value of `key:` in the message's last paragraph (git's trailers), else ""; several are joined."""
    lines = message.splitlines() if isinstance(message, str) else list(message)
    while lines and not lines[-1].strip():
        lines.pop()
    paragraph: list[str] = []
    for line in reversed(lines):
        if not line.strip():
            break
        paragraph.insert(0, line)
    values = []
    for line in paragraph:
        name, colon, value = line.partition(":")
        if colon and name.strip().lower() == key.lower() and value.strip():
            values.append(value.strip())
    return "; ".join(values)


def lines_for(tracked: dict[str, dict[str, int]], commit: Commit) -> list[dict[str, Any]]:
    """One history line per cell: the commit, its date and the cell's tracked sizes."""
    return [
        {"commit": commit.sha, "date": commit.date, "cell": cell, "sizes": dict(sorted(sizes.items()))}
        for cell, sizes in sorted(tracked.items())
    ]


def read_history(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"{path}:{number}: not a JSON line: {exc}") from None
        if not isinstance(entry, dict) or not {"commit", "cell", "sizes"} <= set(entry):
            raise ConfigError(f"{path}:{number}: expected commit, cell and sizes")
        out.append(entry)
    return out


def appended(history: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`history` with `new` at its end, replacing lines of the same commit and cell."""
    replaced = {(x["commit"], x["cell"]) for x in new}
    return [x for x in history if (x["commit"], x["cell"]) not in replaced] + new


def write_history(path: Path, history: list[dict[str, Any]]) -> None:
    write_text_atomic(path, "".join(json.dumps(x, sort_keys=True) + "\n" for x in history))
