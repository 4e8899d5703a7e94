"""SMAC's availability masks, observations and states, computed for all copies and agents at once.

Layouts, normalisers and quirks follow smac-interface.md §5, §7, §8 and §15 exactly: relative positions
and distances divided by sight range 9, visibility strict ``< 9``, attack availability ``<= 6``, state
positions relative to the map centre divided by the playable size, dead units as zero rows.
"""

from __future__ import annotations

import torch

from liir.envs.smac.sim.config import N_ACTIONS_NO_ATTACK, SHOOT_RANGE, SIGHT_RANGE, Layout, SmacConfig
from liir.envs.smac.sim.roster import Roster
from liir.envs.smac.sim.state import SimState
from liir.envs.smac.terrain import MAP_SIZE

MAP_CENTRE = MAP_SIZE / 2
MAX_DISTANCE = float(MAP_SIZE)  # playable width and height of every SMAC map
MEDIVAC_MAX_ENERGY = 200.0


class Features:
    """Builds avail / obs / state tensors for one map, one set of flags, one device."""

    def __init__(self, roster: Roster, layout: Layout, cfg: SmacConfig, limit: int, pathable: torch.Tensor,
                 height: torch.Tensor) -> None:
        self.r, self.lay, self.cfg, self.limit = roster, layout, cfg, float(limit)
        dev = pathable.device
        self.pathable = pathable.flatten().float()
        self.height = height.flatten().float()
        n = layout.n_agents
        m = float(cfg.move_amount)
        half = m / 2
        # can_move probes (N, S, E, W) one half move away, and the 8 pathing / 9 height sample offsets
        self.move_probe = torch.tensor([[0, half], [0, -half], [half, 0], [-half, 0]], device=dev)
        self.sample_offsets = torch.tensor(
            [[0, 2 * m], [0, -2 * m], [2 * m, 0], [-2 * m, 0], [m, m], [-m, -m], [m, -m], [-m, m], [0, 0]],
            device=dev)
        others = [[j for j in range(n) if j != i] for i in range(n)]
        self.others = torch.tensor(others, dtype=torch.long, device=dev).view(n, max(n - 1, 0))
        self.medivac = roster.ally_medivac  # (N,)
        self.has_medivac = bool(roster.ally_medivac.any())
        self.healable = ~roster.ally_medivac  # allies a medivac may target

    def _cells(self, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """SMAC's ``int()`` cell of world points and whether it lies inside the map."""
        cell = pos.trunc().long()
        inside = ((cell >= 0) & (cell < MAP_SIZE)).all(-1)
        c = cell.clamp(0, MAP_SIZE - 1)
        return c[..., 0] * MAP_SIZE + c[..., 1], inside

    def avail(self, st: SimState) -> torch.Tensor:
        """(B, N, A) bool per smac-interface.md §5."""
        lay = self.lay
        n, e = lay.n_agents, lay.n_enemies
        pos = st.pos[:, :n]
        alive = st.health[:, :n] > 0
        flat, inside = self._cells(pos.unsqueeze(2) + self.move_probe)
        can_move = inside & (self.pathable[flat] > 0)
        d_en = torch.cdist(pos, st.pos[:, n:])  # (B, N, M)
        attack = (st.health[:, None, n:] > 0) & (d_en <= SHOOT_RANGE)
        if self.has_medivac:
            d_al = torch.cdist(pos, pos)
            heal = (alive & self.healable).unsqueeze(1) & (d_al <= SHOOT_RANGE)  # (B, N, N) [i, j]
            k = min(n, e)
            heal_cols = torch.zeros_like(attack)
            heal_cols[..., :k] = heal[..., :k]
            attack = torch.where(self.medivac.view(1, -1, 1), heal_cols, attack)
        alive_av = torch.cat([torch.zeros_like(alive).unsqueeze(-1), torch.ones_like(alive).unsqueeze(-1),
                              can_move, attack], dim=-1)
        dead_av = torch.zeros_like(alive_av)
        dead_av[..., 0] = True
        return torch.where(alive.unsqueeze(-1), alive_av, dead_av)

    def _unit_vitals(self, st: SimState, lo: int, hi: int, shield: bool) -> list[torch.Tensor]:
        """[health/max, (shield/max)] of units lo..hi as (B, k, 1) tensors."""
        r = self.r
        out = [(st.health[:, lo:hi] / r.health_max[lo:hi]).unsqueeze(-1)]
        if shield:
            out.append((st.shield[:, lo:hi] / r.shield_max[lo:hi].clamp(min=1e-6)).unsqueeze(-1))
        return out

    def obs(self, st: SimState, avail: torch.Tensor) -> torch.Tensor:
        """(B, N, obs_len) float per smac-interface.md §7."""
        r, lay, cfg = self.r, self.lay, self.cfg
        n, e = lay.n_agents, lay.n_enemies
        b = st.pos.shape[0]
        pos = st.pos[:, :n]
        alive = st.health > 0
        me_alive = alive[:, :n]
        rel = st.pos.unsqueeze(1) - pos.unsqueeze(2)  # (B, N, U, 2) [i, j] = p_j - p_i
        dist = rel.norm(dim=-1)
        visible = (dist < SIGHT_RANGE) & alive.unsqueeze(1) & me_alive.unsqueeze(-1)
        geo = torch.cat([(dist / SIGHT_RANGE).unsqueeze(-1), rel / SIGHT_RANGE], dim=-1)  # (B, N, U, 3)
        blocks = [self._move_feats(st, avail)]

        en = [avail[:, :, N_ACTIONS_NO_ATTACK:].float().unsqueeze(-1), geo[:, :, n:]]
        if cfg.obs_all_health:
            en += [v.unsqueeze(1).expand(b, n, e, 1) for v in self._unit_vitals(st, n, n + e, bool(lay.shield_enemy))]
        en.append(r.type_onehot[n:].expand(b, n, e, lay.utb))
        blocks.append((torch.cat(en, -1) * visible[:, :, n:].unsqueeze(-1)).flatten(2))

        if n > 1:
            al = [torch.ones(b, n, n, 1, device=pos.device), geo[:, :, :n]]
            if cfg.obs_all_health:
                al += [v.unsqueeze(1).expand(b, n, n, 1) for v in self._unit_vitals(st, 0, n, bool(lay.shield_ally))]
            al.append(r.type_onehot[:n].expand(b, n, n, lay.utb))
            if cfg.obs_last_action:
                al.append(st.last_action.unsqueeze(1).expand(b, n, n, lay.n_actions))
            allies = torch.cat(al, -1) * visible[:, :, :n].unsqueeze(-1)
            idx = self.others.view(1, n, n - 1, 1).expand(b, n, n - 1, allies.shape[-1])
            blocks.append(allies.gather(2, idx).flatten(2))

        own = self._unit_vitals(st, 0, n, bool(lay.shield_ally)) if cfg.own_health else []
        own.append(r.type_onehot[:n].expand(b, n, lay.utb))
        if cfg.obs_timestep_number:
            own.append(torch.zeros(b, n, 1, device=pos.device))  # SMAC allocates this slot but never writes it
        blocks.append(torch.cat(own, -1))
        out = torch.cat(blocks, -1) * me_alive.unsqueeze(-1)
        if cfg.obs_timestep_number:
            out = torch.cat([out, self._timestep(st).view(b, 1, 1).expand(b, n, 1)], -1)
        return out

    def _move_feats(self, st: SimState, avail: torch.Tensor) -> torch.Tensor:
        n = self.lay.n_agents
        feats = [avail[:, :, 2:N_ACTIONS_NO_ATTACK].float()]
        if self.cfg.obs_pathing_grid or self.cfg.obs_terrain_height:
            points = st.pos[:, :n].trunc().unsqueeze(2) + self.sample_offsets  # (B, N, 9, 2)
            flat, inside = self._cells(points)
            if self.cfg.obs_pathing_grid:
                feats.append(torch.where(inside, self.pathable[flat], 1.0)[..., :8])
            if self.cfg.obs_terrain_height:
                feats.append(torch.where(inside, self.height[flat], 1.0))
        return torch.cat(feats, -1)

    def _timestep(self, st: SimState) -> torch.Tensor:
        return st.steps.float() / self.limit

    def state(self, st: SimState, obs: torch.Tensor) -> torch.Tensor:
        """(B, state_len) float per smac-interface.md §8."""
        r, lay, cfg = self.r, self.lay, self.cfg
        n, e = lay.n_agents, lay.n_enemies
        b = st.pos.shape[0]
        if cfg.obs_instead_of_state:
            return obs.flatten(1)
        alive = (st.health > 0).unsqueeze(-1)
        xy = (st.pos - MAP_CENTRE) / MAX_DISTANCE
        cd = torch.where(self.medivac, st.energy[:, :n] / MEDIVAC_MAX_ENERGY, st.cooldown[:, :n] / r.max_cd[:n])
        ally = [(st.health[:, :n] / r.health_max[:n]).unsqueeze(-1), cd.unsqueeze(-1), xy[:, :n]]
        if lay.shield_ally:
            ally.append((st.shield[:, :n] / r.shield_max[:n]).unsqueeze(-1))
        ally.append(r.type_onehot[:n].expand(b, n, lay.utb))
        enemy = [(st.health[:, n:] / r.health_max[n:]).unsqueeze(-1), xy[:, n:]]
        if lay.shield_enemy:
            enemy.append((st.shield[:, n:] / r.shield_max[n:]).unsqueeze(-1))
        enemy.append(r.type_onehot[n:].expand(b, e, lay.utb))
        parts = [(torch.cat(ally, -1) * alive[:, :n]).flatten(1), (torch.cat(enemy, -1) * alive[:, n:]).flatten(1)]
        if cfg.state_last_action:
            parts.append(st.last_action.flatten(1))
        if cfg.state_timestep_number:
            parts.append(self._timestep(st).unsqueeze(-1))
        return torch.cat(parts, -1)
