"""Composing the run configuration in-process, as ``python -m liir.train`` does (no subprocess)."""

from __future__ import annotations

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from liir.cli import CONF_DIR


def compose_cfg(*overrides: str, config_name: str = "config", return_hydra_config: bool = False) -> DictConfig:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides), return_hydra_config=return_hydra_config)
