"""Issue 13, "nothing lost, ever": NaN never reaches weights or checkpoints, resumed runs keep their history, and
a bad input or a signal ends a run with its work saved and one clear line."""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest.mock import patch

import pytest
import torch
from hydra.errors import ConfigCompositionException
from lightning.pytorch.callbacks import Callback

import liir.evaluate
import liir.train
from liir.algos.base import NonFiniteLossError
from liir.checkpointing import WEIGHT_KEYS, AtomicCheckpointIO, non_finite, read_checkpoint
from liir.cli import describe_composition_error
from liir.config import ConfigError, validate
from liir.data.replay import EpisodeReplayBuffer
from liir.data.runner import MAX_VOID_ROLLOUTS, EpisodeRunner, VoidEpisodesError
from liir.envs.base import EnvInfo
from liir.intrinsic_analysis import auc_good_vs_bad
from tests.configs import compose_cfg
from tests.runs import (
    SHORT_RUN,
    has_logged,
    live_processes,
    main_in_process,
    module_env,
    read_csv,
    train_in_process,
    wait_until,
)


class InfiniteGradientsFrom(Callback):
    """Makes every critic gradient infinite (the loss stays finite) once ``t_env`` reaches ``t_env``."""

    def __init__(self, t_env: int) -> None:
        self.t_env = t_env

    def on_train_start(self, trainer, pl_module) -> None:
        first = next(pl_module.critic.parameters())
        first.register_hook(lambda grad: grad * float("inf") if pl_module.t_env >= self.t_env else grad)


def error_line(err: str) -> str:
    """The ``liir: error:`` line of a run's stderr (the progress bar may share its line)."""
    (line,) = [line for line in err.splitlines() if "liir: error: " in line]
    return line[line.index("liir: error: ") :]


def test_an_infinite_gradient_stops_the_run_before_the_update_naming_the_last_finite_checkpoint(tmp_path, capsys):
    run_dir = tmp_path / "inf"
    poison = f"+callbacks.poison={{_target_:{__name__}.InfiniteGradientsFrom,t_env:160}}"
    with pytest.raises(SystemExit) as exit_info:
        # batch mode: the poison is an autograd hook, which the hand-written seq step never runs (its own
        # infinite-gradient check: tests/algos/test_mlp_step.py)
        train_in_process(
            run_dir, "algo=liir", "algo.critic_train_mode=batch", "logger=csv", "save_model_interval=80", poison
        )
    assert exit_info.value.code == 2
    error = error_line(capsys.readouterr().err)
    assert re.search(r"critic gradient norm is (nan|inf) at t_env=1[6-9]\d", error), error
    saved = sorted((run_dir / "checkpoints").glob("t_env_*.ckpt"))
    latest = max(saved, key=lambda path: int(path.stem.removeprefix("t_env_")))
    assert error.endswith(f"the last finite checkpoint is '{latest}'")
    for path in saved:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        assert non_finite({key: checkpoint[key] for key in WEIGHT_KEYS}) == [], path


