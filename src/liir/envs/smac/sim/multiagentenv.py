"""``MultiAgentEnv``: SMAC's abstract base class (``smac.env.MultiAgentEnv``), so that code which checks
``isinstance(env, MultiAgentEnv)`` or subclasses it works with the simulator too."""

from __future__ import annotations

from typing import Any


class MultiAgentEnv:
    """SMAC's interface: every method but ``get_env_info`` raises ``NotImplementedError`` until overridden."""

    n_agents: int
    episode_limit: int

    def step(self, actions: Any) -> tuple[float, bool, dict[str, Any]]:
        """Returns reward, terminated, info."""
        raise NotImplementedError

    def get_obs(self) -> list[Any]:
        """Returns all agent observations in a list."""
        raise NotImplementedError

    def get_obs_agent(self, agent_id: int) -> Any:
        """Returns observation for agent_id."""
        raise NotImplementedError

    def get_obs_size(self) -> int:
        """Returns the size of the observation."""
        raise NotImplementedError

    def get_state(self) -> Any:
        """Returns the global state."""
        raise NotImplementedError

    def get_state_size(self) -> int:
        """Returns the size of the global state."""
        raise NotImplementedError

    def get_avail_actions(self) -> list[list[int]]:
        """Returns the available actions of all agents in a list."""
        raise NotImplementedError

    def get_avail_agent_actions(self, agent_id: int) -> list[int]:
        """Returns the available actions for agent_id."""
        raise NotImplementedError

    def get_total_actions(self) -> int:
        """Returns the total number of actions an agent could ever take."""
        raise NotImplementedError

    def reset(self) -> Any:
        """Returns initial observations and states."""
        raise NotImplementedError

    def render(self) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def seed(self) -> int | None:
        raise NotImplementedError

    def save_replay(self) -> None:
        """Save a replay."""
        raise NotImplementedError

    def get_env_info(self) -> dict[str, Any]:
        """The sizes a learner needs: state and obs shapes, actions, agents, episode limit."""
        return {
            "state_shape": self.get_state_size(),
            "obs_shape": self.get_obs_size(),
            "n_actions": self.get_total_actions(),
            "n_agents": self.n_agents,
            "episode_limit": self.episode_limit,
        }
