"""Checks of the composed run configuration, so bad values fail at once with a message that names them."""

from __future__ import annotations

from omegaconf import DictConfig

from liir.nn.mixers import HYPERNET_LAYERS

CRITIC_TRAIN_MODES = ("seq", "batch")
META_GRADS = ("exact", "reference", "frozen")
EXTRINSIC_CRITICS = ("state", "joint_action")
ADVANTAGE_NORMALISATIONS = ("masked", "padded", "none")
NORMALISATION_GRADIENTS = ("constant", "differentiable")

POSITIVE_RUN_KEYS = ("t_max", "batch_size_run", "test_interval", "test_nepisode", "log_interval",
                     "save_model_interval")
POSITIVE_ALGO_KEYS = ("lr", "critic_lr", "eta_lr", "batch_size", "buffer_size", "target_update_interval")
POSITIVE_REPLAY_KEYS = ("batch_size", "buffer_size")
DEVICES = ("cpu", "cuda", "auto")
ALGO_CHOICES = {
    "critic_train_mode": CRITIC_TRAIN_MODES,
    "meta_grad": META_GRADS,
    "advantage_normalisation": ADVANTAGE_NORMALISATIONS,
    "normalisation_gradient": NORMALISATION_GRADIENTS,
    "extrinsic_critic": EXTRINSIC_CRITICS,
}


class ConfigError(ValueError):
    """A configuration value is out of its allowed range."""


def validate(cfg: DictConfig) -> None:
    """Raise ``ConfigError`` for the first non-positive size, interval or learning rate, unknown choice or device."""
    for key in POSITIVE_RUN_KEYS:
        _require_positive(key, cfg[key])
    if cfg.get("torch_threads") is not None:
        _require_positive("torch_threads", cfg.torch_threads)
    for key in POSITIVE_ALGO_KEYS:
        if key in cfg.algo:
            _require_positive(f"algo.{key}", cfg.algo[key])
    for key, allowed in ALGO_CHOICES.items():
        if key in cfg.algo and cfg.algo[key] not in allowed:
            raise ConfigError(f"algo.{key}={cfg.algo[key]!r} is not allowed; use one of {', '.join(allowed)}")
    if cfg.algo.get("datamodule") is not None:
        _validate_replay(cfg.algo.datamodule, cfg.batch_size_run)
    mixer = cfg.algo.get("mixer")
    if mixer is not None and "hypernet_layers" in mixer and mixer.hypernet_layers not in HYPERNET_LAYERS:
        raise ConfigError(f"algo.mixer.hypernet_layers={mixer.hypernet_layers!r} is not allowed; use one of "
                          f"{', '.join(map(str, HYPERNET_LAYERS))}")
    if cfg.device not in DEVICES:
        raise ConfigError(f"device={cfg.device!r} is not allowed; use one of {', '.join(DEVICES)}")


def _require_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{name}={value!r} is not allowed: it must be a positive number")


def _validate_replay(datamodule: DictConfig, batch_size_run: int) -> None:
    """The buffer must hold a training batch and one round of collected episodes."""
    for key in POSITIVE_REPLAY_KEYS:
        if key in datamodule:
            _require_positive(f"algo.datamodule.{key}", datamodule[key])
    if "buffer_size" not in datamodule:
        return
    for name, needed in (("algo.datamodule.batch_size", datamodule.get("batch_size", 0)),
                         ("batch_size_run", batch_size_run)):
        if datamodule.buffer_size < needed:
            raise ConfigError(f"algo.datamodule.buffer_size={datamodule.buffer_size} is not allowed: it must be at "
                              f"least {name}={needed}")
