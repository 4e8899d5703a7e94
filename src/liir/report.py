"""`python -m liir.report <run or sweep directories...> [out=report] [key=value ...]`: seeds aggregated.

Every training run below the given directories (a folder holding ``.hydra/config.yaml``) is read from three files:
``.hydra/config.yaml``, ``.hydra/overrides.yaml`` and ``metrics.csv``, so committed results without checkpoints
report the same as the live output folders. Runs are grouped into cells of (map or env, algorithm, the overrides
that split W&B groups, ``liir.grouping``), and ``out`` receives the curves, the summary tables and a marl-eval
JSON file (README, "Reports"). Runs that cannot be used, and cells whose seeds differ in length, are reported on
stderr and in ``summary.md``.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
import textwrap
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import wandb
import yaml
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from matplotlib.figure import Figure  # not pyplot: no GUI backend, so reports are drawn headless
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from liir import cli
from liir.aggregate import STATISTICS, Bootstrap, Estimate, first_crossing, on_grid
from liir.config import ConfigError, ReportConfig, validate
from liir.grouping import group_overrides

WIN, RETURN = "win_rate", "return"  # the metrics' names in the tables and in marl-eval's JSON


@dataclass(frozen=True)
class Episodes:
    """Where a report's results come from (``episodes``): which metrics.csv columns, at which interval, and the
    words the report uses for them."""

    columns: dict[str, str]  # metric -> its metrics.csv column
    interval_key: str  # the run config's key for the env steps between results
    name: str  # how labels name them: "test" (win rate, return, results) or "training"
    result: str  # one result: a test, or one log of the training episodes' means
    note: str  # what summary.md adds about them


EPISODES = {
    "test": Episodes(  # the greedy test episodes (pymarl's test_greedy, which the paper plots)
        {WIN: "test_battle_won_mean", RETURN: "test_return_mean"}, "test_interval", "test", "test", ""
    ),
    "train": Episodes(  # the training episodes: the behaviour policy (sampled, or epsilon-greedy for Q-learners)
        {WIN: "battle_won_mean", RETURN: "return_mean"},
        "log_interval",
        "training",
        "log",
        " Training episodes (`episodes=train`): the behaviour policy that collects the data (sampled actions; "
        "epsilon-greedy for the Q-learners), each log the mean over the episodes since the one before.",
    ),
}
SKIPPED_FOLDERS = {".hydra", "checkpoints", "wandb", "tensorboard"}  # never hold a run, can hold many files
OPTION = re.compile(r"^[\w.+~]+=")  # ``key=value``, as Hydra's override grammar starts


@dataclass
class Run:
    """One training run's configuration and its results (greedy tests, or training episodes), in env-step order."""

    path: Path
    env: str  # env.name, e.g. smac_3m
    task: str  # the SMAC map, or env.name where there are no maps
    algo: str
    overrides: tuple[str, ...]  # the command-line overrides that split groups
    seed: int
    t_max: int
    interval: int  # env steps between its results: test_interval (tests) or log_interval (training episodes)
    steps: np.ndarray
    values: dict[str, np.ndarray]  # WIN (SMAC only) and RETURN

    @property
    def cell(self) -> tuple[str, str, str, tuple[str, ...]]:
        return self.env, self.task, self.algo, self.overrides

    @property
    def metric(self) -> str:
        """What its cell is judged by: the win rate where the env has one, else the return (pursuit)."""
        return WIN if WIN in self.values else RETURN


@dataclass
class Group:
    """The seeds of one cell, cut to their common length: the curves on a common step grid, their statistics."""

    runs: list[Run]
    grid: np.ndarray  # env steps: multiples of ``interval`` up to ``horizon``
    horizon: int  # env steps behind the cell: the shortest seed's last result
    interval: int  # the seeds' interval between results
    curves: dict[str, dict[str, Estimate]]  # metric -> statistic -> estimate along the grid
    notes: list[str] = field(default_factory=list)

    def tests(self, run: Run, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """A seed's results that count at the cell's steps: those before ``horizon`` plus one interval. Seeds log
        a few episodes apart, so a complete seed's final result can come a little after the shortest one's."""
        kept = run.steps < self.horizon + self.interval
        return run.steps[kept], run.values[metric][kept]

    @property
    def first(self) -> Run:
        return self.runs[0]

    @property
    def label(self) -> str:
        return " ".join([self.first.algo, *self.first.overrides])


# --- reading runs -----------------------------------------------------------------------------------------------


def find_run_dirs(root: Path) -> list[Path]:
    """``root`` and every folder below it that holds ``.hydra/config.yaml`` (a run, or one job of a grid)."""
    found = []
    for folder, subfolders, _ in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if name not in SKIPPED_FOLDERS)
        if (Path(folder) / ".hydra" / "config.yaml").is_file():
            found.append(Path(folder))
    return found


