"""One StarCraft II game loop for B copies at once: targeting, movement, collisions, combat, regeneration.

Every rule is one batched tensor operation over (B, U) units or (B, U, U) unit pairs; the only Python
loops run over the fixed number of hits per attack. Decisions in a loop use the positions at its
start and all attacks of a loop resolve simultaneously (see docs/simulator.md for the deviations from
SC2's sequential unit updates).
"""

from __future__ import annotations

import torch

from liir.envs.smac.sim.pathing import FlowField
from liir.envs.smac.sim.roster import Roster
from liir.envs.smac.sim.state import Order, SimState
from liir.envs.smac.terrain import MAP_SIZE
from liir.envs.smac.units import HEAL_PER_ENERGY, SHIELD_REGEN, SHIELD_REGEN_DELAY, Splash

_INF = 1e9
_UNARMED_PENALTY = 1e3  # armed threats rank before unarmed units in target acquisition
_LINE_HALF_LENGTH = 1.4  # colossus splash: 2.8 long across the line of fire ...
_LINE_HALF_WIDTH = 0.15  # ... and 0.3 deep, centred on the target
_FOLLOW_GAP = 1.0  # an idle enemy medivac keeps this edge distance to the teammate it follows


class Mechanics:
    """The game-loop rules of one map, with its static unit tables and pathing grid on one device."""

    def __init__(self, roster: Roster, pathable: torch.Tensor, box: tuple[int, int, int, int] | None,
                 flow: FlowField | None, hunt: bool, jitter: bool) -> None:
        self.r = roster
        self.flow = flow  # path planning around walls, for maps whose pathable area is not a rectangle
        self.pathable = pathable.flatten()  # (32*32,) bool, index x*32 + y
        self.box = box  # a rectangular pathable area: terrain handling is a clamp
        self.hunt = hunt
        self.jitter = jitter
        u = roster.init_pos.shape[0]
        self.idx = torch.arange(u, device=pathable.device)
        self.hostile = roster.is_ally[:, None] != roster.is_ally[None, :]
        self.can_hit = roster.damage > 0
        self.attackable = self.hostile & self.can_hit
        self.rsum = roster.radius[:, None] + roster.radius[None, :]
        self.lower = self.idx[None, :] < self.idx[:, None]  # [a, a'] = a' < a
        self.unarmed_penalty = _UNARMED_PENALTY * (~roster.armed).float()
        self.heal_pairs = (~self.hostile & (self.idx[:, None] != self.idx[None, :]) & roster.heal_target_ok[None, :]
                           & ~roster.healer[None, :])  # [healer, patient] candidates, before range and damage
        self.colliding = (roster.collision_group[:, None] == roster.collision_group[None, :]) & (
            self.idx[:, None] != self.idx[None, :])
        order_sign = torch.sign(self.idx[None, :] - self.idx[:, None]).float()
        self.nudge = torch.stack([order_sign * 1e-4, torch.zeros_like(order_sign)], dim=-1)
        self.max_hits = int(roster.hits.max())
        self.has_line = bool((roster.splash == Splash.LINE).any())
        self.has_suicide = bool((roster.splash == Splash.SUICIDE).any())
        self.has_healer = bool(roster.healer.any())
        self.reach = torch.where(roster.healer, roster.heal_range, roster.weapon_range)

    # -- helpers ---------------------------------------------------------------------------------------
    def walkable(self, pos: torch.Tensor) -> torch.Tensor:
        """(...,) bool: the cell under ``pos`` (..., 2) is inside the map and pathable."""
        cell = pos.floor().long()
        inside = ((cell >= 0) & (cell < MAP_SIZE)).all(-1)
        c = cell.clamp(0, MAP_SIZE - 1)
        return inside & self.pathable[c[..., 0] * MAP_SIZE + c[..., 1]]

    @staticmethod
    def _gather_units(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """x (B, U, ...) indexed by idx (B, U) -> (B, U, ...)."""
        view = idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand(*idx.shape, *x.shape[2:])
        return x.gather(1, view)

    # -- the loop ----------------------------------------------------------------------------------------
    def loop(self, st: SimState, noise: torch.Tensor) -> SimState:
        """Advance every copy by one game loop; ``noise`` (B, U) uniform in [0, 1) drives the cooldown jitter."""
        r = self.r
        alive = st.health > 0
        pos = st.pos
        delta = pos.unsqueeze(1) - pos.unsqueeze(2)  # [b, i, j] = p_j - p_i
        dist = torch.hypot(delta[..., 0], delta[..., 1])
        edge = dist - self.rsum
        target, order = self._acquire(st, alive, dist, edge)

        # effective targets and whether they are within reach (edge to edge)
        engaged = (order == Order.ATTACK) | (order == Order.HEAL) | (order == Order.ATTACK_MOVE)
        tgt = target.clamp(min=0)
        has_tgt = engaged & (target >= 0) & alive & alive.gather(1, tgt)
        order = torch.where(((order == Order.ATTACK) | (order == Order.HEAL)) & ~has_tgt, Order.IDLE, order)
        tgt_edge = edge.gather(2, tgt.unsqueeze(-1)).squeeze(-1)
        in_reach = has_tgt & (tgt_edge <= self.reach)

        new_pos, order = self._move(st, order, alive, has_tgt, in_reach, tgt, dist)
        new_pos = self._collide(new_pos, alive, delta, dist)
        new_pos = self._terrain(pos, new_pos)

        health, shield, cooldown, since = self._fight(st, alive, has_tgt & in_reach, tgt, pos, dist, noise)
        health, energy = self._heal(st, health, has_tgt & in_reach, tgt)
        shield = torch.where((since >= SHIELD_REGEN_DELAY) & (health > 0),
                             torch.minimum(shield + SHIELD_REGEN, r.shield_max), shield)
        health = torch.where(health > 0, torch.minimum(health + r.hp_regen, r.health_max), health)
        energy = torch.where(r.healer, torch.clamp(energy + r.energy_regen, max=200.0), energy)

        dead = health <= 0
        return SimState(
            pos=new_pos, health=health.clamp(min=0), shield=torch.where(dead, 0.0, shield), cooldown=cooldown,
            energy=energy, since_damage=since, order=torch.where(dead, Order.IDLE, order),
            target=torch.where(dead, -1, target), goal=st.goal, last_action=st.last_action,
            heuristic_target=st.heuristic_target, steps=st.steps, episode=st.episode, ticks=st.ticks + 1,
            done=st.done,
        )

    def _acquire(self, st: SimState, alive: torch.Tensor, dist: torch.Tensor, edge: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Built-in AI target acquisition for the attack-moving enemies: keep, retaliate, or pick the nearest.

        Only enemy rows are computed: armed enemies choose among the agents, enemy healers among their own side.
        """
        r = self.r
        n = r.n_agents
        order, target = st.order, st.target
        engaged = (order[:, :n] == Order.ATTACK) & alive[:, :n]  # agents attacking ...
        attacking_me = (target[:, :n].unsqueeze(1) == self.idx[n:].view(1, -1, 1)) & engaged.unsqueeze(1)  # ... enemy e
        in_scan = edge[:, n:, :n] <= r.scan_range[n:, None]
        cand = self.attackable[n:, :n] & alive[:, None, :n] & (in_scan | attacking_me)
        score = dist[:, n:, :n] + self.unarmed_penalty[:n]
        if self.has_healer:
            frac = st.health[:, n:] / r.health_max[n:]
            heal_cand = (self.heal_pairs[n:, n:] & (edge[:, n:, n:] <= r.scan_range[n:, None])
                         & (alive[:, n:] & (frac < 1)).unsqueeze(1))
            healer = r.healer[n:, None]
            cand = torch.cat([cand & ~healer, heal_cand & healer], -1)  # columns: all units
            score = torch.cat([score, frac.unsqueeze(1).expand_as(heal_cand)], -1)
        t = target[:, n:]
        keep = (t >= 0) & cand.gather(2, t.clamp(0, cand.shape[-1] - 1).unsqueeze(-1)).squeeze(-1)
        new = torch.where(cand, score, _INF).argmin(-1)
        picked = torch.where(keep, t, torch.where(cand.any(-1), new, -1))
        am = (order[:, n:] == Order.ATTACK_MOVE) & alive[:, n:]
        return torch.cat([target[:, :n], torch.where(am, picked, t)], 1), order

    def _move(self, st: SimState, order: torch.Tensor, alive: torch.Tensor, has_tgt: torch.Tensor,
              in_reach: torch.Tensor, tgt: torch.Tensor, dist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Walk toward the order's point, or chase the target until it is within reach."""
        r = self.r
        pos = st.pos
        n = r.n_agents
        chase = has_tgt & ~in_reach
        goal = st.goal
        standoff = torch.zeros_like(st.health)
        roaming = (order == Order.ATTACK_MOVE) & ~has_tgt
        if self.hunt:  # attack the agents' units: head for the nearest living agent
            d_agents = torch.where(alive[:, None, :n], dist[:, :, :n], _INF)
            goal = torch.where(roaming.unsqueeze(-1) & ~r.is_ally[None, :, None],
                               self._gather_units(pos, d_agents.argmin(-1)), goal)
        if self.has_healer:  # an idle enemy healer follows its nearest living armed teammate
            mates = (~self.hostile & r.armed[None, :]) & alive.unsqueeze(1)
            d_mates = torch.where(mates, dist, _INF)
            mate = d_mates.argmin(-1)
            follow = roaming & r.healer & mates.any(-1)
            goal = torch.where(follow.unsqueeze(-1), self._gather_units(pos, mate), goal)
            standoff = torch.where(follow, r.radius + r.radius[mate] + _FOLLOW_GAP, standoff)
        dest = torch.where(chase.unsqueeze(-1), self._gather_units(pos, tgt), goal)
        standoff = torch.where(chase, self.reach + r.radius + r.radius[tgt] - 1e-4, standoff)
        moving = alive & (chase | (order == Order.MOVE) | roaming)
        dd = (dest - pos).norm(dim=-1)
        head = dest
        if self.flow is not None:
            head = torch.where(r.ignores_pathing.unsqueeze(-1), dest, self.flow.steer(pos, dest))
        vec = head - pos
        step = torch.minimum(r.speed.expand_as(dd), (dd - standoff).clamp(min=0)) * moving
        new_pos = pos + vec / vec.norm(dim=-1).clamp(min=1e-6).unsqueeze(-1) * step.unsqueeze(-1)
        arrived = (order == Order.MOVE) & (dd <= r.speed)
        return new_pos, torch.where(arrived, Order.IDLE, order)

    def _collide(self, pos: torch.Tensor, alive: torch.Tensor, delta: torch.Tensor, dist: torch.Tensor
                 ) -> torch.Tensor:
        """Push overlapping living units of the same collision group half the overlap apart each.

        Overlaps are measured at the start of the loop (``delta``, ``dist``), so the push lags the move by
        one game loop; that saves a second pairwise distance computation per loop.
        """
        d = dist.clamp(min=1e-4)
        delta = delta + self.nudge  # coincident units separate along x, by index order
        overlap = (self.rsum - d).clamp(min=0)
        pair = self.colliding & alive.unsqueeze(1) & alive.unsqueeze(2)
        push = (0.5 * overlap * pair / d).unsqueeze(-1) * delta
        return pos - push.sum(2)

    def _terrain(self, old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        """Keep ground units on pathable cells by sliding along the blocked axis; clamp all to the map."""
        new = new.clamp(0.0, MAP_SIZE - 1e-3)
        free = self.r.ignores_pathing.unsqueeze(-1)
        if self.box is not None:
            x0, x1, y0, y1 = self.box
            lo = torch.tensor([x0, y0], dtype=new.dtype, device=new.device)
            hi = torch.tensor([x1 - 1e-3, y1 - 1e-3], dtype=new.dtype, device=new.device)
            return torch.where(free, new, torch.maximum(torch.minimum(new, hi), lo))
        slide_x = torch.stack([new[..., 0], old[..., 1]], -1)
        slide_y = torch.stack([old[..., 0], new[..., 1]], -1)
        ok_new, ok_x, ok_y = self.walkable(new), self.walkable(slide_x), self.walkable(slide_y)
        fixed = torch.where(ok_new.unsqueeze(-1), new,
                            torch.where(ok_x.unsqueeze(-1), slide_x, torch.where(ok_y.unsqueeze(-1), slide_y, old)))
        return torch.where(free, new, fixed)

    def _fight(self, st: SimState, alive: torch.Tensor, ready: torch.Tensor, tgt: torch.Tensor, pos: torch.Tensor,
               dist: torch.Tensor, noise: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Weapons: cooldowns, hits (with splash), shields before health, armour per hit (min 0.5)."""
        r = self.r
        cooldown = (st.cooldown - 1.0).clamp(min=0)
        fire = ready & r.armed & ~r.healer & (cooldown <= 0)
        if self.has_line or self.has_suicide:
            hp_dmg, sh_dmg, hit = self.splash_damage(st, alive, fire, tgt, pos, dist)
        else:
            hp_dmg, sh_dmg, hit = self.single_target_damage(st, alive, fire, tgt)
        health = st.health - hp_dmg
        health = torch.where(fire & (r.splash == Splash.SUICIDE), 0.0, health)
        shield = (st.shield - sh_dmg).clamp(min=0)
        since = torch.where(hit, 0.0, st.since_damage + 1.0)
        period = r.cooldown.expand_as(cooldown)
        if self.jitter:
            period = period + (noise * 4).floor() - 1.0  # -1, 0, +1 or +2 game loops
        return health, shield, torch.where(fire, period, cooldown), since

    @staticmethod
    def _hits(per_hit: torch.Tensor, hits: torch.Tensor, on: torch.Tensor, shield: torch.Tensor,
              before: torch.Tensor, armour: torch.Tensor, max_hits: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Health and shield damage of ``hits`` hits of ``per_hit`` each, on a shield of which ``before`` is
        already taken this loop (all arguments broadcast together)."""
        to_health = torch.zeros_like(per_hit)
        to_shield = torch.zeros_like(per_hit)
        for j in range(max_hits):
            lands = on & (hits > j)
            absorbed = torch.minimum((shield - before - j * per_hit).clamp(min=0), per_hit)
            spill = per_hit - absorbed
            to_health = to_health + torch.where(lands & (spill > 0), (spill - armour).clamp(min=0.5), 0.0)
            to_shield = to_shield + absorbed * lands
        return to_health, to_shield

    def single_target_damage(self, st: SimState, alive: torch.Tensor, fire: torch.Tensor, tgt: torch.Tensor
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, U) health damage, shield damage, was-hit when every attacker hits only its target.

        Several attackers on one victim are resolved in attacker index order (shields first)."""
        r = self.r
        per_hit = r.damage[self.idx, tgt]  # (B, U) per attacker
        on = fire & alive.gather(1, tgt) & (per_hit > 0)
        per_hit = per_hit * on
        total = per_hit * r.hits
        same_victim_before = (tgt.unsqueeze(2) == tgt.unsqueeze(1)) & self.lower  # [b, a, a'], a' < a
        before = (same_victim_before * total.unsqueeze(1)).sum(-1)
        to_health, to_shield = self._hits(per_hit, r.hits, on, st.shield.gather(1, tgt), before, r.armour[tgt],
                                          self.max_hits)
        zeros = torch.zeros_like(st.health)
        return (zeros.scatter_add(1, tgt, to_health), zeros.scatter_add(1, tgt, to_shield),
                zeros.scatter_add(1, tgt, on.float()) > 0)

    def splash_damage(self, st: SimState, alive: torch.Tensor, fire: torch.Tensor, tgt: torch.Tensor,
                      pos: torch.Tensor, dist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Like ``single_target_damage``, with colossus beams and baneling bursts hitting several victims."""
        r = self.r
        hitmask = torch.nn.functional.one_hot(tgt, tgt.shape[1]).bool()  # [b, attacker, victim]
        if self.has_line:
            hitmask = hitmask | self._line_splash(pos, tgt)
        if self.has_suicide:
            radial = dist <= (r.splash_radius[:, None] + r.radius[None, :])
            hitmask = hitmask | (radial & (r.splash == Splash.SUICIDE)[None, :, None])
        hitmask = hitmask & self.can_hit & alive.unsqueeze(1) & fire.unsqueeze(-1)
        per_hit = r.damage * hitmask
        hits = r.hits.view(1, -1, 1)
        total = per_hit * hits
        before = total.cumsum(1) - total  # shield already taken by lower-indexed attackers this loop
        to_health, to_shield = self._hits(per_hit, hits, hitmask, st.shield.unsqueeze(1), before,
                                          r.armour.view(1, 1, -1), self.max_hits)
        return to_health.sum(1), to_shield.sum(1), hitmask.any(1)

    def _line_splash(self, pos: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """[b, attacker, victim]: victim touches the colossus beam across the line of fire at the target."""
        r = self.r
        tpos = self._gather_units(pos, tgt)  # (B, U, 2)
        fwd = tpos - pos
        fwd = fwd / fwd.norm(dim=-1, keepdim=True).clamp(min=1e-6)
        side = torch.stack([-fwd[..., 1], fwd[..., 0]], -1)
        rel = pos.unsqueeze(1) - tpos.unsqueeze(2)  # [b, a, v] = p_v - target_a
        along = (rel * fwd.unsqueeze(2)).sum(-1).abs()
        across = (rel * side.unsqueeze(2)).sum(-1).abs()
        rv = r.radius.view(1, 1, -1)
        beam = (across <= _LINE_HALF_LENGTH + rv) & (along <= _LINE_HALF_WIDTH + rv)
        return beam & (r.splash == Splash.LINE).view(1, -1, 1)

    def _heal(self, st: SimState, health: torch.Tensor, ready: torch.Tensor, tgt: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Medivacs heal their target by up to ``heal_rate`` a loop, paying 1 energy per 3 health."""
        r = self.r
        energy = st.energy
        if not self.has_healer:
            return health, energy
        t_health = health.gather(1, tgt)
        room = (r.health_max[tgt] - t_health).clamp(min=0)
        healing = ready & r.healer & (t_health > 0) & r.heal_target_ok[tgt]
        amount = torch.minimum(torch.minimum(r.heal_rate.expand_as(room), room), energy * HEAL_PER_ENERGY) * healing
        return health.scatter_add(1, tgt, amount), energy - amount / HEAL_PER_ENERGY
