"""`python -m liir.report`: seeds aggregated from run directories (``.hydra/config.yaml``, ``.hydra/overrides.yaml``,
``metrics.csv``) into curves, tables and marl-eval JSON, on synthetic runs with known numbers and on real ones."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import stats

import liir.report
from liir.aggregate import probability_of_improvement
from tests.runs import main_in_process, read_csv

FINALS = [0.0, 0.5, 0.625, 0.75, 1.0]  # five seeds' final win rates: median 0.625, IQM mean(0.5, 0.625, 0.75)


def write_run(
    path: Path,
    tests: list[tuple[float, float, float]],
    *,
    seed: int = 1,
    algo: str = "iac",
    map_name: str | None = "3m",
    overrides: tuple[str, ...] = (),
    t_max: int = 300,
    test_interval: int = 100,
) -> Path:
    """A run directory as ``liir.train`` leaves it (only the three files a report reads): ``tests`` are
    (env step, win rate, return); a train row (half the test's win rate and return) sits before each test row, as
    in a real ``metrics.csv``."""
    (path / ".hydra").mkdir(parents=True)
    env = {"name": f"smac_{map_name}", "env_args": {"map_name": map_name}} if map_name else {"name": "pursuit1d"}
    intervals = {"test_interval": test_interval, "log_interval": test_interval}
    config = {"seed": seed, "t_max": t_max, **intervals, "env": env, "algo": {"name": algo}}
    (path / ".hydra" / "config.yaml").write_text(json.dumps(config))  # JSON is YAML
    given = [f"env={env['name']}", f"algo={algo}", f"seed={seed}", "logger=csv", *overrides]
    (path / ".hydra" / "overrides.yaml").write_text(json.dumps(given))
    with open(path / "metrics.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["env_steps", "battle_won_mean", "return_mean", "step", "test_battle_won_mean", "test_return_mean"]
        )
        for step, win, ret in tests:
            writer.writerow([step, win / 2, ret / 2, int(step), "", ""])
            writer.writerow([step, "", "", int(step), win, ret])
    return path


def seed_runs(root: Path, finals: list[float] = FINALS, **kwargs) -> list[Path]:
    """One run per final win rate, tested at steps drifting past the 100-step grid as real tests do: 0 until step
    200, then the final value from step 300 on."""
    return [
        write_run(
            root / f"seed{seed}",
            [(8 + seed, 0.0, 0.0), (104 + seed, 0.0, 1.0), (207, 0.0, 2.0), (300 + seed, final, 10 * final)],
            seed=seed,
            **kwargs,
        )
        for seed, final in enumerate(finals, 1)
    ]


def report(*args: str) -> None:
    main_in_process(liir.report, *args)


def cells(out: Path) -> dict[tuple[str, str, str], dict[str, str]]:
    return {(row["task"], row["algorithm"], row["overrides"]): row for row in read_csv(out / "summary.csv")}


def test_known_seeds_give_their_median_and_iqm_with_intervals_around_them(tmp_path, capsys):
    seed_runs(tmp_path / "runs")
    report(str(tmp_path / "runs"), f"out={tmp_path / 'out'}", "reps=500")
    (row,) = cells(tmp_path / "out").values()
    assert row["metric"] == "win_rate" and row["seeds"] == "5" and row["seed_list"] == "1 2 3 4 5"
    assert row["steps"] == "301"  # the shortest seed's last test: every seed's final is read there
    expected = {"median": 0.625, "iqm": np.mean([0.5, 0.625, 0.75])}
    for kind in ("final", "best"):
        for statistic, value in expected.items():
            column = f"{kind}_{statistic}"
            assert float(row[column]) == pytest.approx(value)
            assert float(row[f"{column}_low"]) <= value <= float(row[f"{column}_high"])
            assert float(row[f"{column}_low"]) < float(row[f"{column}_high"])  # five different seeds: a real interval
    # only seed 5 (1.0) reaches 0.8, at step 305: the median seed never does
    assert row["steps_to_threshold"] == "" and row["threshold_reached"] == "1/5"
    curves = [r for r in read_csv(tmp_path / "out" / "curves.csv") if r["metric"] == "win_rate"]
    assert [int(r["step"]) for r in curves] == [0, 100, 200, 300]
    # step 300 lies between each seed's test at 207 (0) and its final test: interpolated, seed by seed
    at_300 = [final * (300 - 207) / (300 + seed - 207) for seed, final in enumerate(FINALS, 1)]
    assert float(curves[-1]["median"]) == pytest.approx(np.median(at_300), rel=1e-5)
    assert float(curves[-1]["iqm"]) == pytest.approx(np.mean(sorted(at_300)[1:4]), rel=1e-5)
    assert capsys.readouterr().err == ""  # complete, equal seeds: nothing to warn about


def test_steps_to_threshold_is_the_median_seeds_first_crossing(tmp_path):
    sweep = tmp_path / "algo=iac,seed=1"  # a folder named like Hydra's override_dirname is a folder, not an option
    for seed, crossing in enumerate([150, 250, 350], 1):
        write_run(sweep / f"s{seed}", [(0, 0.0, 0), (crossing, 0.9, 5), (400, 0.9, 5)], seed=seed, t_max=400)
    report(str(sweep), f"out={tmp_path / 'out'}", "reps=100", "threshold=0.85")
    (row,) = cells(tmp_path / "out").values()
    assert row["steps_to_threshold"] == "250" and row["threshold_reached"] == "3/3"


def test_final_tests_averages_each_seeds_last_tests(tmp_path, capsys):
    """``final_tests=2``: each seed's final is the mean of its last two tests (207: 0, then its final value), so a
    curve that swings from test to test is not judged by its last test alone; best is unchanged."""
    seed_runs(tmp_path / "runs")
    report(str(tmp_path / "runs"), f"out={tmp_path / 'out'}", "reps=200", "final_tests=2")
    (row,) = cells(tmp_path / "out").values()
    assert float(row["final_median"]) == pytest.approx(0.625 / 2)
    assert float(row["final_iqm"]) == pytest.approx(np.mean([0.5, 0.625, 0.75]) / 2)
    assert float(row["best_median"]) == pytest.approx(0.625)
    assert "mean of its last 2 tests" in (tmp_path / "out" / "summary.md").read_text()


def test_episodes_train_reports_the_training_episodes(tmp_path):
    """``episodes=train``: the train rows (here half of each test) instead of the greedy tests."""
    seed_runs(tmp_path / "runs")
    report(str(tmp_path / "runs"), f"out={tmp_path / 'out'}", "reps=200", "episodes=train")
    (row,) = cells(tmp_path / "out").values()
    assert float(row["final_median"]) == pytest.approx(0.625 / 2)
    assert float(row["final_iqm"]) == pytest.approx(np.mean([0.5, 0.625, 0.75]) / 2)
    assert row["threshold_reached"] == "0/5"  # the best training win rate is 0.5
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "Training win rate" in summary and "each seed's last log" in summary
    finals = [r for r in read_csv(tmp_path / "out" / "curves.csv") if r["metric"] == "return" and r["step"] == "300"]
    assert float(finals[0]["median"]) < 10 * 0.625 / 2  # interpolated below the last logs' 3.125


def test_the_same_runs_give_the_same_report(tmp_path):
    seed_runs(tmp_path / "runs")
    for out in ("a", "b"):
        report(str(tmp_path / "runs"), f"out={tmp_path / out}", "reps=200")
    for name in ("summary.csv", "curves.csv", "marl_eval.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_unequal_failed_and_empty_runs_are_reported_not_dropped(tmp_path, capsys):
    runs = tmp_path / "sweep"
    seed_runs(runs, finals=[0.5, 0.5])
    write_run(runs / "short", [(5, 0.0, 0.0), (104, 0.2, 1.0), (203, 0.4, 2.0)], seed=3)  # stopped at 203 of 300
    write_run(runs / "failed", [(5, 0.0, 0.0)], seed=4)
    (runs / "failed" / "error.txt").write_text("Traceback ...")
    write_run(runs / "untested", [], seed=5)
    write_run(runs / "no_csv", [], seed=6)
    (runs / "no_csv" / "metrics.csv").unlink()
    report(str(runs), f"out={tmp_path / 'out'}", "reps=100")
    (row,) = cells(tmp_path / "out").values()
    assert row["seeds"] == "3" and row["steps"] == "203"
    assert "seed 3 stopped at 203 of t_max 300" in row["notes"] and "cut at 203" in row["notes"]
    curves = read_csv(tmp_path / "out" / "curves.csv")
    assert max(int(r["step"]) for r in curves) == 200  # the grid ends where every seed has results
    summary = (tmp_path / "out" / "summary.md").read_text()
    err = capsys.readouterr().err.splitlines()
    for folder, reason in [
        ("failed", "the job failed (error.txt)"),
        ("untested", "no test results in metrics.csv"),
        ("no_csv", "no metrics.csv"),
    ]:
        assert f"`{(runs / folder).resolve()}`: {reason}" in summary
        assert f"liir: warning: left out {(runs / folder).resolve()}: {reason}" in err
    assert any("seed 3 stopped at 203" in line for line in err) and "## Notes" in summary


def test_seeds_share_a_cell_and_other_overrides_split_it(tmp_path):
    seed_runs(tmp_path / "plain", finals=[0.5, 0.75])
    seed_runs(tmp_path / "plumbing", finals=[0.25], overrides=("device=cpu", "hydra.run.dir=x"))
    seed_runs(tmp_path / "lr", finals=[1.0, 1.0], overrides=("algo.lr=0.001",))
    seed_runs(tmp_path / "coma", finals=[0.0, 0.0], algo="coma")
    seed_runs(tmp_path / "8m", finals=[0.5, 0.5], map_name="8m")
    report(str(tmp_path), f"out={tmp_path / 'out'}", "reps=100")
    found = cells(tmp_path / "out")
    assert found[("3m", "iac", "")]["seed_list"] == "1 1 2"  # device= and hydra.* do not split
    assert "seed 1 appears in 2 runs" in found[("3m", "iac", "")]["notes"]
    assert found[("3m", "iac", "algo.lr=0.001")]["final_median"] == "1.0"
    assert found[("3m", "coma", "")]["final_median"] == "0.0"
    # the same algorithm on two maps is also pooled across them, each map's seeds redrawn separately
    pooled = found[("all: 3m 8m", "iac", "")]
    assert pooled["seeds"] == "5" and float(pooled["final_median"]) == 0.5
    assert float(pooled["final_median_low"]) <= 0.5 <= float(pooled["final_median_high"])
    # a note names its cell as the legends do: the algorithm with the overrides that set it apart
    notes = (tmp_path / "out" / "summary.md").read_text().split("## Notes")[1]
    assert " 3m iac algo.lr=0.001: 2 seed(s), where other cells have up to 3" in notes
    assert " 3m iac: seed 1 appears in 2 runs" in notes
    assert " 3m coma: 2 seed(s)" in notes


def test_probability_of_improvement_is_the_share_of_seed_pairs_won_per_map_then_averaged(tmp_path):
    """``compare=liir``: on 3m LIIR's finals {0.5, 1, 1} against IAC's {0.5, 0.5, 0.75} win 6 of 9 pairs and tie 2
    (P = 7/9), against COMA's {1, 1} tie 4 of 6 (P = 2/6); on 8m {0, 0.25} against {0.25, 0.5} win none and tie 1
    (P = 0.5/4); across the two maps, IAC's mean; COMA, only on 3m, has none. Overrides that every cell shares drop
    from the names."""
    shared = ("experiment=x",)
    seed_runs(tmp_path / "liir3m", finals=[0.5, 1.0, 1.0], algo="liir", overrides=shared)
    seed_runs(tmp_path / "iac3m", finals=[0.5, 0.5, 0.75], overrides=shared)
    seed_runs(tmp_path / "coma3m", finals=[1.0, 1.0], algo="coma", overrides=shared)
    seed_runs(tmp_path / "liir8m", finals=[0.0, 0.25], algo="liir", map_name="8m", overrides=shared)
    seed_runs(tmp_path / "iac8m", finals=[0.25, 0.5], map_name="8m", overrides=shared)
    report(str(tmp_path), f"out={tmp_path / 'out'}", "reps=500", "compare=liir")
    rows = {(r["task"], r["versus"]): r for r in read_csv(tmp_path / "out" / "improvement.csv")}
    assert set(rows) == {("3m", "coma"), ("3m", "iac"), ("8m", "iac"), ("all: 3m 8m", "iac")}
    expected = {("3m", "coma"): 2 / 6, ("3m", "iac"): 7 / 9, ("8m", "iac"): 0.5 / 4}
    expected[("all: 3m 8m", "iac")] = (7 / 9 + 0.5 / 4) / 2
    for key, value in expected.items():
        row = rows[key]
        assert row["algorithm"] == "liir" and float(row["probability"]) == pytest.approx(value)
        assert float(row["probability_low"]) <= value <= float(row["probability_high"])
    assert rows[("all: 3m 8m", "iac")]["seeds"] == "3/3 + 2/2"
    assert "| 3m | iac | 3/3 | 0.778 [" in (tmp_path / "out" / "summary.md").read_text()


def test_probability_of_improvement_is_mann_whitneys_u_over_the_pairs():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 5, 7) / 4, rng.integers(0, 5, 6) / 4  # win rates with ties
    u = stats.mannwhitneyu(x, y).statistic  # pairs with x > y, ties counting one half
    assert probability_of_improvement(x, y, axis=0) == pytest.approx(u / (len(x) * len(y)))
    batched = probability_of_improvement(np.stack([x, 1 - x]), np.stack([y, y]), axis=1)  # as the bootstrap calls it
    assert batched[0] == pytest.approx(u / 42) and batched[1] == pytest.approx(
        stats.mannwhitneyu(1 - x, y).statistic / 42
    )


def check_marl_eval_structure(data: dict) -> None:
    """The raw-data structure documented in marl-eval's README ("Data Structure for Raw Experiment data",
    github.com/instadeepai/marl-eval): environment -> task -> algorithm -> run -> ``step_<k>`` entries, each a
    ``step_count`` int and one list of numbers per metric (one element for a win rate computed over many
    episodes), plus ``absolute_metrics`` with the same metrics; every run of an environment has the same number
    of steps and metrics, and algorithm names hold no commas (``data_process_pipeline`` refuses them)."""
    for tasks in data.values():
        step_counts, metric_sets = set(), set()
        for algorithms in tasks.values():
            for algorithm, runs in algorithms.items():
                assert "," not in algorithm
                for steps in runs.values():
                    assert "absolute_metrics" in steps
                    step_counts.add(len(steps) - 1)
                    for name, metrics in steps.items():
                        assert name == "absolute_metrics" or (name.startswith("step_") and name[5:].isdigit())
                        if name != "absolute_metrics":
                            assert isinstance(metrics.pop("step_count"), int)
                        metric_sets.add(frozenset(metrics))
                        for values in metrics.values():
                            assert isinstance(values, list) and values
                            assert all(isinstance(v, int | float) for v in values)
        assert len(step_counts) == 1 and len(metric_sets) == 1


def test_marl_eval_json_has_the_documented_structure(tmp_path):
    seed_runs(tmp_path / "a", finals=[0.5, 0.75])
    seed_runs(tmp_path / "b", finals=[0.25, 0.25], algo="coma", overrides=("algo.x=[1,2]",))
    report(str(tmp_path), f"out={tmp_path / 'out'}", "reps=100")
    data = json.loads((tmp_path / "out" / "marl_eval.json").read_text())
    assert set(data) == {"smac"} and set(data["smac"]) == {"3m"}
    assert set(data["smac"]["3m"]) == {"iac", "coma algo.x=[1;2]"}
    run = data["smac"]["3m"]["iac"]["seed_2"]
    assert [run[f"step_{k}"]["step_count"] for k in range(4)] == [0, 100, 200, 300]
    assert run["step_1"]["win_rate"] == [0.0] and run["absolute_metrics"] == {"win_rate": [0.75], "return": [7.5]}
    check_marl_eval_structure(data)


def test_pursuit_is_judged_by_its_return_and_the_figures_open(tmp_path):
    seed_runs(tmp_path / "runs", finals=[0.2, 0.4, 0.6], map_name=None)
    report(str(tmp_path / "runs"), f"out={tmp_path / 'out'}", "reps=100")
    (row,) = cells(tmp_path / "out").values()
    assert row["task"] == "pursuit1d" and row["metric"] == "return" and row["threshold_reached"] == ""
    assert float(row["final_median"]) == pytest.approx(4.0)
    data = json.loads((tmp_path / "out" / "marl_eval.json").read_text())
    assert set(data["pursuit1d"]["pursuit1d"]["iac"]["seed_1"]["step_0"]) == {"step_count", "return"}
    for name in ("curves.png", "curves_return.png"):
        with Image.open(tmp_path / "out" / name) as image:
            image.verify()
            assert image.format == "PNG" and min(image.size) > 300


def test_report_of_real_runs_reads_only_what_is_committed(trained, tmp_path):
    """The short pursuit runs of four algorithms, as trained, and a copy of just their three files per run (what
    ``docs/results/`` keeps) give the same report."""
    sweep = trained["iac"].parent
    kept = tmp_path / "kept"
    for run in trained.values():
        for name in (".hydra/config.yaml", ".hydra/overrides.yaml", "metrics.csv"):
            (kept / run.name / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(run / name, kept / run.name / name)
    report(str(sweep), f"out={tmp_path / 'live'}", "reps=100")
    report(str(kept), f"out={tmp_path / 'kept_out'}", "reps=100")
    rows = read_csv(tmp_path / "live" / "summary.csv")
    assert {row["algorithm"] for row in rows} == set(trained) and {row["metric"] for row in rows} == {"return"}
    assert all(int(row["steps"]) >= 320 for row in rows)
    assert (tmp_path / "live" / "summary.csv").read_text() == (tmp_path / "kept_out" / "summary.csv").read_text()


def test_figures_and_table_go_to_an_offline_wandb_run(tmp_path):
    """Checked through the run's media files, which the SDK writes as it logs (the offline history record is written
    by wandb's service process, whose flush at ``finish`` was seen to miss it on a loaded machine)."""
    seed_runs(tmp_path / "runs", finals=[0.5, 0.75])
    seed_runs(tmp_path / "runs" / "coma", finals=[0.25, 0.25], algo="coma")
    report(str(tmp_path / "runs"), f"out={tmp_path / 'out'}", "reps=100", "wandb=true", "compare=coma")
    (files,) = (tmp_path / "out" / "wandb").glob("offline-run-*/files")
    images = sorted(path.name.rsplit("_", 2)[0] for path in (files / "media" / "images").glob("*.png"))
    assert images == ["curves", "curves_return"]
    for name, rows in (("summary", 2), ("improvement", 1)):
        (table,) = (files / "media" / "table").glob(f"{name}_*.table.json")
        assert len(json.loads(table.read_text())["data"]) == rows


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give the run or sweep directories to report"),
        (("missing",), "'missing' does not exist"),
        (("file.txt",), "'file.txt' is not a directory"),
        (("empty",), "no run with test results below 'empty' (no .hydra/config.yaml)"),
        (("broken",), "no run with test results below 'broken': "),
        (("runs", "colour=red"), "colour is not a config key"),
        (("runs", "reps=abc"), "reps='abc' is not allowed"),
        (("runs", "reps=0"), "reps=0 is not allowed: it must be a positive number"),
        (("runs", "final_tests=0"), "final_tests=0 is not allowed: it must be a positive number"),
        (("runs", "confidence=1.5"), "confidence=1.5 is not allowed"),
        (("runs", "threshold=2"), "threshold=2.0 is not allowed: it must lie in [0, 1]"),
        (("runs", "compare=lir"), "compare='lir' names no cell; the cells' algorithms are: iac"),
        (("runs", "episodes=greedy"), "episodes='greedy' is not allowed"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file.txt").write_text("")
    (tmp_path / "empty").mkdir()
    write_run(tmp_path / "broken" / "0", [])
    seed_runs(tmp_path / "runs", finals=[0.5])
    with pytest.raises(SystemExit) as exit_info:
        report(*args)
    err = capsys.readouterr().err.splitlines()
    assert exit_info.value.code == 2 and len(err) == 1, err
    assert err[0].startswith("liir: error: ") and message in err[0], err[0]
    assert not (tmp_path / "report").exists()  # nothing written