def read_run(path: Path, episodes: Episodes) -> Run | str:
    """The run in ``path`` with the results of its ``episodes`` (test or train), or why it cannot be reported."""
    try:
        cfg = OmegaConf.load(path / ".hydra" / "config.yaml")
        overrides = OmegaConf.load(path / ".hydra" / "overrides.yaml")
    except (OSError, yaml.YAMLError, OmegaConfBaseException) as exc:
        return f"unreadable .hydra files ({' '.join(str(exc).split())})"
    if not isinstance(cfg, DictConfig) or not {"env", "algo", "seed"} <= set(cfg):
        return "not a liir training run (its .hydra/config.yaml has no env, algo or seed)"
    if (path / "error.txt").is_file():
        return "the job failed (error.txt)"
    if not (path / "metrics.csv").is_file():
        return "no metrics.csv"
    task = OmegaConf.select(cfg, "env.env_args.map_name", default=None)
    columns = {metric: episodes.columns[metric] for metric in ((WIN, RETURN) if task is not None else (RETURN,))}
    steps, values = read_results(path / "metrics.csv", columns)
    if not len(steps):
        return f"no {episodes.name} results in metrics.csv"
    return Run(
        path=path,
        env=cfg.env.name,
        task=task or cfg.env.name,
        algo=cfg.algo.name,
        overrides=tuple(group_overrides(list(overrides))),
        seed=cfg.seed,
        t_max=cfg.t_max,
        interval=cfg[episodes.interval_key],
        steps=steps,
        values=values,
    )


