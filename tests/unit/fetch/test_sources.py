"""Pinned downloads, served by a real HTTP server on 127.0.0.1: verify, fall back, reject, unpack."""

from __future__ import annotations

import hashlib
import http.server
import io
import shutil
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from crosspython.core.errors import DownloadError, PatchFailed
from crosspython.core.runner import Runner
from crosspython.fetch.sources import Pin, Source, apply_patches, fetch, patches_for, source_inputs, unpack
from crosspython.matrix import Matrix

PAYLOAD = b"pretend this is Python-3.13.5.tar.xz " * 1000


def _pin(data: bytes = PAYLOAD, name: str = "Python-x.tar.xz") -> Pin:
    return Pin(filename=name, size=len(data), sha256=hashlib.sha256(data).hexdigest())


class _Handler(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"files": {}, "hits": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def _source(label: str, url: str) -> Source:
    return Source(label, lambda: url)


def test_download_is_verified_and_cached(server: tuple[str, type[_Handler]], tmp_path: Path) -> None:
    base, handler = server
    handler.files["/good"] = PAYLOAD
    said: list[str] = []
    path = fetch(_pin(), tmp_path, [_source("upstream", base + "/good")], say=said.append)
    assert path.read_bytes() == PAYLOAD
    assert any("sha256 verified" in s for s in said)
    # Second time: from the cache, no request.
    fetch(_pin(), tmp_path, [_source("upstream", base + "/good")], say=said.append)
    assert handler.hits == ["/good"]
    assert not list(tmp_path.glob("*.part"))


def test_unreachable_source_falls_back_to_the_next(server: tuple[str, type[_Handler]], tmp_path: Path) -> None:
    base, handler = server
    handler.files["/mirror"] = PAYLOAD
    sources = [_source("python.org", base + "/missing"), _source("Debian", base + "/mirror")]
    path = fetch(_pin(), tmp_path, sources, say=lambda s: None)
    assert path.read_bytes() == PAYLOAD
    assert handler.hits == ["/missing", "/mirror"]


def test_mismatch_deletes_the_file_and_names_the_source(server: tuple[str, type[_Handler]], tmp_path: Path) -> None:
    base, handler = server
    handler.files["/evil"] = PAYLOAD[:-1] + b"X"  # same size, other bytes
    said: list[str] = []
    with pytest.raises(DownloadError) as info:
        fetch(_pin(), tmp_path, [_source("python.org", base + "/evil")], say=said.append)
    assert f"python.org ({base}/evil): served a file that does not match the pin" in info.value.message
    assert any(f"{base}/evil served a Python-x.tar.xz that does not match its pin" in s and "sha256" in s for s in said)
    assert list(tmp_path.iterdir()) == [tmp_path / ".locks"]  # nothing kept


def test_a_mismatch_falls_back_to_the_next_source(server: tuple[str, type[_Handler]], tmp_path: Path) -> None:
    """python.org serving other bytes (a changed or corrupt file): the Debian archive's copy is taken."""
    base, handler = server
    handler.files["/evil"] = PAYLOAD[:-1] + b"X"
    handler.files["/mirror"] = PAYLOAD
    said: list[str] = []
    sources = [_source("python.org", base + "/evil"), _source("Debian", base + "/mirror")]
    path = fetch(_pin(), tmp_path, sources, say=said.append)
    assert path.read_bytes() == PAYLOAD and handler.hits == ["/evil", "/mirror"]
    assert any("does not match its pin" in s and "trying the next source" in s for s in said)


def test_too_long_download_is_rejected(server: tuple[str, type[_Handler]], tmp_path: Path) -> None:
    base, handler = server
    handler.files["/long"] = PAYLOAD + b"more"
    said: list[str] = []
    with pytest.raises(DownloadError, match="does not match the pin"):
        fetch(_pin(), tmp_path, [_source("upstream", base + "/long")], say=said.append)
    assert any("size" in s for s in said)
    assert not (tmp_path / "Python-x.tar.xz").exists()


def test_corrupt_cache_is_replaced(server: tuple[str, type[_Handler]], tmp_path: Path) -> None:
    base, handler = server
    handler.files["/good"] = PAYLOAD
    (tmp_path / "Python-x.tar.xz").write_bytes(b"truncated")
    said: list[str] = []
    path = fetch(_pin(), tmp_path, [_source("upstream", base + "/good")], say=said.append)
    assert path.read_bytes() == PAYLOAD
    assert any("corrupt" in s for s in said)


def test_no_source_gives_an_offline_hint(server: tuple[str, type[_Handler]], tmp_path: Path) -> None:
    base, _ = server
    sources = [_source("python.org", base + "/a"), _source("Debian", "http://127.0.0.1:9/nothing-listens")]
    with pytest.raises(DownloadError) as info:
        fetch(_pin(), tmp_path, sources, say=lambda s: None)
    assert "python.org" in info.value.message and "Debian" in info.value.message
    assert str(tmp_path) in info.value.hint and _pin().sha256 in info.value.hint


def _tarball(tmp_path: Path, members: dict[str, bytes]) -> Path:
    path = tmp_path / "src.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_unpack_once_per_content(tmp_path: Path, runner: Runner) -> None:
    archive = _tarball(tmp_path, {"Python-9.9/configure": b"#!/bin/sh\n", "Python-9.9/README": b"hi"})
    with runner.step("s", "fetch") as step:
        target = unpack(archive, tmp_path / "src", "Python-9.9", {"sha256": "a"}, step)
        assert (target / "README").read_bytes() == b"hi"
        (target / "marker").touch()
        assert unpack(archive, tmp_path / "src", "Python-9.9", {"sha256": "a"}, step) == target
        assert (target / "marker").exists()  # same inputs: not unpacked again
        unpack(archive, tmp_path / "src", "Python-9.9", {"sha256": "b"}, step)
        assert not (target / "marker").exists()  # other inputs: unpacked afresh


def test_unpack_rejects_members_outside_the_top_dir(tmp_path: Path, runner: Runner) -> None:
    archive = _tarball(tmp_path, {"Python-9.9/ok": b"", "elsewhere/evil": b""})
    with pytest.raises(DownloadError, match=r"outside Python-9\.9"), runner.step("s", "fetch") as step:
        unpack(archive, tmp_path / "src", "Python-9.9", {"sha256": "a"}, step)
    assert not (tmp_path / "src" / "Python-9.9").exists()


PATCH = """--- a/README
+++ b/README
@@ -1 +1 @@
-hello
+hello, board
"""


@pytest.mark.skipif(shutil.which("patch") is None, reason="patch is not installed")
def test_patches_are_applied_before_the_tree_is_trusted(tmp_path: Path, runner: Runner) -> None:
    archive = _tarball(tmp_path, {"Python-9.9/README": b"hello\n"})
    good = tmp_path / "0001-good.patch"
    good.write_text(PATCH)
    with runner.step("s", "fetch") as step:
        target = unpack(
            archive,
            tmp_path / "src",
            "Python-9.9",
            {"sha256": "a", "patches": {"g": "1"}},
            step,
            prepare=lambda tree: apply_patches(tree, [good], step),
        )
    assert (target / "README").read_text() == "hello, board\n"


@pytest.mark.skipif(shutil.which("patch") is None, reason="patch is not installed")
def test_a_patch_that_does_not_apply_fails_clearly_and_keeps_nothing(tmp_path: Path, runner: Runner) -> None:
    archive = _tarball(tmp_path, {"Python-9.9/README": b"something else\n"})
    bad = tmp_path / "3.99" / "0001-stale.patch"
    bad.parent.mkdir()
    bad.write_text(PATCH)
    message = "3.99/0001-stale.patch does not apply cleanly to Python-9.9"
    with pytest.raises(PatchFailed, match=message), runner.step("s", "fetch") as step:
        unpack(
            archive,
            tmp_path / "src",
            "Python-9.9",
            {"sha256": "a"},
            step,
            prepare=lambda tree: apply_patches(tree, [bad], step),
        )
    assert not (tmp_path / "src" / "Python-9.9").exists()  # no half-patched tree for a rerun to trust
    assert not list((tmp_path / "src").glob(".Python-9.9*"))


def test_patched_versions_carry_their_patches_in_their_inputs(matrix: Matrix) -> None:
    """Patched versions carry their patches in their inputs; unpatched ones keep the old fingerprint."""
    v311, v313 = matrix.version("3.11"), matrix.version("3.13")
    assert [p.name for p in patches_for(v311)] == [
        "0001-setup.py-multiarch-dirs-from-the-sysroot-when-cross-compiling.patch",
        "0002-setup.py-find-ffi.h-when-pkg-config-names-the-wrong-directory.patch",
        "0003-setup.py-no-build-host-dirs-from-the-cross-compilers-search-list.patch",
    ]
    assert set(source_inputs(v311)) == {"sha256", "patches"}
    assert source_inputs(v313) == {"sha256": v313.sha256}


def test_the_lock_is_made_from_the_requirements_as_they_are() -> None:
    """requirements.lock (what ./run installs, with hashes) must follow requirements.txt: `invoke lock`."""
    from crosspython.core.files import sha256_of
    from crosspython.fetch.pylock import source_digest

    root = Path(__file__).resolve().parents[3]
    assert source_digest(root / "requirements.lock") == sha256_of(root / "requirements.txt"), "run `invoke lock`"
    lock = (root / "requirements.lock").read_text()
    for line in (root / "requirements.txt").read_text().splitlines():
        name = line.split("#")[0].split(";")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
        if name:
            assert f"\n{name}==" in lock, name
    pinned = [ln for ln in lock.splitlines() if "==" in ln and not ln.startswith("#")]
    assert pinned and all(ln.endswith("\\") for ln in pinned)  # each followed by its --hash lines


def test_a_hanging_source_times_out_is_asked_again_then_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that accepts and never answers: each try ends at the timeout, then the next source."""
    import socket

    from crosspython.fetch import sources

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/hangs"
    monkeypatch.setattr(sources, "CONNECT_TIMEOUT", 0.5)
    said: list[str] = []
    try:
        with pytest.raises(DownloadError) as info:
            fetch(_pin(), tmp_path, [_source("python.org", url)], say=said.append)
    finally:
        listener.close()
    assert sum("trying again" in s for s in said) == sources.RETRIES
    assert "timed out" in info.value.message