def test_no_checkpoint_with_non_finite_weights_is_written_or_evaluated(tmp_path, trained, capsys):
    checkpoint = torch.load(trained["liir"] / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    name = next(key for key in checkpoint["state_dict"] if key.endswith("weight"))
    checkpoint["state_dict"][name] = torch.full_like(checkpoint["state_dict"][name], float("nan"))
    with pytest.raises(NonFiniteLossError, match=f"non-finite values in state_dict.{name}"):
        AtomicCheckpointIO().save_checkpoint(checkpoint, tmp_path / "nan.ckpt")
    assert not list(tmp_path.iterdir())
    torch.save(checkpoint, tmp_path / "nan.ckpt")
    with pytest.raises(SystemExit) as exit_info:
        main_in_process(liir.evaluate, f"ckpt_path={tmp_path / 'nan.ckpt'}", f"eval_path={tmp_path / 'eval.json'}")
    assert exit_info.value.code == 2
    assert f"holds NaN or inf weights ({name}" in capsys.readouterr().err
    assert not (tmp_path / "eval.json").exists()


def test_no_auc_is_computed_from_nan():
    with pytest.raises(NonFiniteLossError, match="no AUC"):
        auc_good_vs_bad(torch.tensor([float("nan"), 1.0]), torch.tensor([0.0]))


def logged_steps(rows: list[dict[str, str]], column: str) -> list[int]:
    return [int(row["step"]) for row in rows if row[column]]


def test_a_resumed_run_appends_to_metrics_csv_keeping_history_without_duplicates(tmp_path):
    """As after a kill at t_env 480 whose last checkpoint is t_env_320: the rows after 320 are logged again."""
    run_dir = tmp_path / "run"
    train_in_process(run_dir, "algo=iac", "logger=csv", "t_max=480")
    before = read_csv(run_dir / "metrics.csv")
    assert max(logged_steps(before, "return_mean")) == 480
    train_in_process(
        run_dir, "algo=iac", "logger=csv", "t_max=640", f"ckpt_path={run_dir / 'checkpoints' / 't_env_320.ckpt'}"
    )
    after = read_csv(run_dir / "metrics.csv")
    assert [row for row in after if int(row["step"]) <= 320] == [row for row in before if int(row["step"]) <= 320]
    for column in ("return_mean", "test_return_mean"):
        steps = logged_steps(after, column)
        assert steps == sorted(set(steps)) and steps[0] <= 40 and steps[-1] == 640, (column, steps)


def test_a_fresh_run_into_a_folder_with_checkpoints_is_refused_unless_overwrite(tmp_path, capsys):
    run_dir, checkpoints = tmp_path / "run", tmp_path / "run" / "checkpoints"
    train_in_process(run_dir, "algo=iac", "logger=csv", "t_max=200")
    before = {path.name: path.read_bytes() for path in checkpoints.iterdir()}
    with pytest.raises(SystemExit) as exit_info:
        train_in_process(run_dir, "algo=iac", "logger=csv", "seed=2")
    assert exit_info.value.code == 2
    assert f"'{checkpoints}' already holds checkpoints of another run" in error_line(capsys.readouterr().err)
    assert {path.name: path.read_bytes() for path in checkpoints.iterdir()} == before

    (checkpoints / ".t_env_240.ckpt.tmp").write_bytes(b"half a checkpo")  # a kill during a save
    train_in_process(run_dir, "algo=iac", "logger=csv", "seed=2", "t_max=120", "overwrite=true")
    assert sorted(path.name for path in checkpoints.iterdir()) == ["last.ckpt", "t_env_120.ckpt"]
    assert read_checkpoint(checkpoints / "last.ckpt")["liir_run"]["config"]["seed"] == 2


def test_stale_temporary_checkpoints_are_removed_at_start(tmp_path):
    run_dir, checkpoints = tmp_path / "run", tmp_path / "run" / "checkpoints"
    train_in_process(run_dir, "algo=iac", "logger=csv", "t_max=40")
    (checkpoints / ".t_env_60.ckpt.tmp").write_bytes(b"half a checkpo")
    train_in_process(run_dir, "algo=iac", "logger=csv", "t_max=80", f"ckpt_path={checkpoints / 'last.ckpt'}")
    assert sorted(path.name for path in checkpoints.iterdir()) == ["last.ckpt", "t_env_40.ckpt", "t_env_80.ckpt"]


class SigtermFrom(Callback):
    """Sends this process SIGTERM (as a cluster's preemption does) after every update from ``t_env`` on."""

    def __init__(self, t_env: int) -> None:
        self.t_env = t_env

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.t_env >= self.t_env:
            os.kill(os.getpid(), signal.SIGTERM)


SIGTERM_AT_120 = f"+callbacks.sigterm={{_target_:{__name__}.SigtermFrom,t_env:120}}"


def test_sigterm_saves_says_so_and_exits_non_zero(tmp_path, capsys):
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        train_in_process(run_dir, "algo=iac", "logger=csv", "t_max=4000", SIGTERM_AT_120)
    assert exit_info.value.code == 128 + signal.SIGTERM
    saved = run_dir / "checkpoints" / "t_env_120.ckpt"
    assert error_line(capsys.readouterr().err) == f"liir: error: stopped by SIGTERM at t_env=120; resume from '{saved}'"
    assert read_checkpoint(saved)["liir_module"]["t_env"] == 120


def test_sigterm_stops_a_grid(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    with pytest.raises(SystemExit) as exit_info:
        main_in_process(
            liir.train,
            "--multirun",
            f"hydra.sweep.dir={sweep}",
            *SHORT_RUN,
            "algo=iac",
            "logger=csv",
            "t_max=4000",
            "seed=1,2",
            SIGTERM_AT_120,
        )
    assert exit_info.value.code == 128 + signal.SIGTERM
    assert error_line(capsys.readouterr().err).endswith("the grid stops here, its later jobs were not run")
    assert (sweep / "0" / "checkpoints" / "t_env_120.ckpt").is_file() and not (sweep / "1").exists()


def wandb_service_of(pid: int) -> int:
    """The W&B service process (``wandb-core``) that process ``pid`` started."""

    def is_service(proc: Path) -> bool:
        parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        return parent == pid and b"wandb-core" in (proc / "cmdline").read_bytes()

    services = live_processes(is_service)
    assert services, f"process {pid} has no W&B service"
    return services[0]


@pytest.mark.parametrize("then_sigterm", [False, True])
def test_a_run_whose_wandb_service_dies_trains_on(tmp_path, then_sigterm):
    """Losing W&B's service process (the OOM killer, a crash) used to end the run at its next log call with a
    ConnectionResetError, and a SIGTERM'd run then reported that error instead of where to resume."""
    run_dir, t_max = tmp_path / "run", 100_000 if then_sigterm else 3200
    run = subprocess.Popen(
        [sys.executable, "-m", "liir.train", *SHORT_RUN, "algo=iac", "logger=wandb", f"t_max={t_max}",
         "callbacks.progress_bar=null", f"hydra.run.dir={run_dir}"],
        cwd=tmp_path, env=module_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    metrics, train_log, deadline = run_dir / "metrics.csv", run_dir / "train.log", time.monotonic() + 120
    wait_until(lambda: has_logged(metrics), deadline)
    os.kill(wandb_service_of(run.pid), signal.SIGKILL)
    if then_sigterm:
        wait_until(lambda: "W&B's service process was lost" in train_log.read_text(), deadline)
        run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=240)
    assert "Traceback" not in err, err
    if then_sigterm:
        assert run.returncode == 128 + signal.SIGTERM
        assert error_line(err).startswith("liir: error: stopped by SIGTERM at t_env=")
    else:
        assert run.returncode == 0
        assert logged_steps(read_csv(metrics), "test_return_mean")[-1] == t_max
    assert train_log.read_text().count("W&B's service process was lost at step") == 1


def test_resuming_at_or_past_t_max_stops_at_once(tmp_path, capsys):
    run_dir = tmp_path / "run"
    train_in_process(run_dir, "algo=iac", "logger=csv", "t_max=120")
    before = read_csv(run_dir / "metrics.csv")
    with pytest.raises(SystemExit) as exit_info:
        train_in_process(
            run_dir, "algo=iac", "logger=csv", "t_max=80", f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}"
        )
    assert exit_info.value.code == 2
    assert "is at t_env=120, already t_max=80: nothing to train" in error_line(capsys.readouterr().err)
    assert read_csv(run_dir / "metrics.csv") == before
    assert sorted(path.name for path in (run_dir / "checkpoints").iterdir()) == ["last.ckpt", "t_env_120.ckpt"]


def test_a_resumed_run_tests_at_the_same_steps_on_the_same_episodes(tmp_path):
    """A run to 320 resumed to 640 against one run to 640: every scheduled test after 320 is identical."""
    whole, split = tmp_path / "whole", tmp_path / "split"
    train_in_process(whole, "algo=iac", "logger=csv", "t_max=640")
    train_in_process(split, "algo=iac", "logger=csv")
    train_in_process(split, "algo=iac", "logger=csv", "t_max=640", f"ckpt_path={split / 'checkpoints' / 'last.ckpt'}")

    def tests_after_320(run_dir):
        rows = read_csv(run_dir / "metrics.csv")
        return [
            {k: v for k, v in row.items() if k.startswith("test_")}
            for row in rows
            if row["test_return_mean"] and int(row["step"]) > 320
        ]

    assert [int(row["step"]) for row in read_csv(split / "metrics.csv") if row["test_return_mean"]] == [
        40,
        200,
        320,
        360,
        520,
        640,
    ]
    assert tests_after_320(split) == tests_after_320(whole)
    train_steps = [logged_steps(read_csv(run_dir / "metrics.csv"), "return_mean") for run_dir in (whole, split)]
    assert [step for step in train_steps[1] if step != 320] == train_steps[0]


@pytest.mark.parametrize(
    "args, message",
    [
        (["ckpt_path={ckpt}", "device=gpu"], "device='gpu' is not allowed; use one of cpu, cuda, auto"),
        (["ckpt_path={ckpt}", "test_nepisode=abc"], "test_nepisode='abc' is not allowed"),
        (["ckpt_path={ckpt}", "test_nepisode=0"], "test_nepisode=0 is not allowed: it must be a positive number"),
        (["ckpt_path={ckpt}", "eval_path={tmp}"], "eval_path='{tmp}' is a directory; give a file"),
        (["ckpt_path={tmp}/missing/last.ckpt"], "checkpoint not found: '{tmp}/missing/last.ckpt'"),
        ([], "ckpt_path is missing"),
    ],
)
def test_evaluate_bad_inputs_are_one_error_line_before_any_episode(trained, tmp_path, capsys, args, message):
    ckpt = trained["iac"] / "checkpoints" / "last.ckpt"
    with pytest.raises(SystemExit) as exit_info:
        main_in_process(liir.evaluate, *[arg.format(tmp=tmp_path, ckpt=ckpt) for arg in args])
    assert exit_info.value.code == 2
    assert message.format(tmp=tmp_path) in error_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == [] and not (ckpt.parent / "eval.json").exists()


class FirstActions:
    """A policy that always takes action 0."""

    def start_episodes(self, batch_size: int) -> None:
        pass

    def act(self, obs, avail_actions, test_mode):
        return torch.zeros(avail_actions.shape[:2], dtype=torch.long)


def test_an_env_that_voids_every_episode_is_a_clear_error_not_endless_recursion(pursuit_env):
    env = pursuit_env(batch_size=2)
    step = env.step
    env.step = lambda actions: dataclasses.replace(step(actions), aborted=torch.ones(2, dtype=torch.bool))
    with pytest.raises(VoidEpisodesError, match=f"of {MAX_VOID_ROLLOUTS} batches in a row was void: the 'native'"):
        EpisodeRunner(env).run(FirstActions(), test_mode=False)


def no_space_left(obj, path, *args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["env=smac_3m", "env.backend=sc2"], "env.env_args: backend=sc2 needs the oxwhirl SMAC package"),
        (["env=smac_3m", "env.env_args.map_name=nomap"], "env.env_args: unknown SMAC map 'nomap'"),
        (["env=smac_3m", "env.backend=foo"], "env.backend='foo' is not allowed; use one of auto, sim, sc2"),
        (["algo=nope"], "algo='nope' is not allowed; use one of central_v"),
        (["algo.lrr=1"], "algo.lrr is not a config key"),
        (["t_maxx=5"], "t_maxx is not a config key"),
        (["algo=iac", "algo.rnn_hidden_dim=32", "ckpt_path={iac}"], "holds other networks than this config builds"),
        (["algo=iac", "batch_size_run=2", "ckpt_path={iac}"], "trained with batch_size_run=4, not batch_size_run=2"),
        (["hydra.run.dir={tmp}/file/run"], "cannot write '{tmp}/file/run"),
    ],
)
def test_bad_inputs_are_one_error_line_and_exit_2(trained, tmp_path, capsys, overrides, message):
    (tmp_path / "file").write_text("a file, not a folder")
    iac = trained["iac"] / "checkpoints" / "last.ckpt"
    args = [arg.format(tmp=tmp_path, iac=iac) for arg in overrides]
    with pytest.raises(SystemExit) as exit_info:
        train_in_process(tmp_path / "run", "logger=csv", "t_max=1000", *args)
    assert exit_info.value.code == 2
    assert message.format(tmp=tmp_path) in error_line(capsys.readouterr().err)


