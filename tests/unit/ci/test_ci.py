"""`invoke ci`: the generated CI files match the generator, lint clean with the real linters (which do
find what they are for), and read back as the structure they were made from."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from crosspython.ci import comment
from crosspython.ci import plan as ci
from crosspython.core.errors import ConfigError
from tests.conftest import run_invoke

ROOT = Path(__file__).resolve().parents[3]
WORKFLOW = ROOT / ci.GITHUB_FILE
GITLAB = ROOT / ci.GITLAB_FILE
SETTINGS = ci.load_settings(ROOT / "matrix" / "ci.toml")
BIN = Path(sys.executable).parent

NOX_LINES = """invoke > Didn't see any /etc/invoke.yaml, skipping.
[{"session": "matrix(cp313-arm-linux-gnueabihf)", "name": "matrix", "tags": ["arm", "cp313"],
  "call_spec": {"python_version": "3.13", "triplet": "arm-linux-gnueabihf"}},
 {"session": "matrix(cp313-powerpc-linux-gnu)", "name": "matrix", "tags": ["powerpc", "cp313"],
  "call_spec": {"python_version": "3.13", "triplet": "powerpc-linux-gnu"}},
 {"session": "tests-3.11", "name": "tests", "tags": [], "call_spec": {}}]
""".replace("\n ", " ").replace("\n  ", " ")
CELLS = ci.cells_from_nox(NOX_LINES)


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        found = shutil.which(name)
        if found is None:
            pytest.fail(f"{name} is not installed (it is in requirements.txt: ./run installs it)")
        return found
    return str(path)


def _load(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


def test_the_committed_files_are_what_invoke_ci_writes() -> None:
    done = run_invoke("ci", "--check", timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "ci: 2 files up to date (20 cells)" in done.stdout


def test_a_drifted_file_is_named_and_invoke_ci_writes_it_anew(tmp_path: Path) -> None:
    from crosspython import pipeline
    from crosspython.session import Options, resolve

    session = resolve(Options(), config={"artifacts": str(tmp_path / "artifacts")})
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(GITLAB, tmp_path / ci.GITLAB_FILE)
    (tmp_path / ci.GITHUB_FILE).write_text(WORKFLOW.read_text().replace("timeout-minutes: 90", "timeout-minutes: 91"))
    with pytest.raises(ConfigError, match="the CI files differ from what `invoke ci` writes") as info:
        pipeline.ci_files(session, tags=[], cells=[], check=True, root=tmp_path)
    assert "crosspython.yml" in info.value.message and ".gitlab-ci.yml" not in info.value.message
    pipeline.ci_files(session, tags=["powerpc"], cells=[], check=False, root=tmp_path)
    written = _load((tmp_path / ci.GITHUB_FILE).read_text())
    assert {c["triplet"] for c in written["jobs"]["cell"]["strategy"]["matrix"]["include"]} == {"powerpc-linux-gnu"}


def test_cells_come_from_nox_and_are_chosen_by_tag_or_name() -> None:
    assert [(c.name, c.python, c.triplet) for c in CELLS] == [
        ("cp313-arm-linux-gnueabihf", "3.13", "arm-linux-gnueabihf"),
        ("cp313-powerpc-linux-gnu", "3.13", "powerpc-linux-gnu"),
    ]
    assert [c.name for c in ci.select(CELLS, tags=["powerpc"], names=[])] == ["cp313-powerpc-linux-gnu"]
    assert [c.name for c in ci.select(CELLS, tags=[], names=["cp313-arm-linux-gnueabihf"])] == [
        "cp313-arm-linux-gnueabihf"
    ]
    with pytest.raises(ConfigError, match="no matrix cell has the tag 'sparc'"):
        ci.select(CELLS, tags=["sparc"], names=[])
    with pytest.raises(ConfigError, match="no matrix cell 'cp313-sparc'"):
        ci.select(CELLS, tags=[], names=["cp313-sparc"])
    with pytest.raises(ConfigError, match="printed no JSON"):
        ci.cells_from_nox("nox > error")


def test_the_yaml_reads_back_as_the_structure_it_was_made_from() -> None:
    for made in (ci.github_workflow(CELLS, SETTINGS), ci.gitlab_ci(CELLS, SETTINGS)):
        expected = json.loads(json.dumps(made, default=lambda v: v.value))  # Commented: its value
        assert _load(ci.render(made)) == expected
    tricky = {"a": "x: y", "b": "yes", "c": "3.13", "d": "# not a comment", "e": "line one\nline two\n", "f": ""}
    assert _load(ci.to_yaml(tricky)) == tricky


def test_each_cell_is_a_job_with_its_own_toolchain_and_the_sizes_job_compares() -> None:
    workflow = _load(WORKFLOW.read_text())
    include = workflow["jobs"]["cell"]["strategy"]["matrix"]["include"]
    assert {"cell": "cp313-powerpc-linux-gnu", "python": "3.13", "triplet": "powerpc-linux-gnu"} in include
    runs = "\n".join(s.get("run", "") for s in workflow["jobs"]["cell"]["steps"])
    assert './run invoke setup --triplet "$TRIPLET"' in runs
    assert "invoke native cross install verify" in runs and "invoke test-target" in runs
    assert "invoke sizes --symbols" in runs
    uses = [s["uses"] for job in workflow["jobs"].values() for s in job["steps"] if "uses" in s]
    assert uses and all("@" in u and len(u.split("@")[1]) == 40 for u in uses)  # every action by commit
    sizes = "\n".join(s.get("run", "") for s in workflow["jobs"]["sizes"]["steps"])
    assert "./run invoke size-diff" in sizes and "--compare base/sizes.json" in sizes
    assert workflow["permissions"] == {}
    gitlab = _load(GITLAB.read_text())
    assert len(gitlab["cell"]["parallel"]["matrix"]) == len(include)
    assert gitlab["sizes"]["artifacts"]["reports"] == {"metrics": "artifacts/reports/sizes-metrics.txt"}


def test_zizmor_finds_nothing_in_the_workflow_and_flags_what_it_is_for(tmp_path: Path) -> None:
    zizmor = _tool("zizmor")
    done = subprocess.run([zizmor, "--offline", "--format", "json", str(WORKFLOW)], capture_output=True, text=True)
    assert done.returncode == 0 and json.loads(done.stdout) == [], done.stdout + done.stderr
    # the linter is live: a third-party action by tag (zizmor lets actions/* go by tag) and a pull
    # request's title in a shell line are findings
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    text = (
        WORKFLOW.read_text().replace(f"uses: {SETTINGS.actions['checkout'].ref}", "uses: someone/checkout@v4", 1)
        + '      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    bad.write_text(text)
    done = subprocess.run([zizmor, "--offline", "--format", "json", str(bad)], capture_output=True, text=True)
    found = {f["ident"] for f in json.loads(done.stdout)}
    assert {"unpinned-uses", "template-injection"} <= found, found


def test_actionlint_finds_nothing_and_flags_a_broken_expression(tmp_path: Path) -> None:
    actionlint = _tool("actionlint")
    done = subprocess.run([actionlint, str(WORKFLOW)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text(WORKFLOW.read_text().replace("${{ matrix.triplet }}", "${{ matrix.tripletx }}"))
    done = subprocess.run([actionlint, str(bad)], capture_output=True, text=True)
    assert done.returncode == 1 and "tripletx" in done.stdout


def test_the_gitlab_file_matches_gitlabs_schema_and_a_wrong_key_does_not(tmp_path: Path) -> None:
    check = _tool("check-jsonschema")
    done = subprocess.run([check, "--builtin-schema", "vendor.gitlab-ci", str(GITLAB)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    bad = tmp_path / ".gitlab-ci.yml"
    bad.write_text(GITLAB.read_text().replace("  script:\n", "  scripts:\n", 1))
    done = subprocess.run([check, "--builtin-schema", "vendor.gitlab-ci", str(bad)], capture_output=True, text=True)
    assert done.returncode == 1


def test_settings_pin_every_action_by_commit(tmp_path: Path) -> None:
    text = (ROOT / "matrix" / "ci.toml").read_text().replace(SETTINGS.actions["checkout"].sha, "v4.2.2")
    bad = tmp_path / "ci.toml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=r"actions.checkout.sha must be a full commit hash"):
        ci.load_settings(bad)


def test_the_pull_request_comment_is_created_once_then_edited() -> None:
    comments: list[dict[str, Any]] = [{"id": 1, "body": "a reviewer's words"}]
    calls: list[tuple[str, str]] = []

    def request(method: str, url: str, body: dict[str, Any] | None) -> Any:
        calls.append((method, url))
        if method == "GET":
            return list(comments)
        if method == "POST":
            assert body is not None
            comments.append({"id": 2, "body": body["body"]})
            return comments[-1]
        assert body is not None and url.endswith("/comments/2")
        comments[1]["body"] = body["body"]
        return comments[1]

    api, repo = "https://api.example", "me/board"
    assert comment.upsert(request, api, repo, 7, comment.body_of("# Size changes\nfirst")) == "created"
    assert comment.upsert(request, api, repo, 7, comment.body_of("# Size changes\nsecond")) == "edited"
    assert len(comments) == 2 and comments[0]["body"] == "a reviewer's words"
    assert comments[1]["body"].startswith(comment.MARKER) and comments[1]["body"].endswith("second")
    assert ("POST", f"{api}/repos/{repo}/issues/7/comments") in calls
    long = comment.body_of("x" * 100_000)
    assert len(long) < 65_536 and "(cut:" in long
