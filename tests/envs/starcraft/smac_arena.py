"""Hand-built battle situations for the simulator tests."""

from __future__ import annotations

import torch

from liir.envs.base import EnvOutput
from liir.envs.smac.sim import SmacSim
from liir.envs.smac.sim.state import Order


def arena(
    map_name: str,
    place: dict[int, tuple[float, float]],
    keep: set[int] | None = None,
    passive_enemies: bool = True,
    **kwargs: object,
) -> tuple[SmacSim, EnvOutput]:
    """One copy of ``map_name`` without cooldown jitter; units in ``place`` moved there, units outside
    ``keep`` (default: the placed ones) killed, enemies told to hold still unless ``passive_enemies`` is off."""
    env = SmacSim(batch_size=1, device="cpu", seed=0, map_name=map_name, cooldown_jitter=False, **kwargs)
    env.reset()
    st = env.state
    keep = set(place) if keep is None else keep
    for u, xy in place.items():
        st.pos[0, u] = torch.tensor(xy)
    for u in range(st.health.shape[1]):
        if u not in keep:
            st.health[0, u] = 0.0
            st.shield[0, u] = 0.0
    if passive_enemies:
        st.order[0, env.roster.n_agents :] = Order.IDLE
    return env, env.observe()


def act(env: SmacSim, *actions: int) -> EnvOutput:
    """Step the single copy with one action per agent."""
    return env.step(torch.tensor([list(actions)]))
