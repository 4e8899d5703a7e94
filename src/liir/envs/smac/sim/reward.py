"""SMAC's reward and battle outcome (smac-interface.md §9, §10), batched over copies."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from liir.envs.smac.sim.config import SmacConfig
from liir.envs.smac.sim.roster import Roster
from liir.envs.smac.sim.state import ordered_sum


@dataclass
class Outcome:
    """Per-copy result of one env step (B,) each."""

    reward: torch.Tensor
    won: torch.Tensor
    lost: torch.Tensor
    draw: torch.Tensor
    timeout: torch.Tensor  # the time limit ended the episode (no battle outcome this step)

    @property
    def battle_over(self) -> torch.Tensor:
        return self.won | self.lost | self.draw


class Scorer:
    """SMAC's dense/sparse team reward, scaled to ``reward_scale_rate``, and its game-end rules."""

    def __init__(self, roster: Roster, cfg: SmacConfig, limit: int, mmm: bool) -> None:
        self.r, self.cfg, self.limit, self.mmm = roster, cfg, limit, mmm
        n = roster.n_agents
        enemy_pool = float((roster.health_max[n:] + roster.shield_max[n:]).sum())
        self.max_reward = roster.n_enemies * cfg.reward_death_value + cfg.reward_win + enemy_pool
        self.scale = self.max_reward / cfg.reward_scale_rate if cfg.reward_scale else 1.0
        self.ally_medivac = roster.ally_medivac
        self.enemy_medivac = roster.healer[n:]

    def battle(
        self, prev_health: torch.Tensor, prev_shield: torch.Tensor, health: torch.Tensor, shield: torch.Tensor
    ) -> torch.Tensor:
        """SMAC's ``reward_battle``: the dense reward of the step from ``prev_*`` to the current vitals ((B, U)
        each), before the win/defeat bonus and scaling; 0 with ``reward_sparse``."""
        cfg, n = self.cfg, self.r.n_agents
        if cfg.reward_sparse:
            return torch.zeros_like(health[:, 0])
        was_alive = prev_health > 0
        died = was_alive & (health <= 0)
        prev = prev_health + prev_shield
        lost_hp = torch.where(died, prev, prev - health - shield) * was_alive
        neg = cfg.reward_negative_scale
        delta_enemy = ordered_sum(lost_hp[:, n:], 1)
        delta_deaths = cfg.reward_death_value * died[:, n:].sum(1).float()
        if cfg.reward_only_positive:
            return (delta_enemy + delta_deaths).abs()
        delta_deaths = delta_deaths - cfg.reward_death_value * neg * died[:, :n].sum(1).float()
        return delta_enemy + delta_deaths - neg * ordered_sum(lost_hp[:, :n], 1)

    def __call__(
        self,
        prev_health: torch.Tensor,
        prev_shield: torch.Tensor,
        health: torch.Tensor,
        shield: torch.Tensor,
        steps: torch.Tensor,
    ) -> Outcome:
        """Reward of the step that took vitals from ``prev_*`` to the current ones, (B, U) each."""
        cfg, n = self.cfg, self.r.n_agents
        alive = health > 0
        n_ally, n_enemy = alive[:, :n].sum(1), alive[:, n:].sum(1)
        lost = (n_ally == 0) & (n_enemy > 0)
        won = (n_ally > 0) & (n_enemy == 0)
        if self.mmm:  # "only medivac left" rules, the ally one checked first
            lost = lost | ~(alive[:, :n] & ~self.ally_medivac).any(1)
            won = won | ((n_enemy == 1) & (alive[:, n:] & self.enemy_medivac).any(1))
        won = won & ~lost
        draw = (n_ally == 0) & (n_enemy == 0) & ~lost & ~won
        if cfg.reward_sparse:
            reward = won.float() - lost.float()
        else:
            battle = self.battle(prev_health, prev_shield, health, shield)
            reward = battle + cfg.reward_win * won + cfg.reward_defeat * lost
        reward = reward / self.scale
        timeout = ~(won | lost | draw) & (steps >= self.limit)
        return Outcome(reward, won, lost, draw, timeout)