def test_a_full_disk_is_one_error_line_naming_the_path(tmp_path, capsys):
    with patch("torch.save", no_space_left), pytest.raises(SystemExit) as exit_info:
        train_in_process(tmp_path / "run", "algo=iac", "logger=csv", "t_max=200")
    assert exit_info.value.code == 2
    error = error_line(capsys.readouterr().err)
    assert (
        error == f"liir: error: cannot write '{tmp_path}/run/checkpoints/.t_env_160.ckpt.tmp': No space left on device"
    )


@pytest.mark.parametrize(
    "override",
    [
        *[
            f"{key}={value}"
            for key in ("t_max", "test_nepisode", "batch_size_run", "seed")
            for value in ("nan", 1.5, "x")
        ],
        *[f"{key}_interval=nan" for key in ("test", "log", "save_model", "algo.target_update")],
        *[f"algo.{key}={value}" for key in ("lr", "critic_lr", "eta_lr") for value in ("nan", "inf", "x")],
        *[f"algo.{key}={value}" for key in ("gamma", "td_lambda") for value in ("nan", "x", -0.1, 1.5)],
        "algo.intrinsic_lambda=nan",
        "algo.intrinsic_lambda=x",
    ],
)
def test_values_outside_their_type_or_range_are_refused_naming_the_key(override):
    key = override.split("=")[0]
    try:
        validate(compose_cfg("algo=liir", override))
    except ConfigCompositionException as exc:  # the schema's type: reported by cli.run as one line
        assert describe_composition_error(exc).startswith(f"{key}=")
    except ConfigError as exc:
        assert str(exc).startswith(f"{key}=") and "is not allowed" in str(exc)
    else:
        pytest.fail(f"{override} was accepted")


