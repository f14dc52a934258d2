"""Pinned source tarballs: fetch (cache, upstream, Debian source archive), verify, unpack.

Every path checks the file's size and sha256 against matrix/versions.toml. A download streams
to a temporary name and is renamed only once verified; a mismatch deletes it and says which
source served it.
"""

from __future__ import annotations

import os
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import CrossPythonError, DownloadError, PatchFailed
from ..core.files import CHUNK, remove_tree, sha256_of
from ..core.layout import PROJECT_ROOT, Layout
from ..core.locks import file_lock
from ..core.runner import Step
from ..core.stamps import Stamp, cached_step
from ..matrix import Version

PATCHES_DIR = PROJECT_ROOT / "patches"
CONNECT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Pin:
    """What a downloaded file must be."""

    filename: str
    size: int
    sha256: str


def check_file(path: Path, pin: Pin) -> str | None:
    """None when `path` matches `pin`, else what is wrong."""
    size = path.stat().st_size
    if size != pin.size:
        return f"size {size} != pinned {pin.size}"
    digest = sha256_of(path)
    if digest != pin.sha256:
        return f"sha256 {digest} != pinned {pin.sha256}"
    return None


def download(url: str, dest: Path, pin: Pin, *, timeout: float | None = None) -> None:
    """Stream `url` to `dest` (via dest.part), verify against `pin`, then rename.

    Raises OSError/URLError when the source cannot be reached (the caller tries the next one)
    and DownloadError when it served the wrong bytes (the file is deleted).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + f".{os.getpid()}.part")
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "crosspython"})
        with urllib.request.urlopen(request, timeout=timeout or CONNECT_TIMEOUT) as response, part.open("wb") as out:
            received = 0
            for chunk in iter(lambda: response.read(CHUNK), b""):
                received += len(chunk)
                if received > pin.size:
                    break  # more than pinned: wrong file; stop reading
                out.write(chunk)
        problem = check_file(part, pin)
        if problem:
            raise DownloadError(
                f"{url} served a {pin.filename} that does not match its pin ({problem}); the file was deleted",
                hint="the source is corrupt or was changed; use another source or fix the pin in matrix/",
            )
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)


@dataclass(frozen=True)
class Source:
    """One place a file may come from: a label for messages and a function giving its URL."""

    label: str
    url: Callable[[], str]


def fetch(pin: Pin, cache_dir: Path, sources: list[Source], *, say: Callable[[str], None] = print) -> Path:
    """Return the verified file from the cache, or from the first source that serves it."""
    dest = cache_dir / pin.filename
    with file_lock(cache_dir / ".locks" / f"{pin.filename}.lock", f"download of {pin.filename}"):
        if dest.is_file():
            problem = check_file(dest, pin)
            if problem is None:
                say(f"{pin.filename}: in the download cache, sha256 verified")
                return dest
            say(f"{pin.filename}: cached copy is corrupt ({problem}); deleted, fetching again")
            dest.unlink()
        failures: list[str] = []
        for source in sources:
            try:
                url = source.url()
            except CrossPythonError as exc:
                failures.append(f"{source.label}: {exc.message}")
                continue
            say(f"{pin.filename}: trying {source.label} ({url})")
            try:
                _download_with_retry(url, dest, pin, say)
            except DownloadError as exc:
                # Wrong bytes from this source (deleted): say so, and try the next one.
                say(f"{pin.filename}: {exc.message}; trying the next source")
                failures.append(f"{source.label} ({url}): served a file that does not match the pin")
                continue
            except (OSError, urllib.error.URLError) as exc:
                failures.append(f"{source.label} ({url}): {getattr(exc, 'reason', exc)}")
                continue
            say(f"{pin.filename}: from {source.label}, sha256 verified")
            return dest
        raise DownloadError(
            f"could not get {pin.filename} from any source:\n" + "\n".join(f"  - {f}" for f in failures),
            hint=f"put the file (sha256 {pin.sha256}) into {cache_dir} to build offline",
        )


RETRIES = 2  # a source that times out or drops the connection is asked once more


def _download_with_retry(url: str, dest: Path, pin: Pin, say: Callable[[str], None]) -> None:
    """`download`, asked again when the source timed out or dropped the connection (a hanging
    download ends at CONNECT_TIMEOUT); a refusal or an unknown name is final at once."""
    for attempt in range(RETRIES + 1):
        try:
            download(url, dest, pin)
            return
        except (OSError, urllib.error.URLError) as exc:
            reason = getattr(exc, "reason", exc)
            if attempt == RETRIES or not isinstance(reason, (TimeoutError, ConnectionResetError)):
                raise
            say(f"{pin.filename}: {url}: {reason}; trying again ({attempt + 1}/{RETRIES})")


def version_pin(version: Version) -> Pin:
    return Pin(filename=version.tarball, size=version.size, sha256=version.sha256)


def unpack(
    archive: Path,
    dest: Path,
    top: str,
    inputs: dict[str, Any],
    step: Step,
    prepare: Callable[[Path], None] | None = None,
) -> Path:
    """Unpack `archive` (whose top directory is `top`) to dest/top, once per archive content.

    `prepare` (patching) runs on the unpacked tree before it is moved into place and stamped, so
    a tree that failed to patch is never used.
    """
    target = dest / top

    def extract() -> None:
        tmp = dest / f".{top}.{os.getpid()}.tmp"
        remove_tree(tmp)
        remove_tree(target)
        tmp.mkdir(parents=True)
        step.note(f"unpacking {archive.name} into {target}")
        try:
            with tarfile.open(archive) as tar:
                members = tar.getmembers()
                for member in members:
                    if member.name != top and not member.name.startswith(top + "/"):
                        raise DownloadError(f"{archive} has an unexpected member {member.name!r} outside {top}/")
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(tmp, filter="data")
                else:  # pragma: no cover - Pythons without PEP 706; the names were checked above
                    tar.extractall(tmp)
            if prepare is not None:
                prepare(tmp / top)
            os.replace(tmp / top, target)
        finally:
            remove_tree(tmp)

    cached_step(Stamp(target), inputs, extract, lock=dest / ".locks" / f"{top}.lock", holder=f"unpacking {top}")
    return target


def download_sources(upstream: str, upstream_url: str, debian_url: Callable[[], str] | None) -> list[Source]:
    """Upstream first (when it has an address), then the Debian source archive."""
    sources = [Source(upstream, lambda: upstream_url)] if upstream_url else []
    if debian_url is not None:
        sources.append(Source("the Debian source archive", debian_url))
    return sources


def cpython_sources(version: Version, debian_url: Callable[[], str] | None) -> list[Source]:
    """python.org first, then the Debian source archive (byte-identical "orig" tarballs)."""
    return download_sources("python.org", version.upstream_url, debian_url)


def patches_for(version: Version, root: Path = PATCHES_DIR) -> list[Path]:
    """patches/<X.Y>/*.patch, in name order."""
    return sorted((root / version.short).glob("*.patch"))


def patch_digests(version: Version, root: Path = PATCHES_DIR) -> dict[str, str]:
    """{patch name: sha256}: part of every input that depends on the patched source."""
    return {p.name: sha256_of(p) for p in patches_for(version, root)}


def source_inputs(version: Version, root: Path = PATCHES_DIR) -> dict[str, Any]:
    """What the unpacked (and patched) source tree of `version` is made from."""
    inputs: dict[str, Any] = {"sha256": version.sha256}
    digests = patch_digests(version, root)
    if digests:  # no key without patches: unpatched versions keep their fingerprints
        inputs["patches"] = digests
    return inputs


def apply_patches(tree: Path, patches: list[Path], step: Step) -> None:
    """Apply each patch with `patch -p1`, after a dry run shows that it applies cleanly."""
    for patch in patches:
        trial = step.run(["patch", "-p1", "-N", "--dry-run", "-i", str(patch)], cwd=tree, check=False)
        if trial.returncode != 0:
            said = "\n".join(f"    {line}" for line in trial.output.strip().splitlines()[-6:])
            raise PatchFailed(
                f"{patch.parent.name}/{patch.name} does not apply cleanly to {tree.name}:\n{said}",
                hint="the patch was written for another release: refresh it, or pin the release it was made for",
            )
        step.run(["patch", "-p1", "-N", "-s", "-i", str(patch)], cwd=tree)
        step.note(f"applied patches/{patch.parent.name}/{patch.name}")


def fetch_cpython(
    version: Version, layout: Layout, step: Step, debian_url: Callable[[], str] | None, patches_root: Path = PATCHES_DIR
) -> Path:
    pin = version_pin(version)
    tarball = fetch(pin, layout.downloads, cpython_sources(version, debian_url), say=step.note)
    patches = patches_for(version, patches_root)
    return unpack(
        tarball,
        layout.source_dir(version).parent,
        version.source_dirname,
        source_inputs(version, patches_root),
        step,
        prepare=(lambda tree: apply_patches(tree, patches, step)) if patches else None,
    )
