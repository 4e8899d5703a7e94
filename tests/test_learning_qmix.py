"""Slow learning check (`pytest -m slow`): QMIX with pymarl's SMAC-v1 settings wins 3m on the simulator."""

import pytest

from tests.runs import read_csv, run_module


@pytest.mark.slow
def test_qmix_wins_smac_3m_within_300k_env_steps(tmp_path):
    result = run_module(
        "liir.train",
        tmp_path,
        f"hydra.run.dir={tmp_path / 'run'}",
        "env=smac_3m",
        "env.backend=sim",
        "algo=qmix",
        "t_max=300000",
        "test_interval=10000",
        "test_nepisode=32",
        "save_model=false",
        "logger=csv",
        timeout=4 * 3600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    wins = [
        float(r["test_battle_won_mean"])
        for r in read_csv(tmp_path / "run" / "metrics.csv")
        if r["test_battle_won_mean"]
    ]
    assert max(wins) >= 0.9, wins
