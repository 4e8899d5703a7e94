"""Experiment loggers: CSV always, plus the one chosen by ``logger=`` (W&B by default, or TensorBoard).

W&B runs are grouped so that seeds of one configuration aggregate: the group is the env, the algorithm
and every command-line override except the seed and run-plumbing keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger
from omegaconf import DictConfig

# Overrides that do not change what is being measured, so they stay out of the W&B group.
NON_GROUPING_KEYS = ("seed", "ckpt_path", "logger", "device", "hydra")


def wandb_group(cfg: DictConfig, overrides: list[str]) -> str:
    """``<env>-<algo>`` plus the non-seed overrides, sorted, e.g. ``smac_3m-liir-algo.lr=0.001``."""
    kept = sorted(o for o in overrides if splits_groups(o))
    return "-".join([cfg.env.name, cfg.algo.name, *kept])


def splits_groups(override: str) -> bool:
    """Whether runs that differ in ``override`` measure different things: not the env/algo choice (already in the
    group name) nor a run-plumbing key, but any other key, ``algo.lr`` or ``env.env_args.…`` included."""
    key = override.lstrip("+~").split("=")[0]
    return key not in ("env", "algo") and key.split(".")[0] not in NON_GROUPING_KEYS


def wandb_run_name(cfg: DictConfig) -> str:
    return f"{cfg.algo.name}-{cfg.env.name}-seed{cfg.seed}"


def build_loggers(
    cfg: DictConfig, output_dir: Path, overrides: list[str], run_id: str, tags: list[str]
) -> list[Logger]:
    """The run's loggers; ``run_id`` names the W&B run so a resumed run continues it."""
    # flushed at every log call: liir logs at env-step multiples, which Lightning's every-100-steps rule never hits
    loggers: list[Logger] = [CSVLogger(save_dir=output_dir, name="", version="", flush_logs_every_n_steps=1)]
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
