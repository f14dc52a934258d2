"""The generated GitHub workflow's jobs run on this machine, as a runner would (`nox -s ci_local`).

It reads the committed .github/workflows/crosspython.yml, not the generator: each cell's job
runs in a fresh clone of the commit, its `run:` steps one after the other with the job's
environment; then the `sizes` job in another fresh clone, with the cells' uploaded reports.
What the runner's actions do is done here by hand: checkout is the fresh clone, upload and
download-artifact copy directories under artifacts/ci-local/artifacts/, cache restore and save
copy the cached paths to and from artifacts/ci-local/cache/<key>/ (exact key first, then the
newest whose name starts with a restore key, as GitHub does). The pull-request comment is
printed, not posted (no GitHub here). A step whose `if:` or expression this cannot decide is
an error, not a skip.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..core.runner import Runner

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def hash_files(root: Path, patterns: list[str]) -> str:
    """GitHub's hashFiles(): the sha256 of the sha256 of each matching file, in path order."""
    outer = hashlib.sha256()
    matched = sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})
    for path in matched:
        outer.update(hashlib.sha256(path.read_bytes()).digest())
    return outer.hexdigest() if matched else ""


@dataclass(frozen=True)
class Context:
    """What the expressions of the workflow read: the matrix entry, the commit, the event."""

    matrix: dict[str, str]
    sha: str
    on_main: bool  # a push to the main branch (else: a pull request)
    root: Path  # the clone: what hashFiles() reads

    def value(self, expression: str) -> str:
        if expression.startswith("matrix.") and expression[7:] in self.matrix:
            return self.matrix[expression[7:]]
        files = re.fullmatch(r"hashFiles\((.*)\)", expression)
        if files:
            return hash_files(self.root, re.findall(r"'([^']*)'", files.group(1)))
        known = {
            "github.sha": self.sha,
            "github.event.pull_request.head.sha || github.sha": self.sha,
            "github.event.pull_request.number": "0",
            "github.token": "",
        }
        if expression in known:
            return known[expression]
        if expression.startswith("github.event_name == 'push' && github.ref == "):
            return "true" if self.on_main else "false"
        raise ConfigError(f"ci-local cannot evaluate ${{{{ {expression} }}}}")

    def expand(self, text: str) -> str:
        return _EXPRESSION.sub(lambda m: self.value(m.group(1)), text)

    def runs(self, condition: str | None, env: dict[str, str]) -> bool:
        """Whether a step with this `if:` runs here (where every earlier step succeeded)."""
        if condition is None or condition == "always()":
            return True
        if "github.event_name == 'pull_request'" in condition:
            return not self.on_main
        if condition == "env.ON_MAIN == 'true'":
            return env.get("ON_MAIN") == "true"
        raise ConfigError(f"ci-local cannot decide `if: {condition}`")


def _cells(workflow: dict[str, Any]) -> list[dict[str, str]]:
    return list(workflow["jobs"]["cell"]["strategy"]["matrix"]["include"])


def choose(workflow: dict[str, Any], names: list[str]) -> list[dict[str, str]]:
    cells = _cells(workflow)
    known = [c["cell"] for c in cells]
    for name in names:
        if name not in known:
            raise ConfigError(f"the workflow has no cell {name!r}", hint=f"its cells: {', '.join(known)}")
    return [c for c in cells if c["cell"] in names] if names else cells


def run_job(
    job: dict[str, Any],
    context: Context,
    *,
    clone: Path,
    artifacts: Path,
    runner: Runner,
    scope: str,
    extra_env: dict[str, str],
) -> None:
    """One job's steps in `clone` (a fresh clone of the commit), as the runner would run them."""
    env = {k: context.expand(str(v)) for k, v in (job.get("env") or {}).items()} | extra_env
    for number, step in enumerate(job["steps"], 1):
        name = str(step.get("name") or step.get("uses") or step.get("run", "")[:40])
        step_env = env | {k: context.expand(str(v)) for k, v in (step.get("env") or {}).items()}
        if not context.runs(step.get("if"), step_env):
            runner.say(f"==> [{scope}] {number}. {name}: not run here (if: {step['if']})")
            continue
        if "run" in step:
            with runner.step(scope, f"{number:02d}-step") as s:
                s.note(name)
                s.run(["bash", "-e", "-c", step["run"]], cwd=clone, env=step_env)
            continue
        _action(str(step["uses"]), step.get("with") or {}, context, clone, artifacts, runner, scope, number)


