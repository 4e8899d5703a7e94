"""Pool workers die with their trainer: a trainer killed by SIGKILL while a worker hangs leaves no process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sc2_faults import all_gone, recorded_pids

TRAINER = """
import sys, torch
from liir.envs.smac import make_smac_env
options = dict(worker_env="sc2_faults:FaultyEnv", step_timeout=600.0, launch_timeout=120.0, max_failures=3)
env = make_smac_env("sc2", 1, "cpu", 7, "3m", sc2=options, fault_dir=sys.argv[1])
env.reset()
open(sys.argv[1] + "/hang", "w").close()
print("stepping", flush=True)
env.step(torch.ones(1, 3, dtype=torch.long))  # hangs in the worker until the trainer is killed
"""


def test_a_trainer_killed_during_a_hung_step_takes_its_workers_and_their_games_along(tmp_path):
    path = os.pathsep.join([str(Path(__file__).parent), *sys.path])
    trainer = subprocess.Popen(
        [sys.executable, "-c", TRAINER, str(tmp_path)], env={**os.environ, "PYTHONPATH": path}, stdout=subprocess.PIPE
    )
    try:
        assert trainer.stdout.readline() == b"stepping\n"
        deadline = time.monotonic() + 30
        while (tmp_path / "hang").exists():  # until the worker claims the fault and hangs
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        os.kill(trainer.pid, signal.SIGKILL)
        trainer.wait()
    assert all_gone(recorded_pids(tmp_path), timeout=5.0)  # the worker and the "game" it started
