"""Running the real entry points (`python -m liir.train`, `python -m liir.evaluate`) in subprocesses, and reading
what they wrote. The short trained runs that several test files read are made once (``conftest.trained``)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from unittest.mock import patch

import liir.train

SHORT_RUN = [
    "env=pursuit1d",
    "t_max=320",
    "batch_size_run=4",
    "test_interval=160",
    "test_nepisode=8",
    "log_interval=160",
    "save_model_interval=160",
]
TRAINED_ALGOS = ("iac", "central_v", "coma", "liir")
OUTPUT = "output.txt"  # what a shared grid printed, kept in its sweep directory


def module_env() -> dict[str, str]:
    """The environment of an entry point run as a subprocess: W&B offline and quiet, Hydra's own error reports."""
    return {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0"}


def run_module(module: str, cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=module_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def train(run_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    return run_module("liir.train", run_dir.parent, f"hydra.run.dir={run_dir}", *SHORT_RUN, *overrides)


def main_in_process(module: ModuleType, *args: str) -> None:
    """``python -m <module> <args>`` run in this process (as Hydra runs a grid's jobs one after another), which
    saves the seconds a subprocess spends importing torch and Lightning. A clear error is ``SystemExit(2)``."""
    argv = [module.__name__, *args]
    with patch.object(sys, "argv", argv), patch.dict(os.environ, {"WANDB_MODE": "offline", "WANDB_SILENT": "true"}):
        module.main()


def train_in_process(run_dir: Path, *overrides: str) -> None:
    """``train`` in this process: for tests of what a run writes, not of how its process exits."""
    main_in_process(liir.train, f"hydra.run.dir={run_dir}", *SHORT_RUN, *overrides)


def train_grid(sweep_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    """A ``--multirun`` whose jobs write to ``<sweep_dir>/<algo>``."""
    return run_module(
        "liir.train",
        sweep_dir.parent,
        "--multirun",
        f"hydra.sweep.dir={sweep_dir}",
        "hydra.sweep.subdir=${algo.name}",
        *SHORT_RUN,
        *overrides,
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def has_logged(metrics: Path) -> bool:
    """Whether a run's ``metrics.csv`` holds a row after its first: the run is training."""
    return metrics.is_file() and len(read_csv(metrics)) > 1


def wait_until(condition: Callable[[], bool], deadline: float) -> None:
    """Poll ``condition`` until it holds or ``time.monotonic()`` passes ``deadline``; the caller's asserts then say
    what did not happen."""
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)


def live_processes(matches: Callable[[Path], bool]) -> list[int]:
    """The pids of the live processes whose ``/proc/<pid>`` folder ``matches`` (Linux); processes that end while
    being read, or are not ours to read, are skipped."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if matches(proc):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def wandb_run_file(run_dir: Path) -> Path:
    (path,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    return path
