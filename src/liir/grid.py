"""Grid plumbing that holds whichever Hydra launcher runs the jobs (in this process, in joblib's worker processes,
through submitit): failed jobs recorded in their folders and summarised at the end, and jobs that stop cleanly when
the process that launched them dies."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, NoReturn

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

ERROR_FILE = "error.txt"  # a failed grid job's traceback, in its output directory
FAILED_JOBS: list[str] = []  # the last grid's failed jobs, one summary line each
LAUNCHER = "LIIR_LAUNCHER"  # environment variable: <host>:<pid> of the process that launched the grid
WATCH_INTERVAL_S = 1.0
WATCHDOG = "launcher-watchdog"  # the watching thread's name


def record_failed_job(exc: BaseException) -> None:
    """Write the traceback into the job's output directory, so failed grid cells are findable."""
    path = Path(HydraConfig.get().runtime.output_dir) / ERROR_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(traceback.format_exception(exc)))
    logging.getLogger("liir").error("job failed; traceback in %s", path)


def failed_jobs(sweep_dir: Path) -> list[str]:
    """``job <num> (<overrides>): <error file>`` for each job of the grid in ``sweep_dir`` that failed, by number."""
    found = []
    for path in sweep_dir.rglob(ERROR_FILE):
        hydra_cfg = OmegaConf.load(path.parent / ".hydra" / "hydra.yaml").hydra
        num, overrides = hydra_cfg.job.num, " ".join(hydra_cfg.overrides.task)
        found.append((num, f"job {num} ({overrides}): {path}"))
    return [line for _, line in sorted(found)]


class GridSummary(Callback):
    """Collects a finished grid's failed jobs from their error files (``hydra.callbacks`` in conf/config.yaml), so
    the summary is the same whichever launcher ran the jobs, in this process or in others."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        FAILED_JOBS[:] = failed_jobs(Path(config.hydra.sweep.dir))


def mark_launcher() -> None:
    """Called by the entry point before Hydra starts: job processes started from here inherit this host and pid."""
    os.environ[LAUNCHER] = f"{socket.gethostname()}:{os.getpid()}"


def launcher() -> tuple[str, int]:
    """The host and pid of the grid launcher that started this process (pid 0: none did)."""
    host, _, pid = os.environ.get(LAUNCHER, "").rpartition(":")
    return host, int(pid or 0)


def stop_with_launcher() -> None:
    """In a job running in a child process of the grid's launcher (joblib's workers, submitit's local jobs), stop the
    job the way SIGTERM does (a checkpoint, then exit) once that process is gone, by SIGTERM, SIGKILL or a crash.
    Without this a killed joblib grid leaves its workers training on as orphans that never save."""
    host, parent = launcher()
    if parent in (0, os.getpid()) or host != socket.gethostname():
        return  # the job runs in the launching process itself, or elsewhere (e.g. a SLURM node)
    if os.getppid() != parent and is_alive(parent):
        return  # started by some other process of this machine, not by the launcher
    if any(thread.name == WATCHDOG for thread in threading.enumerate()):
        return  # a worker process that already ran a job of this grid

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_INTERVAL_S)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name=WATCHDOG, daemon=True).start()


def exit_job(status: int) -> NoReturn:
    """End a job stopped by SIGTERM with ``status``. A job in a launcher's child process ends that process, logs
    flushed: a joblib worker would catch the ``SystemExit`` and idle on, an orphan once its launcher is gone."""
    if launcher()[1] in (0, os.getpid()):
        sys.exit(status)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
