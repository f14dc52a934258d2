"""Shared fixtures: the real matrix, a Runner writing into tmp_path."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crosspython.matrix import Matrix, load_matrix
from crosspython.runner import Runner


@pytest.fixture(scope="session")
def matrix() -> Matrix:
    return load_matrix()


@pytest.fixture
def runner(tmp_path: Path) -> Runner:
    return Runner(log_root=tmp_path / "logs", out=io.StringIO(), heartbeat=3600)
