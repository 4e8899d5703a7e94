"""The simulator's dynamic state: every field is a tensor with the batch as its leading dimension."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from liir.envs.smac.sim.roster import Roster


class Order:
    """Unit orders (SC2 abilities as SMAC issues them, plus the enemy's attack-move)."""

    IDLE = 0  # no order, or stop
    MOVE = 1  # move to ``goal``
    ATTACK = 2  # attack ``target`` (chase into range)
    HEAL = 3  # heal ``target`` (medivac)
    ATTACK_MOVE = 4  # walk to ``goal``, engaging hostiles met on the way (built-in AI)


@dataclass
class SimState:
    """Positions, vitals, orders and episode counters of B copies with U units and N agents."""

    pos: torch.Tensor  # (B, U, 2)
    health: torch.Tensor  # (B, U)
    shield: torch.Tensor  # (B, U)
    cooldown: torch.Tensor  # (B, U) game loops until the weapon is ready
    energy: torch.Tensor  # (B, U)
    since_damage: torch.Tensor  # (B, U) game loops since the unit last took damage
    order: torch.Tensor  # (B, U) long, ``Order``
    target: torch.Tensor  # (B, U) long unit index, -1 for none
    goal: torch.Tensor  # (B, U, 2)
    last_action: torch.Tensor  # (B, N, A) one-hot of the last actions (zeros after reset)
    heuristic_target: torch.Tensor  # (B, N) long, SMAC's heuristic-AI target memory
    steps: torch.Tensor  # (B,) long, env steps in this episode
    episode: torch.Tensor  # (B,) long, episodes started in this copy
    ticks: torch.Tensor  # (B,) long, game loops run in this copy (the random stream's counter)
    done: torch.Tensor  # (B,) bool

    @staticmethod
    def spawn(r: Roster, batch_size: int, n_actions: int, device: torch.device) -> SimState:
        """B copies at the roster's spawn layout, before the enemy order is issued."""
        b, u, n = batch_size, r.init_pos.shape[0], r.n_agents
        zeros = torch.zeros(b, u, device=device)
        return SimState(
            pos=r.init_pos.expand(b, u, 2).clone(),
            health=r.health_max.expand(b, u).clone(),
            shield=r.shield_max.expand(b, u).clone(),
            cooldown=zeros.clone(),
            energy=r.energy_start.expand(b, u).clone(),
            since_damage=zeros.clone(),
            order=torch.zeros(b, u, dtype=torch.long, device=device),
            target=torch.full((b, u), -1, dtype=torch.long, device=device),
            goal=r.init_pos.expand(b, u, 2).clone(),
            last_action=torch.zeros(b, n, n_actions, device=device),
            heuristic_target=torch.full((b, n), -1, dtype=torch.long, device=device),
            steps=torch.zeros(b, dtype=torch.long, device=device),
            episode=torch.zeros(b, dtype=torch.long, device=device),
            ticks=torch.zeros(b, dtype=torch.long, device=device),
            done=torch.zeros(b, dtype=torch.bool, device=device),
        )

    def blend(self, mask: torch.Tensor, other: SimState) -> SimState:
        """A state taking ``other``'s values where ``mask`` (B,) is True, this one's elsewhere."""
        out = {}
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            m = mask.view(-1, *([1] * (mine.dim() - 1)))
            out[f.name] = torch.where(m, theirs, mine)
        return SimState(**out)
