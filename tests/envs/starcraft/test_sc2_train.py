"""`python -m liir.train env.backend=sc2` end to end, the workers running the simulator's class with a crash."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from sc2_faults import all_gone, recorded_pids
from tests.runs import main_in_process

import liir.train

HERE = Path(__file__).resolve().parent


def test_training_survives_a_crashed_worker_logs_the_restart_and_leaves_no_process(tmp_path, monkeypatch):
    fault_dir = tmp_path / "faults"
    fault_dir.mkdir()
    (fault_dir / "crash").touch()  # the first env step anywhere: the training env's first rollout
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
    run_dir = tmp_path / "run"
    main_in_process(  # the trainer runs here, its workers in their own processes
        liir.train,
        f"hydra.run.dir={run_dir}",
        "env=smac_3m",
        "env.backend=sc2",
        "env.env_args.sc2.worker_env=sc2_faults:FaultyEnv",
        f"+env.env_args.fault_dir={fault_dir}",
        "t_max=100",
        "batch_size_run=2",
        "test_interval=100",
        "test_nepisode=2",
        "log_interval=1",
        "save_model=false",
        "logger=csv",
    )
    log = (run_dir / "train.log").read_text()
    assert "sc2 worker" in log and "restarting it" in log
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    restarts = [float(r["sc2_restarts"]) for r in rows if r.get("sc2_restarts")]
    assert restarts and restarts[0] == 1.0 and restarts[-1] == 1.0  # counted once, training went on
    assert float(rows[-1]["env_steps"]) >= 100 and any(r.get("test_return_mean") for r in rows)
    assert len(recorded_pids(fault_dir)) >= 2 * 5  # train + test workers, the replacement, leaked children
    assert all_gone(recorded_pids(fault_dir))