def _action(
    uses: str,
    with_: dict[str, Any],
    context: Context,
    clone: Path,
    artifacts: Path,
    runner: Runner,
    scope: str,
    number: int,
) -> None:
    action = uses.split("@", 1)[0]
    handlers: dict[str, Callable[[], str]] = {
        "actions/checkout": lambda: f"the fresh clone {clone}",
        "actions/cache/restore": lambda: _restore(with_, context, clone, artifacts.parent / "cache"),
        "actions/cache/save": lambda: _save(with_, context, clone, artifacts.parent / "cache"),
        "actions/upload-artifact": lambda: _upload(with_, context, clone, artifacts),
        "actions/download-artifact": lambda: _download(with_, context, clone, artifacts),
    }
    if action not in handlers:
        raise ConfigError(f"ci-local has no stand-in for the action {action}")
    runner.say(f"==> [{scope}] {number}. {action}: {handlers[action]()}")


def _upload(with_: dict[str, Any], context: Context, clone: Path, artifacts: Path) -> str:
    name = context.expand(str(with_["name"]))
    source = clone / str(with_["path"])
    dest = artifacts / name
    if dest.exists():
        shutil.rmtree(dest)
    if not source.exists():
        return f"{source} does not exist: nothing uploaded as {name}"
    shutil.copytree(source, dest, symlinks=True)
    return f"{source} uploaded as {name}"


def _download(with_: dict[str, Any], context: Context, clone: Path, artifacts: Path) -> str:
    pattern = context.expand(str(with_.get("pattern", "*")))
    dest = clone / str(with_.get("path", "."))
    found = sorted(p for p in artifacts.iterdir() if fnmatch.fnmatch(p.name, pattern)) if artifacts.is_dir() else []
    for source in found:
        shutil.copytree(source, dest / source.name, symlinks=True, dirs_exist_ok=True)
    return f"{len(found)} artifact(s) {pattern} into {dest}"


def _paths(with_: dict[str, Any]) -> list[str]:
    return [line.strip().rstrip("/") for line in str(with_["path"]).splitlines() if line.strip()]


def _restore(with_: dict[str, Any], context: Context, clone: Path, store: Path) -> str:
    key = context.expand(str(with_["key"]))
    prefixes = [
        context.expand(line.strip()) for line in str(with_.get("restore-keys", "")).splitlines() if line.strip()
    ]
    entry = store / key
    if not entry.is_dir():
        candidates = [
            p for prefix in prefixes for p in (store.iterdir() if store.is_dir() else []) if p.name.startswith(prefix)
        ]
        if not candidates:
            return f"no cache for {key}"
        entry = max(candidates, key=lambda p: p.stat().st_mtime)
    for rel in _paths(with_):
        source = entry / rel
        if source.is_dir():
            shutil.copytree(source, clone / rel, symlinks=True, dirs_exist_ok=True)
        elif source.is_file():
            (clone / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / rel)
    return f"restored {entry.name}"


def _save(with_: dict[str, Any], context: Context, clone: Path, store: Path) -> str:
    key = context.expand(str(with_["key"]))
    entry = store / key
    if entry.exists():
        return f"{key} exists: kept as it is (as GitHub keeps a key's first save)"
    partial = store / f".{key}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    saved = []
    for rel in _paths(with_):
        source = clone / rel
        if source.is_dir():
            shutil.copytree(source, partial / rel, symlinks=True)
        elif source.is_file():
            (partial / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, partial / rel)
        else:
            continue
        saved.append(rel)
    if not saved:
        return f"nothing to save as {key}"
    partial.rename(entry)
    return f"saved {', '.join(saved)} as {key}"
