"""SMAC's availability masks, observations and states, computed for all copies and agents at once.

Layouts, normalisers and quirks follow smac-interface.md §5, §7, §8 and §15 exactly: relative positions
and distances divided by sight range 9, visibility strict ``< 9``, attack availability ``<= 6``, state
positions relative to the map centre divided by the playable size, dead units as zero rows.

Everything is built batch-last (per-agent blocks as (N, features, B), like the game loop's ``Units``) so
that compiled kernels vectorise over the copies; only the finished tensors are transposed to the
protocol's (B, ...) layout.
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


def _norm(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x * x + y * y).sqrt()


class Features:
    """Builds avail / obs / state tensors for one map, one set of flags, one device."""

    def __init__(
        self, roster: Roster, layout: Layout, cfg: SmacConfig, limit: int, pathable: torch.Tensor, height: torch.Tensor
    ) -> None:
        self.r, self.lay, self.cfg, self.limit = roster, layout, cfg, float(limit)
        dev = pathable.device
        self.pathable = pathable.flatten().float()
        self.height = height.flatten().float()
        n = layout.n_agents
        m = float(cfg.move_amount)
        half = m / 2
        # can_move probes (N, S, E, W) one half move away, and the 8 pathing / 9 height sample offsets
        # float64, as SMAC's Python floats: a unit clamped at x = 2e-10 may move west (int(-0.99...) = 0)
        probe = torch.tensor([[0, half], [0, -half], [half, 0], [-half, 0]], dtype=torch.float64, device=dev)
        samples = torch.tensor(
            [[0, 2 * m], [0, -2 * m], [2 * m, 0], [-2 * m, 0], [m, m], [-m, -m], [m, -m], [-m, m], [0, 0]], device=dev
        )
        self.probe_x, self.probe_y = probe[:, 0].view(1, -1, 1), probe[:, 1].view(1, -1, 1)  # (1, 4, 1)
        self.sample_x, self.sample_y = samples[:, 0].view(1, -1, 1), samples[:, 1].view(1, -1, 1)  # (1, 9, 1)
        others = [[j for j in range(n) if j != i] for i in range(n)]
        self.others = torch.tensor(others, dtype=torch.long, device=dev).view(n, max(n - 1, 0))
        self.rows = torch.arange(n, device=dev).unsqueeze(-1)
        self.medivac = roster.ally_medivac.view(-1, 1, 1)  # (N, 1, 1)
        self.has_medivac = bool(roster.ally_medivac.any())
        self.healable = (~roster.ally_medivac).unsqueeze(-1)  # allies a medivac may target, (N, 1)
        self.types = roster.type_onehot.unsqueeze(-1)  # (U, utb, 1)
        self.health_max = roster.health_max.unsqueeze(-1)
        self.shield_max = roster.shield_max.clamp(min=1e-6).unsqueeze(-1)
        self.max_cd = roster.max_cd[:n].unsqueeze(-1)
        self.state_medivac = roster.ally_medivac.unsqueeze(-1)
        self.dead_av = torch.zeros(1, layout.n_actions, 1, device=dev)  # a dead agent has only the no-op
        self.dead_av[0, 0] = 1.0

    # -- the protocol's (B, ...) tensors --------------------------------------------------------------------
    def all(self, st: SimState) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(avail (B, N, A) float 0/1, obs (B, N, obs_len), state (B, state_len)), contiguous.

        ``avail`` stays float here (``avail > 0`` is the protocol's mask): compiled CPU code would write the
        transposed bool tensor one element at a time, about a tenth of the compiled step at batch 1024."""
        avail = self._avail(st)
        obs = self._obs(st, avail)
        return avail.permute(2, 0, 1).contiguous(), obs.permute(2, 0, 1).contiguous(), self._state(st, obs)

    # -- batch-last builders ----------------------------------------------------------------------------------
    @staticmethod
    def _cells(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """SMAC's ``int()`` cell of world points and whether it lies inside the map."""
        cx, cy = x.trunc().long(), y.trunc().long()
        inside = (cx >= 0) & (cx < MAP_SIZE) & (cy >= 0) & (cy < MAP_SIZE)
        return cx.clamp(0, MAP_SIZE - 1) * MAP_SIZE + cy.clamp(0, MAP_SIZE - 1), inside

    def _avail(self, st: SimState) -> torch.Tensor:
        """(N, A, B) float 0/1: compiled CPU code stores float buffers as vectors, bool buffers element by element."""
        n, e = self.lay.n_agents, self.lay.n_enemies
        x, y, health = st.pos[..., 0].t(), st.pos[..., 1].t(), st.health.t()  # (U, B)
        alive = health[:n] > 0
        px, py = x[:n].double().unsqueeze(1) + self.probe_x, y[:n].double().unsqueeze(1) + self.probe_y
        flat, inside = self._cells(px, py)
        can_move = (inside & (self.pathable[flat] > 0)).float()  # (N, 4, B)
        d_en = _norm(x[n:].unsqueeze(0) - x[:n].unsqueeze(1), y[n:].unsqueeze(0) - y[:n].unsqueeze(1))  # (N, M, B)
        attack = ((health[n:] > 0).unsqueeze(0) & (d_en <= SHOOT_RANGE)).float()
        if self.has_medivac:
            d_al = _norm(x[:n].unsqueeze(0) - x[:n].unsqueeze(1), y[:n].unsqueeze(0) - y[:n].unsqueeze(1))
            heal = ((alive & self.healable).unsqueeze(0) & (d_al <= SHOOT_RANGE)).float()  # (N, N, B) [i, j]
            k = min(n, e)
            heal_cols = torch.cat([heal[:, :k], torch.zeros_like(attack[:, k:])], 1)
            attack = torch.where(self.medivac, heal_cols, attack)
        ones = torch.ones_like(can_move[:, :1])
        alive_av = torch.cat([1 - ones, ones, can_move, attack], 1)
        return torch.where(alive.unsqueeze(1), alive_av, self.dead_av)

    def _vitals(self, st: SimState, lo: int, hi: int, shield: bool) -> list[torch.Tensor]:
        """[health/max, (shield/max)] of units lo..hi as (k, B) tensors."""
        out = [st.health[:, lo:hi].t() / self.health_max[lo:hi]]
        if shield:
            out.append(st.shield[:, lo:hi].t() / self.shield_max[lo:hi])
        return out

    def _obs(self, st: SimState, avail: torch.Tensor) -> torch.Tensor:
        """(N, obs_len, B) float per smac-interface.md §7, from ``avail`` (N, A, B) float."""
        lay, cfg = self.lay, self.cfg
        n, e, utb = lay.n_agents, lay.n_enemies, lay.utb
        b = st.health.shape[0]
        x, y = st.pos[..., 0].t(), st.pos[..., 1].t()
        alive = st.health.t() > 0
        me_alive = alive[:n]
        rx = x.unsqueeze(0) - x[:n].unsqueeze(1)  # (N, U, B) [i, j] = x_j - x_i
        ry = y.unsqueeze(0) - y[:n].unsqueeze(1)
        dist = _norm(rx, ry)
        visible = ((dist < SIGHT_RANGE) & alive.unsqueeze(0) & me_alive.unsqueeze(1)).float().unsqueeze(2)
        geo = torch.stack([dist / SIGHT_RANGE, rx / SIGHT_RANGE, ry / SIGHT_RANGE], 2)  # (N, U, 3, B)
        blocks = [self._move_feats(st, avail)]

        en = [avail[:, N_ACTIONS_NO_ATTACK:].unsqueeze(2), geo[:, n:]]
        if cfg.obs_all_health:
            en += [v.view(1, e, 1, b).expand(n, e, 1, b) for v in self._vitals(st, n, n + e, bool(lay.shield_enemy))]
        en.append(self.types[n:].unsqueeze(0).expand(n, e, utb, b))
        blocks.append((torch.cat(en, 2) * visible[:, n:]).flatten(1, 2))

        if n > 1:
            al = [torch.ones_like(geo[:, :n, :1]), geo[:, :n]]
            if cfg.obs_all_health:
                al += [v.view(1, n, 1, b).expand(n, n, 1, b) for v in self._vitals(st, 0, n, bool(lay.shield_ally))]
            al.append(self.types[:n].unsqueeze(0).expand(n, n, utb, b))
            if cfg.obs_last_action:
                al.append(st.last_action.permute(1, 2, 0).unsqueeze(0).expand(n, n, lay.n_actions, b))
            allies = torch.cat(al, 2) * visible[:, :n]
            blocks.append(allies[self.rows, self.others].flatten(1, 2))

        own = self._vitals(st, 0, n, bool(lay.shield_ally)) if cfg.own_health else []
        own = [v.unsqueeze(1) for v in own] + [self.types[:n].expand(n, utb, b)]
        if cfg.obs_timestep_number:  # SMAC allocates this slot but never writes it (own[0] may be 0 wide)
            own.append(torch.zeros_like(x[:n]).unsqueeze(1))
        blocks.append(torch.cat(own, 1))
        out = torch.cat(blocks, 1) * me_alive.unsqueeze(1)
        if cfg.obs_timestep_number:
            out = torch.cat([out, self._timestep(st).view(1, 1, b).expand(n, 1, b)], 1)
        return out

    def _move_feats(self, st: SimState, avail: torch.Tensor) -> torch.Tensor:
        """(N, move, B): can-move flags, then the pathing and height samples when switched on."""
        n = self.lay.n_agents
        feats = [avail[:, 2:N_ACTIONS_NO_ATTACK]]
        if self.cfg.obs_pathing_grid or self.cfg.obs_terrain_height:
            x, y = st.pos[:, :n, 0].t().trunc().unsqueeze(1), st.pos[:, :n, 1].t().trunc().unsqueeze(1)
            flat, inside = self._cells(x + self.sample_x, y + self.sample_y)  # (N, 9, B)
            if self.cfg.obs_pathing_grid:
                feats.append(torch.where(inside, self.pathable[flat], 1.0)[:, :8])
            if self.cfg.obs_terrain_height:
                feats.append(torch.where(inside, self.height[flat], 1.0))
        return torch.cat(feats, 1)

    def _timestep(self, st: SimState) -> torch.Tensor:
        return st.steps.float() / self.limit

    def _state(self, st: SimState, obs: torch.Tensor) -> torch.Tensor:
        """(B, state_len) float per smac-interface.md §8, from ``obs`` (N, obs_len, B)."""
        if self.cfg.obs_instead_of_state:
            return obs.permute(2, 0, 1).reshape(st.health.shape[0], -1)
        return self.structured_state(st)

    def structured_state(self, st: SimState) -> torch.Tensor:
        """(B, state_size) SMAC's ally, enemy, last-action and timestep blocks, whatever ``obs_instead_of_state``
        says (SMAC's ``get_state_dict`` ignores it)."""
        lay, cfg = self.lay, self.cfg
        n, e, utb = lay.n_agents, lay.n_enemies, lay.utb
        b = st.health.shape[0]
        alive = (st.health.t() > 0).unsqueeze(1)  # (U, 1, B)
        x, y = (st.pos[..., 0].t() - MAP_CENTRE) / MAX_DISTANCE, (st.pos[..., 1].t() - MAP_CENTRE) / MAX_DISTANCE
        cd = torch.where(
            self.state_medivac, st.energy[:, :n].t() / MEDIVAC_MAX_ENERGY, st.cooldown[:, :n].t() / self.max_cd
        )
        vit_al = self._vitals(st, 0, n, bool(lay.shield_ally))
        ally = [vit_al[0], cd, x[:n], y[:n]] + vit_al[1:]
        ally = torch.cat([torch.stack(ally, 1), self.types[:n].expand(n, utb, b)], 1)
        vit_en = self._vitals(st, n, n + e, bool(lay.shield_enemy))
        enemy = torch.cat([torch.stack([vit_en[0], x[n:], y[n:]] + vit_en[1:], 1), self.types[n:].expand(e, utb, b)], 1)
        parts = [(ally * alive[:n]).flatten(0, 1), (enemy * alive[n:]).flatten(0, 1)]
        if cfg.state_last_action:
            parts.append(st.last_action.permute(1, 2, 0).flatten(0, 1))
        if cfg.state_timestep_number:
            parts.append(self._timestep(st).unsqueeze(0))
        return torch.cat(parts, 0).t().contiguous()
