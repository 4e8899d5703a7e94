"""Grids on Hydra's launchers: joblib (parallel jobs on this machine) and submitit (SLURM; its local executor here),
and the paper's Figure-3 grid as one experiment."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override

import liir.train
from liir import grid
from tests.configs import compose_cfg
from tests.runs import (
    SHORT_RUN,
    has_logged,
    live_processes,
    module_env,
    read_csv,
    run_module,
    wait_until,
    wandb_run_file,
)

TINY = [*SHORT_RUN, "t_max=48", "algo=iac", "logger=wandb"]


def job_dirs(sweep: Path) -> list[Path]:
    return sorted(path for path in sweep.iterdir() if (path / ".hydra").is_dir())


def test_a_grid_job_resumes_into_its_own_folder_with_its_sweep_dir_and_subdir(tmp_path):
    """The README's resume of a preempted grid job: with ``hydra.sweep.dir`` and ``hydra.sweep.subdir`` the resumed
    job writes into its old folder and its ``metrics.csv`` keeps the rows up to the checkpoint."""
    sweep = tmp_path / "sweep"
    grid_args = ["--multirun", f"hydra.sweep.dir={sweep}", *SHORT_RUN, "algo=iac"]  # checkpoints every 160 steps
    first = run_module("liir.train", tmp_path, *grid_args, "seed=3", "hydra.sweep.subdir=job_seed3")
    assert first.returncode == 0, first.stderr
    job = sweep / "job_seed3"
    before = read_csv(job / "metrics.csv")
    resumed = run_module(
        "liir.train", tmp_path, *grid_args, "seed=3", "hydra.sweep.subdir=job_seed3", "t_max=480",
        f"ckpt_path={job / 'checkpoints' / 't_env_160.ckpt'}",
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "liir: warning" not in resumed.stderr
    assert job_dirs(sweep) == [job]
    after = read_csv(job / "metrics.csv")
    assert [row for row in after if int(row["step"]) <= 160] == [row for row in before if int(row["step"]) <= 160]
    assert max(int(row["step"]) for row in after if row.get("test_return_mean")) == 480


def test_a_grid_job_resumed_into_a_new_sweep_folder_is_told_its_sweep_dir_and_subdir(tmp_path, monkeypatch, capsys):
    job = tmp_path / "sweep" / "3_smac_3m_qmix_seed2"
    (job / "checkpoints").mkdir(parents=True)
    monkeypatch.setattr(liir.train, "is_multirun", lambda: True)
    liir.train.warn_if_resuming_elsewhere(str(job / "checkpoints" / "last.ckpt"), tmp_path / "new" / "0_x", 500)
    assert capsys.readouterr().err.endswith(
        f"add hydra.sweep.dir={(tmp_path / 'sweep').resolve()} hydra.sweep.subdir=3_smac_3m_qmix_seed2\n"
    )


def test_joblib_runs_jobs_in_parallel_processes_and_summarises_the_failed_one(tmp_path):
    sweep = tmp_path / "sweep"
    done = run_module(
        "liir.train", tmp_path, "--multirun", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={sweep}", *TINY, "algo.lr=0,0.0005",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "liir: error: algo.lr=0.0 is not allowed" in done.stderr
    summary = done.stderr[done.stderr.index("liir: error: 1 grid job(s) failed") :].splitlines()
    assert summary[1].strip().startswith("job 0 (") and summary[1].endswith(str(sweep / "0" / "error.txt"))
    assert [row["step"] for row in read_csv(sweep / "1" / "metrics.csv") if row.get("test_return_mean")]
    assert (sweep / "1" / "checkpoints" / "last.ckpt").is_file() and wandb_run_file(sweep / "1").is_file()
    assert not (sweep / "0" / "metrics.csv").exists()


@pytest.mark.slow  # several processes, each importing torch and Lightning: tens of seconds
def test_submitit_local_runs_a_two_job_grid_with_separate_outputs(tmp_path):
    sweep = tmp_path / "sweep"
    done = run_module(
        "liir.train", tmp_path, "--multirun", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5",
        f"hydra.sweep.dir={sweep}", *TINY, "seed=1,2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    first, second = job_dirs(sweep)
    assert read_csv(first / "metrics.csv") != read_csv(second / "metrics.csv")  # different seeds
    assert wandb_run_file(first) != wandb_run_file(second)
    assert (first / "checkpoints" / "last.ckpt").is_file() and (second / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.slow  # several processes, each importing torch and Lightning: tens of seconds
def test_runs_launched_in_the_same_second_get_their_own_folders(tmp_path):
    """Two processes started together: the folder names carry microseconds, so neither overwrites the other."""
    args = [sys.executable, "-m", "liir.train", *TINY, "logger=csv", "callbacks.progress_bar=null"]
    procs = [subprocess.Popen(args, cwd=tmp_path, env=module_env(), stderr=subprocess.DEVNULL) for _ in range(2)]
    assert [proc.wait(timeout=300) for proc in procs] == [0, 0]
    (day,) = (tmp_path / "outputs").iterdir()
    assert len([run for run in day.iterdir() if (run / "metrics.csv").is_file()]) == 2


def sweep_values(cfg, key: str) -> list[str]:
    parsed: Override = OverridesParser.create().parse_override(f"{key}={cfg.hydra.sweeper.params[key]}")
    return list(parsed.sweep_string_iterator())


def test_the_figure3_experiment_is_the_papers_grid_under_pymarls_protocol():
    cfg = compose_cfg("experiment=liir_figure3", "env=smac_3m", "algo=coma", return_hydra_config=True)
    assert sweep_values(cfg, "env") == ["smac_3m", "smac_8m", "smac_2s3z", "smac_3s5z"]
    assert sweep_values(cfg, "algo") == ["liir", "coma", "qmix", "central_v", "iql", "iac"]
    assert sweep_values(cfg, "seed") == ["1", "2", "3", "4", "5"]
    assert (cfg.t_max, cfg.test_interval, cfg.test_nepisode) == (2050000, 10000, 32)
    assert cfg.hydra.mode.name == "MULTIRUN" and cfg.hydra.launcher._target_.endswith("JoblibLauncher")


@pytest.mark.parametrize("launcher", ["joblib", "submitit_slurm", "submitit_local"])
def test_each_launcher_composes_with_the_figure3_experiment(launcher):
    cfg = compose_cfg("experiment=liir_figure3", f"hydra/launcher={launcher}", return_hydra_config=True)
    assert launcher.split("_")[-1].lower() in cfg.hydra.launcher._target_.lower()


def launched_by(pid: int) -> list[int]:
    """The live processes started by the liir launcher ``pid`` (they carry its mark in their environment)."""
    mark = f"{grid.LAUNCHER}={socket.gethostname()}:{pid}".encode()
    return live_processes(lambda proc: mark in (proc / "environ").read_bytes().split(b"\0"))


@pytest.mark.slow  # several processes, each importing torch and Lightning: tens of seconds
def test_sigterm_to_a_joblib_grid_saves_every_running_job_and_leaves_no_worker(tmp_path):
    """Killing the launcher used to leave its workers training on as orphans that never saved."""
    sweep = tmp_path / "sweep"
    args = [*TINY, "t_max=10000000", "logger=csv", "callbacks.progress_bar=null", "seed=1,2"]
    launcher = subprocess.Popen(
        [sys.executable, "-m", "liir.train", "--multirun", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
         f"hydra.sweep.dir={sweep}", *args],
        cwd=tmp_path, env=module_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    metrics = [sweep / str(job) / "metrics.csv" for job in (0, 1)]
    deadline = time.monotonic() + 240
    wait_until(lambda: all(has_logged(path) for path in metrics), deadline)
    launcher.send_signal(signal.SIGTERM)
    launcher.wait(timeout=30)
    wait_until(lambda: not launched_by(launcher.pid), deadline)
    assert not launched_by(launcher.pid)
    for job in (0, 1):
        assert (sweep / str(job) / "checkpoints" / "last.ckpt").is_file()
        assert "SIGTERM at t_env=" in (sweep / str(job) / "train.log").read_text()
