"""configure's kept answers give the same build: the default cell configured afresh and with the
answers crosspython keeps produce the same generated files (the Makefile but for its own
directory, pyconfig.h, the module setup, the .pc files)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from crosspython import pipeline
from crosspython.build import confcache
from crosspython.session import Options, resolve
from tests.integration.test_cross_build import invoke

pytestmark = pytest.mark.integration

GENERATED = (
    "Makefile",
    "pyconfig.h",
    "Modules/Setup.local",
    "Modules/Setup.bootstrap",
    "Modules/Setup.stdlib",
    "Modules/config.c",
    "Misc/python.pc",
    "Misc/python-embed.pc",
)


def test_kept_answers_configure_the_same_build(tmp_path: Path) -> None:
    assert invoke("native", "rfs").returncode == 0  # what the cross configure reads (no-ops when made)
    plan = pipeline.plan_cell(resolve(Options()), build=False)
    env = {**os.environ, **dict(plan.env), **confcache.CONFIGURE_ENV}
    trees = {}
    for name in ("fresh", "kept"):
        build = tmp_path / name
        build.mkdir()
        (build / "config.site").write_text(plan.config_site)
        if name == "kept":
            shutil.copyfile(tmp_path / "kept.cache", build / confcache.CACHE_FILE)
        done = subprocess.run(
            plan.configure,
            cwd=build,
            env={**env, "CONFIG_SITE": str(build / "config.site")},
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout[-3000:]
        if name == "fresh":
            (tmp_path / "kept.cache").write_text(confcache.kept_answers((build / confcache.CACHE_FILE).read_text()))
        else:
            assert done.stdout.count("(cached)") > 300  # the kept answers were read
        trees[name] = build
    for rel in GENERATED:
        fresh = (trees["fresh"] / rel).read_text().replace(str(trees["fresh"]), "BUILD")
        kept = (trees["kept"] / rel).read_text().replace(str(trees["kept"]), "BUILD")
        assert fresh == kept, rel
