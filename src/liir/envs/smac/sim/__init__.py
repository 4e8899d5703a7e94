"""The built-in SMAC simulator: the batched core (``SmacSim``) and SMAC's single-env face (``StarCraft2Env``)."""

from liir.envs.smac.sim.core import SmacSim
from liir.envs.smac.sim.single import StarCraft2Env

__all__ = ["SmacSim", "StarCraft2Env"]
