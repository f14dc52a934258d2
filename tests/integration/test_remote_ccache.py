"""ccache's remote storage on a real redis-server: a second fresh clone, with an empty local cache,
compiles the build-host interpreter from what the first one stored there."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crosspython.bench.plan import command_times

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TARBALL = ROOT / "artifacts" / "downloads" / "Python-3.13.5.tar.xz"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stats(ccache_dir: Path) -> dict[str, int]:
    done = subprocess.run(
        ["ccache", "--print-stats"], env={**os.environ, "CCACHE_DIR": str(ccache_dir)}, capture_output=True, text=True
    )
    out = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition("\t")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


def test_a_second_clone_compiles_from_the_remote_cache(tmp_path: Path) -> None:
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed (`invoke setup` installs it)")
    port = _free_port()
    redis = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip() != (
            "PONG"
        ):
            assert time.monotonic() < deadline and redis.poll() is None, "redis-server did not start"
            time.sleep(0.2)
        figures = {}
        for name in ("first", "second"):
            clone = tmp_path / name
            subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
            if TARBALL.is_file():  # the pinned tarball, as a fetch would bring it (and check it)
                (clone / "artifacts" / "downloads").mkdir(parents=True)
                shutil.copy2(TARBALL, clone / "artifacts" / "downloads")
            env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKE_CROSSPYTHON_", "CCACHE_"))}
            env |= {
                "CCACHE_DIR": str(tmp_path / f"ccache-{name}"),  # each clone's own, empty local cache
                "INVOKE_CROSSPYTHON_CCACHE_REMOTE": f"redis://127.0.0.1:{port}",
            }
            done = subprocess.run(
                [sys.executable, "-m", "invoke", "native"],
                cwd=clone,
                env=env,
                capture_output=True,
                text=True,
                timeout=1800,
            )
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            log = (clone / "artifacts" / "logs" / "native-cp313" / "make.log").read_text()
            make = sum(seconds for program, seconds in command_times(log) if program == "make")
            figures[name] = (make, _stats(tmp_path / f"ccache-{name}"))
        (first_make, first), (second_make, second) = figures["first"], figures["second"]
        hits, misses = second.get("remote_storage_hit", 0), second.get("remote_storage_miss", 0)
        print(
            f"first clone: make {first_make:.1f} s, remote writes {first.get('remote_storage_write', 0)}; "
            f"second clone: make {second_make:.1f} s ({second_make / first_make:.2f}x), remote hits {hits}, "
            f"misses {misses}, local hits {second.get('local_storage_hit', 0)}"
        )
        assert first.get("remote_storage_write", 0) > 100  # the first clone filled the server
        assert second.get("local_storage_hit", 0) == 0  # nothing came from the second's own cache
        assert hits >= 0.9 * (hits + misses) and hits > 100
        assert second_make <= 0.3 * first_make
    finally:
        redis.terminate()
        redis.wait(timeout=20)
