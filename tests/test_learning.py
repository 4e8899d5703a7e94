"""Slow learning checks (`pytest -m slow`): the default recipes learn pursuit and SMAC 3m (simulator) on a CPU."""

import csv
import json
import statistics

import pytest

from tests.runs import run_module

# A uniformly random policy earns 0 in expectation: both-good and both-bad joint moves are equally likely.
RANDOM_POLICY_RETURN = 0.0


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["iac", "central_v"])
def test_pursuit_greedy_return_clearly_above_random(tmp_path, algo):
    result = run_module(
        "liir.train",
        tmp_path,
        f"hydra.run.dir={tmp_path / 'run'}",
        "env=pursuit1d",
        f"algo={algo}",
        "logger=csv",
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "run" / "metrics.csv") as f:
        tests = [float(r["test_return_mean"]) for r in csv.DictReader(f) if r["test_return_mean"]]
    assert tests[-1] > RANDOM_POLICY_RETURN + 0.03, tests


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["liir", "coma"])
def test_smac_3m_greedy_win_rate_within_300k_env_steps(tmp_path, algo):
    """Measured on the simulator (seed 1): LIIR wins 100% of the greedy test games by 300k steps."""
    result = run_module(
        "liir.train",
        tmp_path,
        f"hydra.run.dir={tmp_path / 'run'}",
        "env=smac_3m",
        "env.backend=sim",
        f"algo={algo}",
        "t_max=300000",
        "test_interval=25000",
        "save_model=false",
        "logger=csv",
        timeout=3600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "run" / "metrics.csv") as f:
        wins = [float(r["test_battle_won_mean"]) for r in csv.DictReader(f) if r["test_battle_won_mean"]]
    assert wins[-1] >= 0.8, wins


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="issue 14's target (median AUC >= 0.95, every seed >= 0.85) is not reached: seeds 1-5 measured "
    "0.74 / 0.10 / 0.82 / 0.69 / 0.62 (docs/liir.md, Figure 2); strict: reaching it fails until the mark goes",
)
def test_figure2_intrinsic_rewards_separate_good_from_bad_actions_on_seeds_1_to_5(tmp_path):
    """The paper's Figure 2 by the documented commands: `liir.train experiment=pursuit_fig2 seed=<s>`, then
    `liir.evaluate ckpt_path=<run>/checkpoints/last.ckpt test_nepisode=1000`; about a minute per seed."""
    aucs = []
    for seed in range(1, 6):
        run = tmp_path / f"seed{seed}"
        trained = run_module(
            "liir.train", tmp_path, "experiment=pursuit_fig2", f"seed={seed}", "logger=csv", f"hydra.run.dir={run}"
        )
        assert trained.returncode == 0, trained.stderr[-3000:]
        ckpt = run / "checkpoints" / "last.ckpt"
        evaluated = run_module("liir.evaluate", tmp_path, f"ckpt_path={ckpt}", "test_nepisode=1000")
        assert evaluated.returncode == 0, evaluated.stderr[-3000:]
        aucs.append(json.loads((run / "checkpoints" / "eval.json").read_text())["r_in_auc_good_vs_bad"])
    assert statistics.median(aucs) >= 0.95 and min(aucs) >= 0.85, aucs
