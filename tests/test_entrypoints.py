"""The real Hydra entry points (`python -m liir.train`, `python -m liir.evaluate`) in subprocesses."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.wandb_records import run_info_and_history

SHORT_RUN = ["env=pursuit1d", "t_max=320", "batch_size_run=4", "test_interval=160", "test_nepisode=8",
             "log_interval=160", "save_model_interval=160"]


def run_module(module: str, cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def train(run_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    result = run_module("liir.train", run_dir.parent, f"hydra.run.dir={run_dir}", *SHORT_RUN, *overrides)
    return result


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def wandb_run_file(run_dir: Path) -> Path:
    (path,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    runs = {}
    for algo in ("iac", "central_v", "coma"):
        result = train(root / algo, f"algo={algo}")
        assert result.returncode == 0, result.stderr[-3000:]
        runs[algo] = root / algo
    return runs


@pytest.mark.parametrize("algo", ["iac", "central_v", "coma"])
def test_short_run_writes_checkpoint_csv_and_wandb(trained, algo):
    run_dir = trained[algo]
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["liir_module"]["t_env"] >= 320
    assert len(ckpt["optimizer_states"]) == 2  # actor and critic
    assert any(k.startswith("target_critic.") for k in ckpt["state_dict"])
    assert set(ckpt["liir_module"]["rng"]) == {"torch", "cuda", "numpy", "python"}
    assert ckpt["liir_run"]["config"]["algo"]["name"] == algo
    assert {"GreedyTest", "TrainMetricsLogger", "EnvStepCheckpoint"} <= {k.split("{")[0] for k in ckpt["callbacks"]}
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("t_env_*.ckpt")) == [
        "t_env_160.ckpt", "t_env_320.ckpt"]

    rows = read_csv(run_dir / "metrics.csv")
    train_rows = [r for r in rows if r["return_mean"]]
    test_rows = [r for r in rows if r["test_return_mean"]]
    assert [float(r["env_steps"]) for r in test_rows] == [40.0, 200.0, 320.0]  # first test: 1 rollout
    assert all(r["step"] == str(int(float(r["env_steps"]))) for r in rows)
    assert {"critic_loss", "pg_loss", "epsilon", "env_steps_per_sec", "battle_won_mean"} <= set(train_rows[0])
    assert (run_dir / ".hydra" / "config.yaml").is_file()

    run, history = run_info_and_history(wandb_run_file(run_dir))
    assert run.run_id == ckpt["liir_run"]["wandb_run_id"]
    assert run.display_name == f"{algo}-pursuit1d-seed1"
    assert run.run_group.startswith(f"pursuit1d-{algo}-") and "seed" not in run.run_group
    logged = {k for row in history for k in row}
    assert {"env_steps", "return_mean", "test_return_mean", "critic_loss"} <= logged
    test_steps = [json.loads(row["env_steps"]) for row in history if "test_return_mean" in row]
    assert test_steps == [40, 200, 320]


@pytest.mark.parametrize("algo", ["iac", "coma"])
def test_resume_continues_env_steps_and_the_wandb_run(trained, tmp_path, algo):
    first = trained[algo]
    ckpt = first / "checkpoints" / "last.ckpt"
    result = train(tmp_path / "resumed", f"algo={algo}", "t_max=480", f"ckpt_path={ckpt}")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_csv(tmp_path / "resumed" / "metrics.csv")
    steps = [float(r["env_steps"]) for r in rows]
    assert min(steps) > 320 and max(steps) >= 480
    ckpt = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["liir_module"]["t_env"] >= 480
    first_run, _ = run_info_and_history(wandb_run_file(first))
    resumed_run, _ = run_info_and_history(wandb_run_file(tmp_path / "resumed"))
    assert resumed_run.run_id == first_run.run_id


def test_same_seed_gives_identical_metrics(trained, tmp_path):
    result = train(tmp_path / "again", "algo=iac")
    assert result.returncode == 0, result.stderr[-3000:]

    def deterministic(rows):
        return [{k: v for k, v in r.items() if k != "env_steps_per_sec"} for r in rows]

    assert deterministic(read_csv(tmp_path / "again" / "metrics.csv")) == deterministic(
        read_csv(trained["iac"] / "metrics.csv"))


def test_evaluate_writes_eval_json(trained, tmp_path):
    out = tmp_path / "eval.json"
    ckpt = trained["central_v"] / "checkpoints" / "last.ckpt"
    result = run_module("liir.evaluate", tmp_path, f"ckpt_path={ckpt}", "test_nepisode=10", f"eval_path={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(out.read_text())
    assert metrics["test_n_episodes"] == 10 and metrics["algo"] == "central_v" and metrics["t_env"] >= 320
    assert "test_return_mean" in metrics and "test_battle_won_mean" in metrics
    assert metrics["backend"] == metrics["training_backend"] == "native"


def test_interval_checkpoint_path_works_as_a_command_line_value(trained, tmp_path):
    """Interval checkpoint names hold no '=' (Hydra's override grammar would reject the path)."""
    ckpt = trained["central_v"] / "checkpoints" / "t_env_160.ckpt"
    result = run_module("liir.evaluate", tmp_path, f"ckpt_path={ckpt}", "test_nepisode=2",
                        f"eval_path={tmp_path / 'eval.json'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "eval.json").read_text())["t_env"] == 160


def test_run_config_records_the_backend_that_ran(trained):
    ckpt = torch.load(trained["iac"] / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["liir_run"]["config"]["env"]["runtime"] == {"backend": "native", "sc2_version": None}


def test_replays_without_the_real_game_are_a_clear_error(trained, tmp_path):
    ckpt = trained["iac"] / "checkpoints" / "last.ckpt"
    result = run_module("liir.evaluate", tmp_path, f"ckpt_path={ckpt}", "test_nepisode=4", "save_replay=true",
                        f"eval_path={tmp_path / 'eval.json'}")
    assert result.returncode == 2 and "replays need the real game" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "eval.json").exists()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["env=no_such_env"], "no_such_env"),
        (["algo=no_such_algo"], "no_such_algo"),
        (["t_max=0"], "t_max=0 is not allowed"),
        (["batch_size_run=-2"], "batch_size_run=-2 is not allowed"),
        (["algo.lr=0"], "algo.lr=0 is not allowed"),
        (["ckpt_path=/nonexistent/last.ckpt"], "checkpoint not found: '/nonexistent/last.ckpt'"),
        (["env=smac_3m", "env.backend=sc2"], "pip install git+https://github.com/oxwhirl/smac.git"),
        (["torch_threads=0"], "torch_threads=0 is not allowed"),
    ],
)
def test_bad_input_gives_one_clear_error(tmp_path, overrides, message):
    result = train(tmp_path / "bad", "algo=iac", *overrides)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "bad" / "checkpoints").exists()


