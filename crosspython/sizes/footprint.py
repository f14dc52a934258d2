"""The installed footprint per cell and install profile: the board-ready trees, by category.

A profile's tree (artifacts/board/<cell>/<profile>/tree/, made by `install` or `board`) is what
lands in the RFS, so its bytes are the footprint on the board's flash: split into the categories
of crosspython/install/profile.py, with the largest stdlib packages, and, when asked, the
interpreter's start-up time under qemu-user (`python -c pass`, median of 5), run from that tree.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ..core import pythontree
from ..core.stamps import Stamp, fingerprint
from ..install.board import footprint
from ..install.profile import CATEGORIES, stdlib_file
from ..install.stage import read_stage_record
from ..matrix import Matrix

STARTUP_RUNS = 5


@dataclass(frozen=True, kw_only=True)
class Footprint:
    cell: str
    tag: str
    triplet: str
    variant: str
    profile: str  # the board tree's key: the profile, and -app-<hash> when built with --app
    categories: dict[str, list[int]]  # category -> [files, bytes]
    top_packages: list[tuple[str, int]]  # the largest top-level stdlib packages and modules, bytes
    startup_s: float | None = None  # `python -c pass` under qemu-user, median of 5

    @property
    def total(self) -> int:
        return sum(b for _, b in self.categories.values())

    @property
    def group(self) -> str:
        return f"{self.tag}-{self.triplet}"

    @property
    def for_app(self) -> bool:
        """Made with --app: one application's closure, not the profile's own footprint."""
        return "-app-" in self.profile


def top_packages(tree: Path, short: str, count: int = 15) -> list[tuple[str, int]]:
    """The `count` largest top-level stdlib packages and modules of a tree (zip members by compressed size)."""
    sizes: dict[str, int] = {}
    stdlib = tree / pythontree.stdlib(short)
    for dirpath, dirnames, filenames in os.walk(stdlib):
        dirnames[:] = [
            d for d in dirnames if d not in ("lib-dynload", "site-packages") and not pythontree.is_config_dir(d)
        ]
        for name in filenames:
            path = Path(dirpath) / name
            found = stdlib_file(str(path.relative_to(tree)), short)
            if found is not None and found.module and not path.is_symlink():
                top = found.module.split(".")[0]
                sizes[top] = sizes.get(top, 0) + path.stat().st_size
    archive = tree / pythontree.stdlib_zip(short)
    if archive.is_file():
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                found = stdlib_file(f"{pythontree.stdlib(short)}/{info.filename}", short)
                if found is not None and found.module:
                    top = found.module.split(".")[0]
                    sizes[top] = sizes.get(top, 0) + info.compress_size
    return sorted(sizes.items(), key=lambda item: (-item[1], item[0]))[:count]


def startup_time(qemu: str, rfs: Path, tree: Path, interpreter: str, flags: tuple[str, ...]) -> float:
    """`python -c pass` of the tree's interpreter under qemu-user (libraries from `rfs`): median of 5, seconds."""
    command = [qemu, "-L", str(rfs), str(tree / interpreter), *flags, "-c", "pass"]
    subprocess.run(command, check=True, capture_output=True, timeout=120)  # warm-up: page cache, not timed
    runs = []
    for _ in range(STARTUP_RUNS):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, timeout=120)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def measure_footprints(
    board_root: Path,
    stages: Path,
    matrix: Matrix,
    *,
    startup: tuple[str, Path] | None = None,
    triplet: str | None = None,
) -> list[Footprint]:
    """Every complete board tree under artifacts/board/, measured. `startup` = (qemu, RFS) also times
    start-up (cached beside the tree while the tree is unchanged)."""
    found = []
    for board in sorted(p for p in board_root.glob("*/*") if (p / "tree").is_dir()):
        stamp = Stamp(board).read()
        record = read_stage_record(stages / board.parent.name)
        if stamp is None or record is None or (triplet is not None and record.triplet != triplet):
            continue
        version = matrix.version(record.python)
        tree = board / "tree"
        categories = {c: v for c, v in footprint(tree, version.short).items()}
        if startup is not None:
            seconds: float | None = _cached_startup(
                board, stamp.fingerprint, startup, version.interpreter, version.interpreter_flags
            )
        else:
            seconds = _last_startup(board, stamp.fingerprint)
        found.append(
            Footprint(
                cell=record.cell,
                tag=version.tag,
                triplet=record.triplet,
                variant=record.variant,
                profile=board.name,
                categories={c: categories[c] for c in CATEGORIES},
                top_packages=top_packages(tree, version.short),
                startup_s=seconds,
            )
        )
    return found


def _cached_startup(
    board: Path, tree_id: str, startup: tuple[str, Path], interpreter: str, flags: tuple[str, ...]
) -> float:
    qemu, rfs = startup
    key = fingerprint({"tree": tree_id, "qemu": qemu, "rfs": str(rfs)})
    cache = board / "startup.json"
    try:
        data = json.loads(cache.read_text())
        if data.get("key") == key:
            return float(data["seconds"])
    except (FileNotFoundError, ValueError, KeyError):
        pass
    seconds = startup_time(qemu, rfs, board / "tree", interpreter, flags)
    cache.write_text(json.dumps({"key": key, "tree": tree_id, "seconds": seconds}) + "\n")
    return seconds


def _last_startup(board: Path, tree_id: str) -> float | None:
    """The start-up time measured last for this very tree (by an earlier `sizes --startup`), if any."""
    try:
        data = json.loads((board / "startup.json").read_text())
        return float(data["seconds"]) if data.get("tree") == tree_id else None
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def to_json(footprints: list[Footprint]) -> list[dict[str, object]]:
    return [asdict(f) | {"total": f.total} for f in footprints]