SMAC_27M_VS_30M = EnvInfo(
    n_agents=27, n_actions=36, obs_shape=285, state_shape=1170, episode_limit=180, batch_size=1, device="cpu"
)


def test_the_replay_buffer_lives_on_the_cpu_and_takes_memory_only_as_it_fills():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    buffer = EpisodeReplayBuffer(SMAC_27M_VS_30M, capacity=100)  # 0.6 GiB when full
    assert buffer.nbytes == pytest.approx(0.62 * 2**30, rel=0.01)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before < 64 * 2**20
    assert buffer.storage.device == torch.device("cpu")


def test_a_replay_buffer_larger_than_the_ram_is_one_error_line_before_training(tmp_path, capsys):
    with patch("liir.data.replay.available_memory", lambda: 2**20), pytest.raises(SystemExit) as exit_info:
        train_in_process(tmp_path / "run", "algo=qmix", "logger=csv")
    assert exit_info.value.code == 2
    error = error_line(capsys.readouterr().err)
    assert "algo.datamodule: a replay buffer of 5000 episodes needs" in error
    assert "more than the 0.0 GiB available: lower buffer_size to at most" in error
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_resume_into_another_folder_says_how_to_continue_in_the_runs_own(tmp_path, capsys):
    run_dir = tmp_path / "run"
    train_in_process(run_dir, "algo=iac", "logger=csv", "t_max=320")
    capsys.readouterr()
    checkpoint = run_dir / "checkpoints" / "t_env_160.ckpt"
    train_in_process(tmp_path / "elsewhere", "algo=iac", "logger=csv", "t_max=480", f"ckpt_path={checkpoint}")
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("liir: warning:")]
    assert warnings == [
        f"liir: warning: resuming '{checkpoint}' into the new folder '{tmp_path / 'elsewhere'}', whose metrics.csv "
        f"starts after t_env=160; to continue in the run's own folder, add hydra.run.dir={run_dir.resolve()}"
    ]
    train_in_process(run_dir, "algo=iac", "logger=csv", "t_max=480", f"ckpt_path={checkpoint}")
    assert "liir: warning" not in capsys.readouterr().err