def read_results(path: Path, columns: dict[str, str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The rows of a ``metrics.csv`` holding every one of ``columns`` (metric -> column), one per env step."""
    by_step: dict[float, dict[str, str]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if all(row.get(column) for column in columns.values()):
                by_step[float(row["step"])] = row
    steps = sorted(by_step)
    return np.array(steps), {m: np.array([float(by_step[s][column]) for s in steps]) for m, column in columns.items()}


def read_runs(roots: list[Path], episodes: Episodes) -> tuple[list[Run], dict[Path, str]]:
    """Every run below ``roots`` (each folder once), and the folders left out with the reason."""
    runs, left_out = [], {}
    folders = dict.fromkeys(path.resolve() for root in roots for path in find_run_dirs(root))
    for path in folders:
        run = read_run(path, episodes)
        if isinstance(run, Run):
            runs.append(run)
        else:
            left_out[path] = run
    return runs, left_out


# --- grouping and statistics -----------------------------------------------------------------------------------


def group_runs(runs: list[Run], boot: Bootstrap) -> list[Group]:
    """The cells, sorted by env, map, algorithm and overrides, each with its seeds in seed order."""
    cells: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        cells[run.cell].append(run)
    groups = [make_group(sorted(cell, key=lambda r: (r.seed, str(r.path))), boot) for _, cell in sorted(cells.items())]
    most = max(len(group.runs) for group in groups)
    for group in groups:
        if len(group.runs) < most:
            group.notes.append(f"{len(group.runs)} seed(s), where other cells have up to {most}")
    return groups


def make_group(runs: list[Run], boot: Bootstrap) -> Group:
    """Cut the seeds to the shortest one's last result and put their curves on the grid of their interval."""
    horizon = int(min(run.steps[-1] for run in runs))
    interval = max(run.interval for run in runs)
    grid = np.arange(0, horizon + 1, interval)
    curves = {
        metric: boot.estimate([np.stack([on_grid(run.steps, run.values[metric], grid) for run in runs])])
        for metric in runs[0].values
    }
    return Group(runs, grid, horizon, interval, curves, notes=length_notes(runs, horizon, interval))


def length_notes(runs: list[Run], horizon: int, interval: int) -> list[str]:
    """What is missing or uneven among a cell's seeds: unfinished runs, unequal lengths, repeated seeds."""
    notes = [
        f"seed {run.seed} stopped at {int(run.steps[-1]):,} of t_max {run.t_max:,} steps ({run.path})"
        for run in runs
        if run.steps[-1] < run.t_max
    ]
    longest = int(max(run.steps[-1] for run in runs))
    if longest // interval > horizon // interval:
        notes.append(
            f"seeds end between {horizon:,} and {longest:,} steps: curves and results are cut at {horizon:,}, "
            "where every seed has results"
        )
    notes += [f"seed {seed} appears in {n} runs" for seed, n in Counter(run.seed for run in runs).items() if n > 1]
    if len(runs) == 1:
        notes.append("one seed: no confidence interval")
    return notes


def finals_and_bests(group: Group, metric: str, final_tests: int) -> dict[str, np.ndarray]:
    """Per seed: the mean of its last ``final_tests`` tests up to the cell's steps (1: its last test; more smooth
    a curve that swings from test to test), and its best test up to them."""
    tests = [group.tests(run, metric)[1] for run in group.runs]
    return {"final": np.array([v[-final_tests:].mean() for v in tests]), "best": np.array([v.max() for v in tests])}


def cell_columns(group: Group) -> dict[str, object]:
    """The columns that name a cell in the CSV files."""
    first = group.first
    return {"env": first.env, "task": first.task, "algorithm": first.algo, "overrides": " ".join(first.overrides)}


def cell_row(group: Group, label: str, cfg: ReportConfig, boot: Bootstrap) -> dict[str, object]:
    """One row of ``summary.csv``: final and best (median and IQM with their intervals), steps to threshold;
    ``label`` is the cell's name in the legends and notes."""
    metric = group.first.metric
    row: dict[str, object] = {
        **cell_columns(group),
        "label": label,
        "metric": metric,
        "seeds": len(group.runs),
        "seed_list": " ".join(str(run.seed) for run in group.runs),
        "steps": group.horizon,
    }
    for kind, scores in finals_and_bests(group, metric, cfg.final_tests).items():
        row |= estimate_columns(kind, boot.estimate([scores]))
    crossings = [first_crossing(*group.tests(run, WIN), cfg.threshold) for run in group.runs] if metric == WIN else []
    median_crossing = float(np.median(crossings)) if crossings else np.inf
    row["steps_to_threshold"] = int(median_crossing) if np.isfinite(median_crossing) else ""
    row["threshold_reached"] = f"{int(np.isfinite(crossings).sum())}/{len(crossings)}" if crossings else ""
    row["notes"] = "; ".join(group.notes)
    return row


def estimate_columns(kind: str, estimates: dict[str, Estimate]) -> dict[str, float]:
    columns = {}
    for name, estimate in estimates.items():
        columns |= {
            f"{kind}_{name}": float(estimate.point),
            f"{kind}_{name}_low": float(estimate.low),
            f"{kind}_{name}_high": float(estimate.high),
        }
    return columns


def across_maps_rows(groups: list[Group], boot: Bootstrap, final_tests: int) -> list[dict[str, object]]:
    """Per algorithm (and overrides) found on two maps or more, the win rates of all its seeds on all maps pooled:
    the stratified bootstrap redraws each map's seeds separately, so every resample keeps each map's seed count."""
    by_label: dict[str, list[Group]] = defaultdict(list)
    for group in groups:
        if group.first.metric == WIN:
            by_label[group.label].append(group)
    rows = []
    for _, cells in sorted(by_label.items()):
        if len(cells) < 2:
            continue
        row: dict[str, object] = {
            "env": "smac",
            "task": "all: " + " ".join(cell.first.task for cell in cells),
            "algorithm": cells[0].first.algo,
            "overrides": " ".join(cells[0].first.overrides),
            "metric": WIN,
            "seeds": sum(len(cell.runs) for cell in cells),
        }
        scores = [finals_and_bests(cell, WIN, final_tests) for cell in cells]
        for kind in ("final", "best"):
            row |= estimate_columns(kind, boot.estimate([s[kind] for s in scores]))
        rows.append(row)
    return rows


def improvement_rows(groups: list[Group], compare: str, boot: Bootstrap, final_tests: int) -> list[dict[str, object]]:
    """The probability that ``compare`` beats each other cell of the same map (its seeds' finals against theirs),
    map by map, then, per other algorithm met on two maps or more, the mean of those probabilities over the maps,
    with a bootstrap that redraws each map's seeds of each algorithm separately."""
    names = short_labels(groups)
    ours_by_task = {group.first.task: group for group in groups if names[id(group)] == compare}
    finals = {id(group): finals_and_bests(group, group.first.metric, final_tests)["final"] for group in groups}
    pairs: dict[str, list[tuple[Group, Group]]] = defaultdict(list)
    rows = []
    for theirs in groups:
        ours = ours_by_task.get(theirs.first.task)
        if ours is None or theirs is ours or theirs.first.metric != ours.first.metric:
            continue
        pairs[names[id(theirs)]].append((ours, theirs))
        rows.append(improvement_row(theirs.first.task, [(ours, theirs)], names, finals, boot))
    for matches in (matches for _, matches in sorted(pairs.items()) if len(matches) > 1):
        task = "all: " + " ".join(g.first.task for g, _ in matches)
        rows.append(improvement_row(task, matches, names, finals, boot))
    return rows


def improvement_row(
    task: str,
    matches: list[tuple[Group, Group]],
    names: dict[int, str],
    finals: dict[int, np.ndarray],
    boot: Bootstrap,
) -> dict[str, object]:
    """One row of ``improvement.csv``: P(ours > theirs) over ``matches``, one (ours, theirs) pair of cells per map."""
    estimate = boot.improvement([(finals[id(ours)], finals[id(theirs)]) for ours, theirs in matches])
    ours, theirs = matches[0]
    return {
        "task": task,
        "algorithm": names[id(ours)],
        "versus": names[id(theirs)],
        "metric": ours.first.metric,
        "seeds": " + ".join(f"{len(ours.runs)}/{len(theirs.runs)}" for ours, theirs in matches),
        "probability": float(estimate.point),
        "probability_low": float(estimate.low),
        "probability_high": float(estimate.high),
    }


def check_compare(groups: list[Group], compare: str | None) -> None:
    labels = sorted(set(short_labels(groups).values()))
    if compare is not None and compare not in labels:
        cli.fail(f"compare={compare!r} names no cell; the cells' algorithms are: {', '.join(labels)}")


# --- outputs -----------------------------------------------------------------------------------------------------


def common_overrides(groups: list[Group]) -> list[str]:
    """The overrides every cell shares (e.g. an ``experiment=`` preset): said once, not in every legend entry."""
    shared = set.intersection(*(set(group.first.overrides) for group in groups))
    return sorted(shared)


def short_labels(groups: list[Group]) -> dict[int, str]:
    """Each cell's (by ``id``) algorithm with the overrides that not every cell shares: how the legends and
    ``compare`` name it."""
    shared = common_overrides(groups)
    return {id(g): " ".join(o for o in [g.first.algo, *g.first.overrides] if o not in shared) for g in groups}


def plot_curves(groups: list[Group], metric_of: Callable[[Group], str], path: Path, cfg: ReportConfig) -> None:
    """One panel per map (or env), one colour per algorithm: the IQM (solid) and the median (dashed) across seeds,
    each with its confidence band."""
    tasks = list(dict.fromkeys(group.first.task for group in groups))
    labels = sorted({group.label for group in groups})
    shared = common_overrides(groups)
    names = short_labels(groups)
    ncols = min(len(tasks), 2 if len(tasks) <= 4 else 3)
    nrows = -(-len(tasks) // ncols)
    fig = Figure(figsize=(5.5 * ncols, 3.8 * nrows), layout="tight")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, task in zip(axes.flat, tasks, strict=False):
        for group in (g for g in groups if g.first.task == task):
            metric = metric_of(group)
            colour = f"C{labels.index(group.label) % 10}"
            legend = f"{names[id(group)]} ({len(group.runs)} seeds)"
            for statistic, style, alpha in (("iqm", "-", 0.2), ("median", "--", 0.08)):
                estimate = group.curves[metric][statistic]
                ax.plot(group.grid, estimate.point, style, color=colour, label=legend if statistic == "iqm" else None)
                ax.fill_between(group.grid, estimate.low, estimate.high, color=colour, alpha=alpha, linewidth=0)
        ax.set(title=task, xlabel="env steps", ylabel=f"{EPISODES[cfg.episodes].name} {metric.replace('_', ' ')}")
        if metric == WIN:
            ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    for ax in axes.flat[len(tasks) :]:
        ax.set_visible(False)
    title = f"IQM (solid) and median (dashed) across seeds, {cfg.confidence:.0%} bootstrap CIs"
    fig.suptitle("\n".join([textwrap.fill(" ".join(shared), 70 * ncols), title] if shared else [title]))
    fig.savefig(path, dpi=120)


def write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def curve_rows(groups: list[Group]) -> list[dict[str, object]]:
    """``curves.csv``: every cell's statistics at every grid step, for both metrics (what the figures draw)."""
    rows = []
    for group in groups:
        for metric, estimates in group.curves.items():
            for i, step in enumerate(group.grid):
                row: dict[str, object] = {
                    **cell_columns(group),
                    "metric": metric,
                    "step": int(step),
                    "seeds": len(group.runs),
                }
                for name, estimate in estimates.items():
                    row |= {
                        name: rounded(estimate.point[i]),
                        f"{name}_low": rounded(estimate.low[i]),
                        f"{name}_high": rounded(estimate.high[i]),
                    }
                rows.append(row)
    return rows


def rounded(value: float) -> float:
    """Six significant digits: what the curves' files keep (a test's win rate over 32 episodes needs five)."""
    return float(f"{value:.6g}")


def fmt(value: object) -> str:
    """A number for the markdown table: steps with thousands separators, scores to three digits, – for none."""
    if value == "" or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{value:,}" if isinstance(value, int) else f"{value:.3g}"


def with_interval(row: dict[str, object], column: str) -> str:
    low, high = row[f"{column}_low"], row[f"{column}_high"]
    interval = "" if np.isnan(low) else f" [{fmt(low)}, {fmt(high)}]"
    return f"{fmt(row[column])}{interval}"


def markdown_table(rows: list[dict[str, object]], first: list[tuple[str, str]], last: list[tuple[str, str]]) -> str:
    """A table of ``first`` columns (title, key), the eight estimates with their intervals, then ``last``."""
    estimates = [(f"{k} {s if s == 'median' else 'IQM'}", f"{k}_{s}") for k in ("final", "best") for s in STATISTICS]
    head = [title for title, _ in first] + [title for title, _ in estimates] + [title for title, _ in last]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [str(row[key]) for _, key in first] + [with_interval(row, key) for _, key in estimates]
        cells += [str(row[key]) for _, key in last]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def final_what(final_tests: int, result: str) -> str:
    return f"last {result}" if final_tests == 1 else f"mean of its last {final_tests} {result}s (`final_tests`)"


def improvement_markdown(rows: list[dict[str, object]]) -> str:
    compare = rows[0]["algorithm"]
    lines = [
        f"The probability of improvement (rliable's): the chance that a seed of {compare} ends above a seed of the "
        "other cell on the same map (*final* scores, a tie counting one half), averaged over the maps in the *all* "
        "rows; "
        "0.5: neither is better, an interval that excludes 0.5: a difference. *seeds*: "
        f"{compare}'s / the other's, per map.",
        "",
        f"| map | {compare} against | seeds | P({compare} > other) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r['task']} | {r['versus']} | {r['seeds']} | {with_interval(r, 'probability')} |" for r in rows]
    return "\n".join(lines)


def summary_markdown(
    cells: list[dict[str, object]],
    across: list[dict[str, object]],
    improvement: list[dict[str, object]],
    left_out: dict[Path, str],
    cfg: ReportConfig,
) -> str:
    cells = [
        row
        | {
            "note": f"[{i}]" if row["notes"] else "",
            "steps": fmt(row["steps"]),
            "reached": f"{fmt(row['steps_to_threshold'])} ({row['threshold_reached']})"
            if row["threshold_reached"]
            else "–",
        }
        for i, row in enumerate(cells, 1)
    ]
    ci = f"{cfg.confidence:.0%}"
    episodes = EPISODES[cfg.episodes]
    what, result = episodes.name, episodes.result
    parts = [
        f"# Report: {sum(int(r['seeds']) for r in cells)} runs in {len(cells)} cells",
        "",
        f"{what.capitalize()} win rate (SMAC; `win_rate`) or {what} return (envs without a win rate; `return`) "
        f"across seeds: the median and the IQM (interquartile mean), each with its {ci} confidence interval from a "
        f"stratified bootstrap ({cfg.reps} resamples, seed {cfg.bootstrap_seed}); one seed has no interval (–). "
        f"*final*: each seed's {final_what(cfg.final_tests, result)} at the cell's *steps* (the shortest seed's last "
        f"{result}) or within one interval after them (seeds end a few episodes apart); *best*: each seed's best "
        f"{result} up to then. *steps to {cfg.threshold}*: the median over seeds of the first {result} step at which "
        f"the win rate reached {cfg.threshold}, a seed that never reached it counting as later than any; – when half "
        f"the seeds or more never reached it; in brackets, how many seeds reached it.{episodes.note}",
        "",
        markdown_table(
            cells,
            [("map", "task"), ("algorithm", "algorithm"), ("overrides", "overrides"), ("metric", "metric")]
            + [("seeds", "seeds"), ("steps", "steps")],
            [(f"steps to {cfg.threshold}", "reached"), ("notes", "note")],
        ),
    ]
    if across:
        parts += [
            "",
            "## Across maps",
            "",
            "Win rates of every seed on every map listed, pooled; the bootstrap redraws each map's seeds separately.",
            "",
            markdown_table(across, [("maps", "task"), ("algorithm", "algorithm"), ("overrides", "overrides")], []),
        ]
    if improvement:
        title = f"## {improvement[0]['algorithm']} against each other cell"
        parts += ["", title, "", improvement_markdown(improvement)]
    notes = [f"{row['note']} {row['task']} {row['label']}: {row['notes']}" for row in cells if row["notes"]]
    if notes:
        parts += ["", "## Notes", "", *[f"- {note}" for note in notes]]
    if left_out:
        parts += ["", "## Runs left out", "", *[f"- `{path}`: {reason}" for path, reason in left_out.items()]]
    return "\n".join(parts) + "\n"


def marl_eval_json(groups: list[Group]) -> dict:
    """marl-eval's raw-data structure: environment -> task -> algorithm -> ``seed_<n>`` -> ``step_<i>`` (each
    ``{"step_count": int, <metric>: [value]}``) and ``absolute_metrics``. The steps are the cell's grid (so all
    seeds of a cell have the same steps, as marl-eval requires); every metric is one value per evaluation (the
    mean over the test episodes, which marl-eval allows); ``absolute_metrics`` holds each seed's final test
    (marl-eval's absolute metric re-evaluates the best policy, which a metrics.csv does not hold)."""
    data: dict = {}
    for group in groups:
        env = "smac" if WIN in group.first.values else group.first.env
        algorithm = group.label.replace(",", ";")  # marl-eval refuses commas in algorithm names
        runs = data.setdefault(env, {}).setdefault(group.first.task, {}).setdefault(algorithm, {})
        for name, run in zip(run_names(group.runs), group.runs, strict=True):
            values = {m: on_grid(run.steps, run.values[m], group.grid) for m in run.values}
            steps = {
                f"step_{i}": {"step_count": int(step), **{m: [rounded(v[i])] for m, v in values.items()}}
                for i, step in enumerate(group.grid)
            }
            final = {m: [rounded(group.tests(run, m)[1][-1])] for m in run.values}
            runs[name] = {**steps, "absolute_metrics": final}
    return data


def run_names(runs: list[Run]) -> list[str]:
    """``seed_<n>`` (marl-eval's own logger's name), with a suffix where a seed repeats."""
    counts, seen = Counter(run.seed for run in runs), Counter()
    names = []
    for run in runs:
        seen[run.seed] += 1
        names.append(f"seed_{run.seed}" + (f"_{seen[run.seed]}" if counts[run.seed] > 1 else ""))
    return names


def log_to_wandb(out: Path, figures: list[Path], tables: dict[str, list[dict[str, object]]], cfg: ReportConfig) -> str:
    """Log the figures and the tables to a new W&B run (offline unless ``WANDB_MODE`` says otherwise)."""
    mode = os.environ.get("WANDB_MODE", "offline")
    run = wandb.init(project=cfg.wandb_project, job_type="report", dir=str(out), mode=mode, config=asdict(cfg))
    logged: dict[str, object] = {path.stem: wandb.Image(str(path)) for path in figures}
    for name, rows in tables.items():
        columns = list(dict.fromkeys(key for row in rows for key in row))
        logged[name] = wandb.Table(columns=columns, data=[[row.get(c, "") for c in columns] for row in rows])
    run.log(logged)
    run.finish()
    return str(Path(run.dir).parent)


# --- the command ----------------------------------------------------------------------------------------------------


def split_args(args: list[str]) -> tuple[list[str], list[str]]:
    """Directories first, then ``key=value`` options; an argument naming an existing path is a directory even with
    ``=`` in its name (Hydra names grid jobs ``algo=iac,seed=1`` with ``override_dirname``)."""
    paths = [arg for arg in args if not OPTION.match(arg) or Path(arg).exists()]
    return paths, [arg for arg in args if arg not in paths]


def compose_options(options: list[str]) -> ReportConfig:
    """``conf/report.yaml`` with the command-line options, type-checked by its schema."""
    try:
        with initialize_config_dir(config_dir=cli.CONF_DIR, version_base="1.3"):
            cfg = compose(config_name="report", overrides=options)
    except ConfigCompositionException as exc:
        allowed = ", ".join(ReportConfig.__dataclass_fields__)
        cli.fail(f"{cli.describe_composition_error(exc)}; the report's options are {allowed}")
    try:
        validate(cfg)
    except ConfigError as exc:
        cli.fail(str(exc))
    return OmegaConf.to_object(cfg)


def check_roots(paths: list[str]) -> list[Path]:
    if not paths:
        cli.fail("give the run or sweep directories to report: python -m liir.report <dir> [<dir> ...] [out=report]")
    for path in paths:
        if not Path(path).exists():
            cli.fail(f"{path!r} does not exist; give run or sweep directories (folders holding runs' .hydra/)")
        if not Path(path).is_dir():
            cli.fail(f"{path!r} is not a directory; give run or sweep directories (folders holding runs' .hydra/)")
    return [Path(path) for path in paths]


def report(args: list[str]) -> None:
    paths, options = split_args(args)
    cfg = compose_options(options)
    roots = check_roots(paths)
    runs, left_out = read_runs(roots, EPISODES[cfg.episodes])
    if not runs:
        found = "; ".join(f"{path} ({reason})" for path, reason in list(left_out.items())[:3])
        where = ", ".join(map(repr, paths))
        cli.fail(
            f"no run with {EPISODES[cfg.episodes].name} results below {where}"
            + (f": {found}" if found else " (no .hydra/config.yaml)")
        )
    boot = Bootstrap(cfg.reps, cfg.bootstrap_seed, cfg.confidence)
    groups = group_runs(runs, boot)
    check_compare(groups, cfg.compare)
    for path, reason in left_out.items():
        cli.warn(f"left out {path}: {reason}")
    for group in groups:
        for note in group.notes:
            cli.warn(f"{group.first.task} {group.label}: {note}")
    write_report(Path(cfg.out), groups, left_out, cfg, boot)


def write_report(out: Path, groups: list[Group], left_out: dict[Path, str], cfg: ReportConfig, boot: Bootstrap) -> None:
    out.mkdir(parents=True, exist_ok=True)
    labels = short_labels(groups)
    cells = [cell_row(group, labels[id(group)], cfg, boot) for group in groups]
    across = across_maps_rows(groups, boot, cfg.final_tests)
    improvement = improvement_rows(groups, cfg.compare, boot, cfg.final_tests) if cfg.compare else []
    figures = [out / "curves.png", out / "curves_return.png"]
    plot_curves(groups, lambda group: group.first.metric, figures[0], cfg)
    plot_curves(groups, lambda group: RETURN, figures[1], cfg)
    write_csv(out / "summary.csv", cells + across)
    write_csv(out / "curves.csv", curve_rows(groups))
    (out / "summary.md").write_text(summary_markdown(cells, across, improvement, left_out, cfg))
    (out / "marl_eval.json").write_text(json.dumps(marl_eval_json(groups)))
    written = "curves.png, curves_return.png, curves.csv, summary.md, summary.csv, marl_eval.json"
    tables = {"summary": cells + across}
    if improvement:
        write_csv(out / "improvement.csv", improvement)
        written += ", improvement.csv"
        tables["improvement"] = improvement
    if cfg.wandb:
        written += f"; W&B run in {log_to_wandb(out, figures, tables, cfg)}"
    print(f"report of {len(cells)} cells ({sum(len(g.runs) for g in groups)} runs) in {out}: {written}")


def main() -> None:
    cli.run(lambda: report(sys.argv[1:]))


if __name__ == "__main__":
    main()
