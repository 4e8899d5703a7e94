"""The real entry points (`python -m liir.train`, `python -m liir.evaluate`): runs, grids, resume and evaluation
in subprocesses (the runs are shared: ``conftest.trained``/``resumed``), and the command line's error report.
Config values themselves are checked in-process in test_config.py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

import liir.evaluate
import liir.train
from liir.build import make_env, resolve_device
from liir.checkpointing import CheckpointError
from liir.cli import unwrap
from liir.config import ConfigError
from liir.envs.smac.sc2.install import Sc2SetupError
from liir.train import check_resume
from tests.configs import compose_cfg
from tests.runs import (
    SHORT_RUN,
    TRAINED_ALGOS,
    main_in_process,
    read_csv,
    train,
    train_in_process,
    wandb_run_file,
)
from tests.wandb_records import run_info_and_history


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
        "t_env_160.ckpt",
        "t_env_320.ckpt",
    ]

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


def test_multirun_gives_one_directory_and_one_wandb_run_per_job(trained):
    runs = [run_info_and_history(wandb_run_file(trained[algo]))[0] for algo in TRAINED_ALGOS]
    assert len({r.run_id for r in runs}) == len(TRAINED_ALGOS)
    assert len({r.run_group for r in runs}) == len(TRAINED_ALGOS)  # seeds aggregate: see test_loggers.py
    assert all(
        (trained[a] / "metrics.csv").is_file() and (trained[a] / "checkpoints" / "last.ckpt").is_file()
        for a in TRAINED_ALGOS
    )


@pytest.mark.parametrize("algo", ["iac", "coma"])
def test_resume_continues_env_steps_and_the_wandb_run(trained, resumed, algo):
    rows = read_csv(resumed[algo] / "metrics.csv")
    steps = [float(r["env_steps"]) for r in rows]
    assert min(steps) > 320 and max(steps) >= 480
    ckpt = torch.load(resumed[algo] / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["liir_module"]["t_env"] >= 480
    first_run, _ = run_info_and_history(wandb_run_file(trained[algo]))
    resumed_run, _ = run_info_and_history(wandb_run_file(resumed[algo]))
    assert resumed_run.run_id == first_run.run_id


def test_same_seed_gives_identical_metrics(trained, tmp_path):
    """A single run reproduces the first job of the grid."""
    train_in_process(tmp_path / "again", "algo=iac")

    def deterministic(rows):
        return [{k: v for k, v in r.items() if k != "env_steps_per_sec"} for r in rows]

    assert deterministic(read_csv(tmp_path / "again" / "metrics.csv")) == deterministic(
        read_csv(trained["iac"] / "metrics.csv")
    )


def test_evaluate_writes_eval_json(trained, tmp_path):
    """An interval checkpoint's path works as a command-line value (its name holds no '=')."""
    out = tmp_path / "eval.json"
    ckpt = trained["central_v"] / "checkpoints" / "t_env_160.ckpt"
    main_in_process(liir.evaluate, f"ckpt_path={ckpt}", "test_nepisode=10", f"eval_path={out}")
    metrics = json.loads(out.read_text())
    assert metrics["test_n_episodes"] == 10 and metrics["algo"] == "central_v" and metrics["t_env"] == 160
    assert "test_return_mean" in metrics and "test_battle_won_mean" in metrics
    assert metrics["backend"] == metrics["training_backend"] == "native"


