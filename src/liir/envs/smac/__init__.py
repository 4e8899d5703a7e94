"""The SMAC family of environments behind liir's batched protocol, selected by backend."""

from __future__ import annotations

from typing import Any

import torch

from liir.envs.base import BatchedEnv
from liir.envs.smac.maps import SMAC_MAPS, get_map

BACKENDS = ("sim",)


def make_smac_env(backend: str, batch_size: int, device: str | torch.device, seed: int, map_name: str,
                  **smac_kwargs: Any) -> BatchedEnv:
    """Build B SMAC battles on ``map_name`` with SMAC's keyword arguments, on the chosen backend."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown SMAC backend {backend!r}; allowed: {', '.join(BACKENDS)}")
    get_map(map_name)  # a clear error for an unknown map before anything else
    from liir.envs.smac.sim import SmacSim

    return SmacSim(batch_size=batch_size, device=device, seed=seed, map_name=map_name, **smac_kwargs)


__all__ = ["BACKENDS", "SMAC_MAPS", "make_smac_env"]
