"""One sticky pull-request comment with the size diff: created once, edited on every later run.

Run by the generated GitHub workflow's `sizes` job:
    ./run python -m crosspython.ci.comment artifacts/reports/sizes-diff.md
with GITHUB_TOKEN, GITHUB_REPOSITORY, PR_NUMBER (and GITHUB_API_URL) in the environment. The
comment is found again by a marker line, so a rerun edits it instead of adding another.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

MARKER = "<!-- crosspython: size diff -->"
LIMIT = 65_000  # GitHub refuses comments over 65,536 characters

# (method, url, body or None) -> the decoded JSON answer
Request = Callable[[str, str, dict[str, Any] | None], Any]


def body_of(markdown: str, run_url: str = "") -> str:
    """The comment's text: the marker, the diff (cut to GitHub's limit), where the whole report is."""
    tail = f"\n\n[The whole report]({run_url})" if run_url else ""
    text = markdown if len(markdown) <= LIMIT else markdown[:LIMIT] + "\n\n(cut: the diff is longer than a comment)"
    return f"{MARKER}\n{text}{tail}"


def upsert(request: Request, api: str, repository: str, number: int, body: str) -> str:
    """Edit the comment that carries the marker, or create it; returns "edited" or "created"."""
    page = 1
    while True:
        comments = request("GET", f"{api}/repos/{repository}/issues/{number}/comments?per_page=100&page={page}", None)
        for comment in comments:
            if MARKER in str(comment.get("body", "")):
                request("PATCH", f"{api}/repos/{repository}/issues/comments/{comment['id']}", {"body": body})
                return "edited"
        if len(comments) < 100:
            break
        page += 1
    request("POST", f"{api}/repos/{repository}/issues/{number}/comments", {"body": body})
    return "created"


def github_request(token: str) -> Request:
    def request(method: str, url: str, body: dict[str, Any] | None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"Bearer {token}")
        req.add_header("Accept", "application/vnd.github+json")
        req.add_header("X-GitHub-Api-Version", "2022-11-28")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as answer:
            return json.loads(answer.read() or b"null")

    return request


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m crosspython.ci.comment SIZES-DIFF.md", file=sys.stderr)
        return 2
    diff = Path(argv[0])
    if not diff.is_file():
        print(f"{diff}: no size diff to comment with (no base report to compare with yet?)")
        return 0
    env = os.environ
    if env.get("CROSSPYTHON_COMMENT_DRY_RUN"):  # nox -s ci-local: no GitHub to post to
        print("the pull request's size comment would read:\n" + body_of(diff.read_text()))
        return 0
    missing = [k for k in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "PR_NUMBER") if not env.get(k)]
    if missing:
        print(f"error: {', '.join(missing)} not set (run by the workflow's sizes job)", file=sys.stderr)
        return 2
    api = env.get("GITHUB_API_URL", "https://api.github.com")
    run_url = ""
    if env.get("GITHUB_SERVER_URL") and env.get("GITHUB_RUN_ID"):
        run_url = f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    done = upsert(
        github_request(env["GITHUB_TOKEN"]),
        api,
        env["GITHUB_REPOSITORY"],
        int(env["PR_NUMBER"]),
        body_of(diff.read_text(), run_url),
    )
    print(f"size diff comment {done} on pull request #{env['PR_NUMBER']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
