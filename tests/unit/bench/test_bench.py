"""The benchmark's plan, log reading, ratios and report; the recipe's flow as planned (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crosspython.bench import plan as bp
from crosspython.bench.plan import BenchRun, Timing
from crosspython.bench.recipe import plan_recipe
from crosspython.bench.run import BenchDirs, card_command, card_env
from crosspython.matrix import Matrix
from tests.unit.build.test_plan import _plan


def test_runs_interleave_recipe_and_cold_then_warm_noop_matrix_and_sizes() -> None:
    runs = bp.plan_runs("A", ["A", "B"], repeat=2, quick=False)
    assert [(r.flow, r.scope, r.round) for r in runs] == [
        ("cold", "cell", 1),
        ("recipe", "cell", 1),
        ("cold", "cell", 2),
        ("recipe", "cell", 2),
        ("warm", "cell", 1),
        ("noop", "cell", 1),
        ("cold", "matrix", 1),
        ("recipe", "matrix", 1),
        ("noop", "matrix", 1),
        ("sizes", "matrix", 1),
    ]
    assert runs[6].cells == ("A", "B")


def test_quick_runs_nothing_cold_and_no_recipe() -> None:
    runs = bp.plan_runs("A", ["A", "B"], repeat=3, quick=True)
    assert [r.flow for r in runs] == ["warm", "noop", "sizes"]


def test_a_matrix_of_one_cell_is_not_run_twice() -> None:
    assert {r.scope for r in bp.plan_runs("A", ["A"], repeat=1, quick=False)} == {"cell", "matrix"}
    assert [r.flow for r in bp.plan_runs("A", ["A"], repeat=1, quick=False) if r.scope == "matrix"] == ["sizes"]
    with pytest.raises(ValueError):
        bp.plan_runs("A", [], repeat=0, quick=False)
    # --repeat 0: the matrix alone
    assert [r.name for r in bp.plan_runs("A", ["A", "B"], repeat=0, quick=False)] == [
        "cold-matrix-r1",
        "recipe-matrix-r1",
        "noop-matrix-r1",
        "sizes-matrix-r1",
    ]


LOG = """$ CCACHE_BASEDIR=/p CCACHE_NOHASHDIR=1 /p/artifacts/src/Python-3.13.5/configure CC='ccache gcc'
# cwd: /p/artifacts/build/native/cp313
checking for gcc... yes
# exit 0 after 27.5s
$ make -j2 all
# cwd: /p/artifacts/build/native/cp313
# exit 0 after 1m42.1s
$ /p/artifacts/build/native/cp313/python -c 'import _posixsubprocess; print("ok")'
# exit 0 after 0.1s
$ make -j2
"""


def test_command_times_read_the_runners_log_format() -> None:
    assert bp.parse_duration("1m02.3s") == pytest.approx(62.3)
    assert bp.parse_duration("12.5s") == pytest.approx(12.5)
    assert bp.command_times(LOG) == [("configure", 27.5), ("make", pytest.approx(102.1)), ("python", 0.1)]
    # configure and make only; a command that never finished (the last make) counts nothing
    assert bp.build_command_seconds([LOG, "$ make install\n# exit 0 after 4.0s\n"]) == pytest.approx(133.6)


def test_step_seconds_name_each_log_that_ran_something() -> None:
    steps = bp.step_seconds([("native-cp313/configure", LOG), ("cell/install", "$ true\n# exit 0 after 0.0s\n")])
    assert steps == {"native-cp313/configure": pytest.approx(27.5 + 102.1 + 0.1)}


def test_program_of_skips_leading_settings_but_not_arguments() -> None:
    assert bp.program_of("CC=gcc X=1 /usr/bin/make -j2 CFLAGS=-O2") == "make"
    assert bp.program_of("./configure CC=gcc") == "configure"
    assert bp.program_of("") == ""


def _timings() -> list[Timing]:
    cell = ("A",)
    return [
        Timing(BenchRun("recipe", "cell", cell, 1), 250.0, {"native-make": 90.0}),
        Timing(BenchRun("cold", "cell", cell, 1), 200.0, {"A": 200.0}, build_commands=190.0),
        Timing(BenchRun("recipe", "cell", cell, 2), 260.0),
        Timing(BenchRun("cold", "cell", cell, 2), 220.0, build_commands=200.0),
        Timing(BenchRun("warm", "cell", cell), 60.0, build_commands=57.0),
        Timing(BenchRun("noop", "cell", cell), 0.9),
        Timing(BenchRun("sizes", "matrix", ()), 1.5),
    ]


def test_goals_are_ratios_of_medians_of_this_run() -> None:
    goals = {g.what: g for g in bp.goals(_timings())}
    assert goals["cold cell / recipe's flow"].value == pytest.approx(210 / 255)
    assert goals["cold cell / recipe's flow"].met is False
    assert goals["warm-ccache rebuild / cold"].value == pytest.approx(60 / 210)
    assert goals["unchanged rerun of a cell"].met is False
    assert goals["`invoke sizes` of every staged cell"].met is True
    assert goals["matrix, cold / recipe's flow"].value is None
    assert goals["matrix, cold / recipe's flow"].met is None
    # the worst overhead of the cold runs: (220 - 200) / 220 (the warm run's is reported, not judged)
    assert goals["tool overhead (cold runs)"].value == pytest.approx(100 * 20 / 220)


def test_report_has_the_headline_the_table_and_the_steps() -> None:
    machine = {"cpu": "X", "cores": "2"}
    text = bp.to_markdown(_timings(), machine)
    assert "**cold cell / recipe's flow: 0.82x; warm-ccache rebuild / cold: 0.29x**" in text
    assert "| recipe | cell | 2 | 250 s | 255 s |" in text
    assert "| cold cell / recipe's flow | 0.82x | ≤ 0.80x | **no** |" in text
    assert "| matrix, cold / recipe's flow | not run | ≤ 0.35x | — |" in text
    assert "- recipe-cell-r1 (250.0 s): native-make 90.0" in text
    data = bp.to_json(_timings(), machine)
    assert json.loads(json.dumps(data))["runs"][1]["build_commands"] == 190.0
    quick = bp.to_markdown(_timings()[4:], machine)
    assert "no ratio measured" in quick


def test_recipe_flow_builds_in_the_tree_with_the_cells_own_configure_and_no_ccache(
    matrix: Matrix, tmp_path: Path
) -> None:
    cross = _plan(matrix, tmp_path)
    recipe = plan_recipe(cross, work=tmp_path / "w", tarball=tmp_path / "Python-3.13.5.tar.xz", jobs=2)
    assert recipe.src == tmp_path / "w" / "Python-3.13.5"
    assert recipe.cross_configure[0] == "./configure"
    assert f"--with-build-python={tmp_path / 'w' / 'hostpython' / 'python'}" in recipe.cross_configure
    # everything else is the cell's own line: the same interpreter comes out of both flows
    assert [p for p in recipe.cross_configure[1:] if not p.startswith("--with-build-python")] == [
        p for p in cross.configure[1:] if not p.startswith("--with-build-python")
    ]
    # the same answers, but crosspython keeps them for its next build and the recipe does not
    assert "cache_file=config.cache" in cross.config_site and "cache_file" not in recipe.config_site
    assert recipe.config_site.splitlines()[1:] == cross.config_site.splitlines()[1:-2]
    env = dict(recipe.cross_env)
    assert env["CONFIG_SITE"] == str(tmp_path / "w" / "config.site")
    assert not [k for k in env if k.startswith("CCACHE")]
    assert recipe.strip == "/usr/bin/arm-linux-gnueabihf-strip"
    assert recipe.native_configure == ("./configure", "CC=gcc")
    with pytest.raises(ValueError, match="no ccache"):
        plan_recipe(_plan(matrix, tmp_path, ccache="/usr/bin/ccache"), work=tmp_path, tarball=tmp_path, jobs=2)


def test_the_card_runs_as_a_user_types_it_in_its_own_artifacts(matrix: Matrix, tmp_path: Path) -> None:
    cell = matrix.cell(python="3.13", triplet="arm-linux-gnueabihf", variant="default")
    command = card_command(cell, tmp_path / "rfs", 2)
    assert command[3:7] == ["native", "--jobs=2", "cross", "install"]
    assert f"--rfs={tmp_path / 'rfs'}" in command
    dirs = BenchDirs(tmp_path / "bench")
    env = card_env(dirs, own_ccache=True)
    assert env["INVOKE_CROSSPYTHON_ARTIFACTS"] == str(tmp_path / "bench" / "card" / "artifacts")
    assert env["CCACHE_DIR"] == str(tmp_path / "bench" / "card" / "ccache")
    assert "CCACHE_DIR" not in card_env(dirs, own_ccache=False)  # --quick: the user's own ccache
    # the card's RFS sits where its default RFS would: compile lines (and ccache's hashes) match the user's
    card = tmp_path / "bench" / "card" / "artifacts"
    assert dirs.card_rfs(cell) == card / "rfs" / "arm-linux-gnueabihf"
    # another variant installs the same files: it gets an RFS of its own
    sections = matrix.cell(python="3.13", triplet="arm-linux-gnueabihf", variant="sections")
    assert dirs.card_rfs(sections) == card / "rfs-sections" / "arm-linux-gnueabihf"
