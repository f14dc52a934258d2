"""The default RFS: artifacts/rfs/<triplet>, provisioned from Debian's target-architecture packages.

apt-get download runs under a private apt state (the host's dpkg architectures and sources are
not changed); each package is extracted with dpkg -x into a temporary directory that is renamed
into place only when complete.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import ConfigError
from ..core.files import remove_tree
from ..core.layout import Layout
from ..core.runner import Runner
from ..core.stamps import Stamp, cached_step
from ..fetch.apt import AptState, Mirror, find_debian_mirror, source_lines
from ..matrix import RfsSpec, Target


def relativize_symlinks(root: Path) -> int:
    """Point absolute symlinks inside `root` at their place inside `root`, relatively.

    Debian's -dev packages ship e.g. usr/lib/<multiarch>/libz.so -> /lib/<multiarch>/libz.so.1;
    in a sysroot that absolute target would name the build host's file (or nothing).
    """
    fixed = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            link = Path(dirpath) / name
            if not link.is_symlink():
                continue
            target = os.readlink(link)
            if not target.startswith("/"):
                continue
            inside = root / target.lstrip("/")
            link.unlink()
            link.symlink_to(os.path.relpath(inside, link.parent))
            fixed += 1
    return fixed


def rfs_inputs(target: Target, spec: RfsSpec, mirror: Mirror) -> dict[str, object]:
    return {
        "debian_arch": target.debian_arch,
        "suite": spec.suite,
        "packages": list(spec.packages),
        "exclude": list(spec.exclude),
        "mirror": mirror.uri,
    }


def rfs_fingerprint(rfs: Path) -> str:
    """Identifies an RFS's content for the cross build's inputs (its stamp, or just its path)."""
    record = Stamp(rfs).read()
    return record.fingerprint if record else f"user:{rfs}"


def provision(target: Target, spec: RfsSpec, layout: Layout, runner: Runner, mirror: Mirror | None = None) -> Path:
    """Make (or reuse) the default RFS for `target`; returns its path."""
    dest = layout.default_rfs(target.triplet)
    if not target.debian_arch:
        raise ConfigError(
            f"Debian has no packages for {target.triplet}: no default RFS can be provisioned",
            hint="pass --rfs DIR with the board's root file system (its usr/include and usr/lib)",
        )
    mirror = mirror or find_debian_mirror()
    inputs = rfs_inputs(target, spec, mirror)
    scope = f"rfs-{target.triplet}"

    def download_and_extract() -> None:
        state = AptState(
            layout.apt_dir(f"{target.debian_arch}-{spec.suite}"),
            source_lines(mirror, spec.suite, kind="deb", arch=target.debian_arch),
            arch=target.debian_arch,
        )
        debs = layout.apt_dir(f"{target.debian_arch}-{spec.suite}") / "debs"
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        with runner.step(scope, "rfs") as step:
            packages = state.resolve(step, list(spec.packages), list(spec.exclude))
            step.note(f"{len(packages)} packages for {target.debian_arch} from {mirror.uri} {spec.suite}")
            remove_tree(debs)
            files = state.download(step, packages, debs)
            remove_tree(tmp)
            tmp.mkdir(parents=True)
            try:
                for deb in files:
                    step.run(["dpkg", "-x", deb, tmp])
                fixed = relativize_symlinks(tmp)
                step.note(f"extracted {len(files)} packages; {fixed} absolute symlinks made relative")
                if dest.exists() and Stamp(dest).read() is None:
                    raise ConfigError(f"{dest} exists and was not made by crosspython; not replacing it")
                remove_tree(dest)
                Stamp(tmp).write(inputs)  # lands with the tree: a renamed RFS is never without its stamp
                os.replace(tmp, dest)
            finally:
                remove_tree(tmp)
                remove_tree(debs)

    cached_step(
        Stamp(dest),
        inputs,
        download_and_extract,
        lock=layout.lock(scope),
        holder=f"the default RFS for {target.triplet}",
        skip=lambda why: runner.skip(scope, "rfs", why),
        reason=f"{dest} provisioned from the same packages",
        in_place=False,  # built aside and renamed into place: the old RFS stays valid until then
    )
    return dest
