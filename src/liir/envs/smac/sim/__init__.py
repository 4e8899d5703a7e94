"""The built-in SMAC simulator: the batched core (``SmacSim``), SMAC's single-env face (``StarCraft2Env``) and its
base class (``MultiAgentEnv``)."""

from liir.envs.smac.sim.core import SmacSim
from liir.envs.smac.sim.multiagentenv import MultiAgentEnv
from liir.envs.smac.sim.single import NeedsResetError, StarCraft2Env

__all__ = ["MultiAgentEnv", "NeedsResetError", "SmacSim", "StarCraft2Env"]