def test_unknown_names_list_the_allowed_ones(tmp_path):
    result = train(tmp_path / "bad", "algo=nope")
    assert "central_v" in result.stderr and "iac" in result.stderr


def test_checkpoint_of_another_algo_or_corrupt_file_is_refused_and_left_untouched(trained, tmp_path):
    ckpt = trained["iac"] / "checkpoints" / "last.ckpt"
    before = digest(ckpt)
    result = train(tmp_path / "other", "algo=central_v", f"ckpt_path={ckpt}")
    assert result.returncode != 0
    assert "was trained with algo=iac, not algo=central_v" in result.stderr
    assert digest(ckpt) == before
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"not a checkpoint")
    result = train(tmp_path / "corrupt", "algo=iac", f"ckpt_path={corrupt}")
    assert result.returncode != 0 and "is unreadable" in result.stderr and "Traceback" not in result.stderr


def test_multirun_gives_one_directory_and_one_wandb_run_per_job(tmp_path):
    result = run_module("liir.train", tmp_path, "--multirun", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                        *SHORT_RUN, "t_max=48", "algo=iac,central_v", "seed=1,2")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted((tmp_path / "sweep").glob("[0-9]*"))
    assert [j.name for j in jobs] == ["0", "1", "2", "3"]
    runs = [run_info_and_history(wandb_run_file(j))[0] for j in jobs]
    assert len({r.run_id for r in runs}) == 4
    groups = {r.display_name: r.run_group for r in runs}
    assert groups["iac-pursuit1d-seed1"] == groups["iac-pursuit1d-seed2"] != groups["central_v-pursuit1d-seed1"]
    assert all((j / "metrics.csv").is_file() and (j / "checkpoints" / "last.ckpt").is_file() for j in jobs)


def test_a_failing_grid_job_does_not_stop_the_others(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_module("liir.train", tmp_path, "--multirun", f"hydra.sweep.dir={sweep}", *SHORT_RUN, "t_max=48",
                        "algo=iac", "logger=csv", "algo.lr=0,0.0005")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "liir: error: algo.lr=0 is not allowed" in result.stderr
    assert "algo.lr=0 is not allowed" in (sweep / "0" / "error.txt").read_text()
    assert (sweep / "1" / "metrics.csv").is_file() and (sweep / "1" / "checkpoints" / "last.ckpt").is_file()
    assert not (sweep / "1" / "error.txt").exists()
