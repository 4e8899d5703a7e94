"""SMAC's scripted ``heuristic_ai`` policy (smac-interface.md §6), batched over copies and agents."""

from __future__ import annotations

import torch

from liir.envs.smac.sim.config import N_ACTIONS_NO_ATTACK
from liir.envs.smac.sim.roster import Roster
from liir.envs.smac.sim.state import SimState

_INF = 1e9
_NORTH, _SOUTH, _EAST, _WEST = 2, 3, 4, 5


def heuristic_actions(st: SimState, r: Roster, avail: torch.Tensor, rest: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(actions (B, N), new target memory (B, N)): attack the nearest enemy, medivacs heal the nearest
    damaged ally; targets are kept until dead (or healed). With ``rest``, an unavailable attack becomes a
    move toward the target along the dominant axis. Dead agents report the no-op."""
    n = r.n_agents
    pos = st.pos[:, :n]
    alive = st.health > 0
    me_alive = alive[:, :n]
    medivac = r.ally_medivac.unsqueeze(0)
    marauder = torch.tensor([t.name == "marauder" for t in r.types[:n]], device=pos.device)
    e_ok = alive[:, None, n:] & ~(marauder[:, None] & r.healer[n:][None, :]).unsqueeze(0)
    nearest_e = torch.where(e_ok, torch.cdist(pos, st.pos[:, n:]), _INF).argmin(-1)
    damaged = alive[:, :n] & ~r.ally_medivac & (st.health[:, :n] != r.health_max[:n])
    nearest_a = torch.where(damaged.unsqueeze(1), torch.cdist(pos, pos), _INF).argmin(-1)

    t = st.heuristic_target
    tc = t.clamp(min=0)  # an enemy index, or an ally index for medivacs
    ta = tc.clamp(max=n - 1)
    enemy_gone = ~alive[:, n:].gather(1, tc)
    ally_h = st.health[:, :n].gather(1, ta)
    ally_gone = (ally_h <= 0) | (ally_h == r.health_max[:n][ta])
    need = (t < 0) | torch.where(medivac, ally_gone, enemy_gone)
    fresh = torch.where(
        medivac, torch.where(damaged.any(1, keepdim=True), nearest_a, -1), torch.where(e_ok.any(-1), nearest_e, -1)
    )
    t = torch.where(me_alive, torch.where(need, fresh, t), -1)
    actions = torch.where(t >= 0, N_ACTIONS_NO_ATTACK + t, 0)
    if rest:
        tc = t.clamp(min=0)
        tpos_e = st.pos[:, n:].gather(1, tc.unsqueeze(-1).expand(-1, -1, 2))
        tpos_a = pos.gather(1, tc.clamp(max=n - 1).unsqueeze(-1).expand(-1, -1, 2))
        d = torch.where(medivac.unsqueeze(-1), tpos_a, tpos_e) - pos
        move = torch.where(
            d[..., 0].abs() > d[..., 1].abs(),
            torch.where(d[..., 0] > 0, _EAST, _WEST),
            torch.where(d[..., 1] > 0, _NORTH, _SOUTH),
        )
        blocked = ~avail.gather(2, actions.unsqueeze(-1)).squeeze(-1)
        actions = torch.where((t >= 0) & blocked, move, actions)
    return actions, t
