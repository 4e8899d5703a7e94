"""Experiment loggers: CSV always, plus the one chosen by ``logger=`` (W&B by default, or TensorBoard).

W&B runs are grouped so that seeds of one configuration aggregate: the group is the env, the algorithm
and every command-line override except the seed and run-plumbing keys.
"""

from __future__ import annotations

import contextlib
import csv
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import wandb
from hydra.utils import instantiate
from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from omegaconf import DictConfig

from liir.grouping import group_overrides

log = logging.getLogger("liir")


def wandb_group(cfg: DictConfig, overrides: list[str]) -> str:
    """``<env>-<algo>`` plus the overrides that split groups (``liir.grouping``), e.g. ``smac_3m-liir-algo.lr=1``."""
    return "-".join([cfg.env.name, cfg.algo.name, *group_overrides(overrides)])


class ResumingCSVLogger(CSVLogger):
    """Lightning's CSV logger, except that a run resumed at ``resume_t_env`` keeps the rows of ``metrics.csv`` up to
    that step and appends to them (Lightning's deletes the file). Rows after it were logged by the interrupted run
    after its checkpoint; the resumed run logs that interval again, so they are dropped instead of duplicated."""

    def __init__(self, save_dir: Path, resume_t_env: int | None) -> None:
        # flushed at every log call: liir logs at env-step multiples, which Lightning's every-100-steps rule never hits
        super().__init__(save_dir=save_dir, name="", version="", flush_logs_every_n_steps=1)
        self.resume_t_env = resume_t_env

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            path = Path(self.log_dir) / ExperimentWriter.NAME_METRICS_FILE
            kept, fields = read_rows_until(path, self.resume_t_env) if self.resume_t_env is not None else ([], [])
            writer = super().experiment  # deletes the file
            if fields:
                writer.metrics_keys = sorted(fields)
                with open(path, "w", newline="") as f:
                    csv_writer = csv.DictWriter(f, fieldnames=writer.metrics_keys)
                    csv_writer.writeheader()
                    csv_writer.writerows(kept)
        return self._experiment


def read_rows_until(path: Path, t_env: int) -> tuple[list[dict[str, str]], list[str]]:
    """The rows of a metrics CSV whose step is at most ``t_env``, and its columns (none when there is no file)."""
    if not path.is_file():
        return [], []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = [row for row in reader if int(float(row["step"])) <= t_env]
        return rows, list(reader.fieldnames or [])


class ServiceTolerantWandbLogger(WandbLogger):
    """Lightning's W&B logger, except that losing W&B's service process (killed, out of memory, crashed) does not
    end the run: Lightning's would raise at the next log call and stop training. The run trains on, ``metrics.csv``
    and the checkpoints stay complete, and the W&B run files end at the step where the service was lost."""

    lost = False

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if self.lost:
            return
        try:
            super().log_metrics(metrics, step)
        except ConnectionError as exc:
            self.lost = True
            warn_wandb_lost(exc, f"at step {step}")


def warn_wandb_lost(exc: ConnectionError, when: str) -> None:
    """One train.log warning for a lost W&B service, so that a run's W&B files ending early is explained."""
    log.warning(
        "W&B's service process was lost %s (%s: %s); metrics.csv and the checkpoints are complete, only the W&B "
        "run files stop there",
        when,
        type(exc).__name__,
        exc,
    )


def finish_wandb(loggers: list[Logger]) -> None:
    """Close the W&B run, if one is open. A lost W&B service must not replace the run's own outcome (finished,
    stopped by SIGTERM, failed) with a connection error, nor print that error again from wandb's exit hook."""
    if wandb.run is None:
        return
    try:
        wandb.finish()
    except ConnectionError as exc:
        if not any(isinstance(logger, ServiceTolerantWandbLogger) and logger.lost for logger in loggers):
            warn_wandb_lost(exc, "before the run's end")
        with contextlib.suppress(ConnectionError):
            wandb.teardown()  # unregisters wandb's exit hook before its own attempt fails


def wandb_run_name(cfg: DictConfig) -> str:
    return f"{cfg.algo.name}-{cfg.env.name}-seed{cfg.seed}"


def build_loggers(
    cfg: DictConfig, output_dir: Path, overrides: list[str], run_id: str, tags: list[str], resume_t_env: int | None
) -> list[Logger]:
    """The run's loggers; ``run_id`` names the W&B run so a resumed run continues it, and a run resumed at
    ``resume_t_env`` appends to its ``metrics.csv``."""
    loggers: list[Logger] = [ResumingCSVLogger(output_dir, resume_t_env)]
    if "_target_" not in cfg.logger:
        return loggers
    extra: dict[str, Any] = {"save_dir": str(output_dir)}
    if cfg.logger._target_.endswith("WandbLogger"):
        extra |= {
            "id": run_id,
            "resume": "allow",
            "group": wandb_group(cfg, overrides),
            "name": wandb_run_name(cfg),
            "tags": [*cfg.logger.get("tags", []), *tags],
        }
    logger = instantiate(cfg.logger, **extra)
    if isinstance(logger, WandbLogger):
        # Lightning always passes ``anonymous``, which recent wandb warns about at any value (wandb PR #10909)
        logger._wandb_init.pop("anonymous", None)
        logger.experiment.define_metric("env_steps")
        logger.experiment.define_metric("*", step_metric="env_steps")
    loggers.append(logger)
    return loggers
