"""Building the run's parts from a composed config (shared by ``train`` and ``evaluate``)."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback, ProgressBar
from omegaconf import DictConfig

from liir import cli
from liir.algos.base import MARLModule
from liir.config import ConfigError, plain
from liir.data.datamodule import OnPolicyDataModule
from liir.data.runner import Policy
from liir.envs.base import BatchedEnv

TEST_SEED_OFFSET = 2**32  # test environments draw a stream disjoint from every training seed


def test_seed(seed: int) -> int:
    return seed + TEST_SEED_OFFSET


def set_torch_threads(threads: int | None) -> None:
    """CPU threads for torch ops (``None``: torch's default). One is fastest for liir's small batched ops: intra-op
    threading costs more than it gains, and on a shared machine it oversubscribes the cores."""
    if threads is not None:
        torch.set_num_threads(threads)


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when available, else the CPU; ``cuda`` without a CUDA device is a ``ConfigError``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' was requested but no CUDA device is available; use cpu or auto")
    return torch.device(name)


def make_env(cfg: DictConfig, batch_size: int, device: torch.device, seed: int) -> BatchedEnv:
    """The configured env; a refused argument (an unknown map, the real game not installed) is a ``ConfigError``."""
    return instantiate_part("env.env_args", plain(cfg.env.env_args), batch_size=batch_size, device=device, seed=seed)


def make_module(cfg: DictConfig, env: BatchedEnv) -> MARLModule:
    algo_args = plain(cfg.algo)
    algo_args.pop("name")
    algo_args.pop("datamodule", None)
    return instantiate(algo_args, env_info=env.info)


def make_datamodule(cfg: DictConfig, env: BatchedEnv, policy: Policy) -> pl.LightningDataModule:
    """The source of rollouts played with ``policy``: ``algo.datamodule`` when given (e.g. a replay buffer),
    else on-policy."""
    if cfg.algo.get("datamodule") is None:
        return OnPolicyDataModule(env, policy)
    return instantiate_part("algo.datamodule", plain(cfg.algo.datamodule), env=env, policy=policy)


def make_trainer(cfg: DictConfig, device: torch.device, callbacks: list[Callback], **runtime: Any) -> pl.Trainer:
    """Lightning's Trainer from ``cfg.trainer``, on ``device``, with the run-time objects (loggers, plugins, ...).

    Lightning's own progress bar is off unless ``callbacks`` holds one (liir's counts env steps).
    """
    progress_bar = any(isinstance(callback, ProgressBar) for callback in callbacks)
    return instantiate_part(
        "trainer",
        cfg.trainer,
        accelerator="gpu" if device.type == "cuda" else "cpu",
        callbacks=callbacks,
        enable_progress_bar=progress_bar,
        **runtime,
    )


def instantiate_part(key: str, spec: DictConfig, **runtime: Any) -> Any:
    """The object configured at ``key``, built with its run-time arguments (passed as they are, not merged into the
    config); a constructor's refusal of a configured value is reported as a ``ConfigError`` naming ``key``."""
    try:
        return instantiate(spec, _partial_=True)(**runtime)
    except (InstantiationException, MisconfigurationException, TypeError, ValueError) as exc:
        reason = " ".join(str(cli.unwrap(exc)).split())
        raise ConfigError(f"{key}: {reason}") from exc


def env_tags(env: BatchedEnv) -> list[str]:
    """W&B tags naming what produced the numbers: the backend and, with the real game, its version."""
    meta = env.info.metadata
    return [f"{key}:{meta[key]}" for key in ("backend", "sc2_version") if meta.get(key)]