def test_run_config_records_the_backend_that_ran(trained):
    ckpt = torch.load(trained["iac"] / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["liir_run"]["config"]["env"]["runtime"] == {"backend": "native", "sc2_version": None}


def assert_one_error_line(result, message: str) -> None:
    """Exit status 2 and exactly one stderr line, ``liir: error: ...``: no traceback, no Hydra report."""
    assert result.returncode == 2, result.stderr[-3000:]
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("liir: error: ") and message in line
    assert "Error executing job" not in result.stdout and "HYDRA_FULL_ERROR" not in result.stdout


def test_replays_without_the_real_game_are_a_clear_error(trained, tmp_path, capsys):
    ckpt = trained["iac"] / "checkpoints" / "last.ckpt"
    args = (f"ckpt_path={ckpt}", "test_nepisode=4", "save_replay=true", f"eval_path={tmp_path / 'eval.json'}")
    with pytest.raises(SystemExit) as exit_info:
        main_in_process(liir.evaluate, *args)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("liir: error:") and "replays need the real game" in lines[0]
    assert not (tmp_path / "eval.json").exists()


def test_bad_value_on_the_command_line_is_one_error_line(tmp_path):
    """The real CLI process: exit status 2 and one line (a composition error; a constraint error below)."""
    result = train(tmp_path / "bad", "env=no_such_env")
    assert_one_error_line(result, "env='no_such_env' is not allowed; use one of pursuit1d, smac_10m_vs_11m")
    assert not (tmp_path / "bad" / "checkpoints").exists()


def in_process_exit(capsys, *args: str) -> tuple[int, str]:
    """``python -m liir.train <args>`` in this process, expected to exit: its status and what it printed on stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main_in_process(liir.train, *args)
    return exit_info.value.code, capsys.readouterr().err


def test_a_constraint_checked_by_the_job_is_one_error_line(tmp_path, capsys):
    code, err = in_process_exit(capsys, f"hydra.run.dir={tmp_path / 'bad'}", *SHORT_RUN, "t_max=0")
    assert code == 2 and err.strip() == "liir: error: t_max=0 is not allowed: it must be a positive number"
    assert not (tmp_path / "bad" / "checkpoints").exists()


def test_a_bad_choice_in_a_grid_stops_it_before_any_job_starts(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    code, err = in_process_exit(
        capsys, "--multirun", f"hydra.sweep.dir={sweep}", *SHORT_RUN, "algo=liir", "algo.meta_grad=a,b"
    )
    assert code == 2
    assert err.strip() == "liir: error: algo.meta_grad='a' is not allowed; use one of exact, reference, frozen"
    assert not list(sweep.glob("[0-9]*"))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_missing_corrupt_or_foreign_checkpoint_is_refused_and_left_untouched(trained, tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found: '/nonexistent/last.ckpt'"):
        check_resume(compose_cfg("ckpt_path=/nonexistent/last.ckpt"))
    ckpt = trained["iac"] / "checkpoints" / "last.ckpt"
    before = digest(ckpt)
    with pytest.raises(CheckpointError, match="was trained with algo=iac, not algo=central_v"):
        check_resume(compose_cfg("algo=central_v", f"ckpt_path={ckpt}"))
    assert digest(ckpt) == before
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="is unreadable"):
        check_resume(compose_cfg(f"ckpt_path={corrupt}"))


def test_real_game_without_its_install_is_a_clear_error():
    cfg = compose_cfg("env=smac_3m", "env.backend=sc2")
    with pytest.raises(ConfigError, match="env.env_args: backend=sc2 needs") as info:
        make_env(cfg, 1, resolve_device("cpu"), seed=0)
    assert isinstance(unwrap(info.value.__cause__), Sc2SetupError)
    assert "pip install git+https://github.com/oxwhirl/smac.git" in str(info.value)


def test_a_failing_grid_job_does_not_stop_the_others_but_fails_the_grid(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    code, err = in_process_exit(
        capsys,
        "--multirun",
        f"hydra.sweep.dir={sweep}",
        *SHORT_RUN,
        "t_max=48",
        "algo=iac",
        "logger=csv",
        "algo.lr=0,0.0005",
    )
    assert code == 1
    assert "liir: error: algo.lr=0.0 is not allowed" in err
    summary = err[err.index("liir: error: 1 grid job(s) failed") :].splitlines()
    assert summary[1].strip().startswith("job 0 (") and summary[1].endswith(f"{sweep / '0' / 'error.txt'}")
    assert "algo.lr=0.0 is not allowed" in (sweep / "0" / "error.txt").read_text()
    assert (sweep / "1" / "metrics.csv").is_file() and (sweep / "1" / "checkpoints" / "last.ckpt").is_file()
    assert not (sweep / "1" / "error.txt").exists()
