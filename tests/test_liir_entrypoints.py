"""LIIR through the real entry points: train, resume, evaluate with the Figure 2 outputs, the λ grid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.test_entrypoints import SHORT_RUN, read_csv, run_module, train

LIIR_METRICS = ("r_in_mean", "r_in_std", "r_in_mean_agent0", "r_in_std_agent1", "v_ex_loss", "eta_grad_norm",
                "intrinsic_lambda", "proxy_advantage_abs", "extrinsic_advantage_abs", "j_ex")


@pytest.fixture(scope="module")
def liir_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("liir") / "run"
    result = train(run_dir, "algo=liir", "logger=csv")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def test_liir_run_logs_its_metrics_and_checkpoints_every_optimizer(liir_run):
    ckpt = torch.load(liir_run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert len(ckpt["optimizer_states"]) == 3  # agent, proxy critic, η + V_ex
    assert all(state["state"] for state in ckpt["optimizer_states"])  # each has taken steps
    assert ckpt["liir_run"]["config"]["algo"]["meta_grad"] == "exact"
    rows = [r for r in read_csv(liir_run / "metrics.csv") if r.get("r_in_mean")]
    assert rows
    for key in LIIR_METRICS:
        value = float(rows[-1][key])
        assert value == value, key  # present and not NaN
    assert abs(float(rows[-1]["r_in_mean"])) < 10.0 and float(rows[-1]["intrinsic_lambda"]) == 0.01


def test_liir_resumes_from_its_checkpoint(liir_run, tmp_path):
    ckpt = liir_run / "checkpoints" / "last.ckpt"
    resumed = tmp_path / "resumed"
    result = train(resumed, "algo=liir", "logger=csv", "t_max=640", f"ckpt_path={ckpt}")
    assert result.returncode == 0, result.stderr[-3000:]
    first = torch.load(ckpt, map_location="cpu", weights_only=False)
    second = torch.load(resumed / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert second["liir_module"]["t_env"] >= 640 > first["liir_module"]["t_env"]
    steps = [float(r["env_steps"]) for r in read_csv(resumed / "metrics.csv")]
    assert min(steps) > first["liir_module"]["t_env"]


def test_evaluate_writes_the_intrinsic_reward_figure_and_auc(liir_run, tmp_path):
    eval_path = tmp_path / "eval" / "eval.json"
    result = run_module("liir.evaluate", tmp_path, f"ckpt_path={liir_run / 'checkpoints' / 'last.ckpt'}",
                        "test_nepisode=20", f"eval_path={eval_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(eval_path.read_text())
    assert report["test_n_episodes"] == 20
    assert 0.0 <= report["r_in_auc_good_vs_bad"] <= 1.0
    assert report["r_in_n_good"] > 0 and report["r_in_n_bad"] > 0
    assert -10 < report["r_in_mean_good"] < 10 and -10 < report["r_in_mean_bad"] < 10
    png = (tmp_path / "eval" / "intrinsic_rewards.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_lambda_grid_gives_one_run_per_value(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_module("liir.train", tmp_path, "--multirun", f"hydra.sweep.dir={sweep}", *SHORT_RUN, "t_max=64",
                        "algo=liir", "logger=csv", "save_model=false", "algo.intrinsic_lambda=0.001,0.1")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [row for job in (0, 1) for row in read_csv(sweep / str(job) / "metrics.csv")]
    lambdas = sorted({float(row["intrinsic_lambda"]) for row in rows if row.get("intrinsic_lambda")})
    assert lambdas == [0.001, 0.1]


@pytest.mark.parametrize("key, value", [("meta_grad", "second_order"), ("advantage_normalisation", "zscore"),
                                        ("extrinsic_critic", "q")])
def test_unknown_liir_choice_is_a_clear_error(tmp_path, key, value):
    result = train(tmp_path / "bad", "algo=liir", f"algo.{key}={value}")
    assert result.returncode == 2
    assert f"algo.{key}={value!r} is not allowed" in result.stderr
    assert "Traceback" not in result.stderr
