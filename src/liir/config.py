"""Checks of the composed run configuration, so bad values fail at once with a message that names them."""

from __future__ import annotations

from omegaconf import DictConfig

POSITIVE_RUN_KEYS = ("t_max", "batch_size_run", "test_interval", "test_nepisode", "log_interval",
                     "save_model_interval")
POSITIVE_ALGO_KEYS = ("lr", "critic_lr", "eta_lr", "batch_size", "buffer_size")
DEVICES = ("cpu", "cuda", "auto")


class ConfigError(ValueError):
    """A configuration value is out of its allowed range."""


def validate(cfg: DictConfig) -> None:
    """Raise ``ConfigError`` for the first non-positive size, interval or learning rate, or bad device."""
    for key in POSITIVE_RUN_KEYS:
        _require_positive(key, cfg[key])
    for key in POSITIVE_ALGO_KEYS:
        if key in cfg.algo:
            _require_positive(f"algo.{key}", cfg.algo[key])
    if cfg.device not in DEVICES:
        raise ConfigError(f"device={cfg.device!r} is not allowed; use one of {', '.join(DEVICES)}")


def _require_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{name}={value!r} is not allowed: it must be a positive number")
