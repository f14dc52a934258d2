"""Where everything lives under artifacts/: every path a step reads or writes is named here."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..matrix import Cell, Version

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Layout:
    """Paths under the artifacts directory (git-ignored)."""

    root: Path

    # ---- inputs
    @property
    def downloads(self) -> Path:
        return self.root / "downloads"

    def source_dir(self, version: Version) -> Path:
        return self.root / "src" / version.source_dirname

    @property
    def dep_sources(self) -> Path:
        """Where the source trees of the libraries `deps` builds are unpacked."""
        return self.root / "src" / "deps"

    def apt_dir(self, name: str) -> Path:
        return self.root / "apt" / name

    # ---- builds
    def native_dir(self, version: Version) -> Path:
        return self.root / "build" / "native" / version.tag

    def cross_dir(self, cell: Cell) -> Path:
        return self.root / "build" / "cross" / cell.id

    def dep_build_dir(self, triplet: str, library: str) -> Path:
        return self.root / "build" / "deps" / triplet / library

    # ---- stages and root file systems
    @property
    def stages(self) -> Path:
        """The parent of every cell's stage (what `sizes` measures)."""
        return self.root / "stage"

    def stage_dir(self, cell: Cell) -> Path:
        return self.stages / cell.id

    def dep_stage_dir(self, triplet: str, library: str) -> Path:
        return self.stages / "deps" / triplet / library

    def default_rfs(self, triplet: str) -> Path:
        return self.root / "rfs" / triplet

    @property
    def boards(self) -> Path:
        """The parent of every cell's profile trees (what `sizes` reports as installed footprints)."""
        return self.root / "board"

    def board_dir(self, cell: Cell, key: str) -> Path:
        """A profile's board-ready tree of a cell (key: the profile, and its application's hash)."""
        return self.boards / cell.id / key

    def test_overlay(self, cell: Cell) -> Path:
        """Links to a cell's staged test suite, put on PYTHONPATH by test-target when the RFS has none."""
        return self.boards / cell.id / "test-overlay"

    def debug_dir(self, cell: Cell) -> Path:
        """The .debug files of a cell's stripped ELF files (gdb on the build host reads them)."""
        return self.root / "debug" / cell.id

    def binfmt_wrapper(self, name: str) -> Path:
        return self.root / "binfmt" / name

    def stripped_copies(self, cell_id: str) -> Path:
        """`sizes`' stripped copies of a stage's ELF files."""
        return self.root / "sizes" / cell_id / "stripped"

    def measured(self, cell_id: str) -> Path:
        """`sizes`' measurement of a stage and its stripped copies, kept while the stage is unchanged."""
        return self.root / "sizes" / cell_id / "measured.json"

    # ---- third-party packages (`invoke packages`)
    def build_tools(self, version: Version) -> Path:
        """The build host's wheel tools (matrix/build-tools.txt) for the build interpreter of `version`."""
        return self.root / "packages" / "build-tools" / version.tag

    def wheelhouse(self, cell: Cell) -> Path:
        """The cell's wheels, downloaded or built for the target, named by their tags."""
        return self.root / "wheels" / cell.id

    def packages_dir(self, cell: Cell, rfs: Path) -> Path:
        """What `packages` makes for one cell and RFS: the probed target facts, the cross files, staged trees."""
        return self.root / "packages" / cell.id / rfs_key(rfs)

    def package_manifests(self, version: Version, rfs: Path) -> Path:
        """One manifest per package installed into an RFS for the interpreter of `version`."""
        return self.root / "installs" / rfs_key(rfs) / "packages" / version.tag

    # ---- logs and reports
    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def manifest(self, cell: Cell, rfs: Path) -> Path:
        """What `install` put into one RFS for one cell (a profile switch reads it to remove what it drops)."""
        return self.root / "installs" / rfs_key(rfs) / f"{cell.id}.json"

    def legacy_manifest(self, cell: Cell) -> Path:
        """Where crosspython before install profiles kept a cell's (one) manifest."""
        return self.logs / cell.id / "manifest.json"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def verify_record(self, cell: Cell) -> Path:
        return self.reports / "verify" / f"{cell.id}.json"

    def target_tests_junit(self, cell: Cell) -> Path:
        return self.reports / "target-tests" / f"{cell.id}.xml"

    @property
    def matrix_results(self) -> Path:
        """`nox -s matrix`: one result record per cell."""
        return self.root / "matrix"

    def link_farm(self, rfs: Path) -> Path:
        """The RFS's absolute library links, resolved as the board does, for the linker (rfs/linkfarm.py)."""
        return self.root / "linkfarm" / rfs_key(rfs)

    @property
    def toolchain_checks(self) -> Path:
        """Tool-chains found to compile for a target (one file each: the check is not repeated)."""
        return self.root / "toolchains"

    @property
    def configure_caches(self) -> Path:
        """configure's answers, kept by the inputs that decide them (build/confcache.py)."""
        return self.root / "cache" / "configure"

    def lock(self, name: str) -> Path:
        return self.root / "locks" / f"{name}.lock"


def rfs_key(rfs: Path) -> str:
    """A directory name for an RFS: its name and a hash of its path (two boards may share a name)."""
    return f"{rfs.name}-{hashlib.sha256(str(rfs).encode()).hexdigest()[:8]}"
