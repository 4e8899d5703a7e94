"""One StarCraft II game loop for B copies at once: targeting, movement, collisions, combat, regeneration.

The loop works on ``Units``, the batch-last layout: per-unit values are (U, B) and unit pairs (U, U, B),
indexed [i, j, b]. Every rule is one batched tensor operation; the only Python loops run over the fixed
number of hits per attack. Decisions in a loop use the positions at its start and all attacks of a loop
resolve simultaneously (see docs/simulator.md for the deviations from SC2's sequential unit updates).
"""

from __future__ import annotations

import torch

from liir.envs.smac.sim.pathing import FlowField
from liir.envs.smac.sim.roster import Roster
from liir.envs.smac.sim.state import Order, Units, ordered_sum
from liir.envs.smac.terrain import MAP_SIZE
from liir.envs.smac.units import HEAL_PER_ENERGY, SHIELD_REGEN, SHIELD_REGEN_DELAY, Splash

_INF = 1e9
_UNARMED_PENALTY = 1e3  # armed threats rank before unarmed units in target acquisition
_LINE_HALF_LENGTH = 1.4  # colossus splash: 2.8 long across the line of fire ...
_LINE_HALF_WIDTH = 0.15  # ... and 0.3 deep, centred on the target
_FOLLOW_GAP = 1.0  # an idle enemy medivac keeps this edge distance to the teammate it follows
_MAX_ENERGY = 200.0


def _col(t: torch.Tensor) -> torch.Tensor:
    """A static per-unit (U,) or per-pair (U, U) table with a trailing batch axis of 1."""
    return t.unsqueeze(-1)


def _norm(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x * x + y * y).sqrt()


class Mechanics:
    """The game-loop rules of one map, with its static unit tables and pathing grid on one device.

    Static tables are stored with a trailing batch axis of 1 so that they broadcast against (U, B) and
    (U, U, B) tensors; ``r`` keeps the plain (U,) tables for lookups by a unit index.
    """

    def __init__(
        self,
        roster: Roster,
        pathable: torch.Tensor,
        box: tuple[int, int, int, int] | None,
        flow: FlowField | None,
        hunt: bool,
        jitter: bool,
    ) -> None:
        self.r = roster
        n = self.n = roster.n_agents
        self.flow = flow  # path planning around walls, for maps whose pathable area is not a rectangle
        self.pathable = pathable.flatten()  # (32*32,) bool, index x*32 + y
        self.box = box  # a rectangular pathable area: terrain handling is a clamp
        self.hunt = hunt
        self.jitter = jitter
        u = self.u = roster.init_pos.shape[0]
        idx = torch.arange(u, device=pathable.device)
        hostile = roster.is_ally[:, None] != roster.is_ally[None, :]
        rsum = roster.radius[:, None] + roster.radius[None, :]
        self.idx = _col(idx)  # (U, 1)
        self.pair_idx = idx.view(1, u, 1)  # [., j, .] = j
        self.rsum = _col(rsum)
        self.can_hit = _col(roster.damage > 0)
        self.damage = _col(roster.damage)
        self.damage_flat = roster.damage.flatten()  # index attacker * U + victim
        self.lower = _col(idx[None, :] < idx[:, None])  # [a, a'] = a' < a
        self.colliding = _col(
            (roster.collision_group[:, None] == roster.collision_group[None, :]) & (idx[:, None] != idx[None, :])
        )
        order_sign = torch.sign(idx[None, :] - idx[:, None]).float()
        self.nudge = _col(order_sign * 1e-4)  # coincident units separate along x, by index order
        # enemy rows of target acquisition: [enemy e, agent a]
        self.acq_attackable = _col((hostile & (roster.damage > 0))[n:, :n])
        self.acq_rsum = _col(rsum[n:, :n])
        self.acq_scan = _col(_col(roster.scan_range[n:]))  # (M, 1, 1)
        self.acq_penalty = _col(_UNARMED_PENALTY * (~roster.armed[:n]).float()).unsqueeze(0)  # (1, N, 1)
        self.enemy_idx = _col(_col(idx[n:]))  # (M, 1, 1)
        reach = torch.where(roster.healer, roster.heal_range, roster.weapon_range)
        self.acq_agent_reach = _col(reach[:n]).unsqueeze(0)  # (1, N, 1)
        heal_pairs = (
            ~hostile & (idx[:, None] != idx[None, :]) & roster.heal_target_ok[None, :] & ~roster.healer[None, :]
        )  # [healer, patient] candidates, before range and damage
        self.acq_heal_pairs = _col(heal_pairs[n:, n:])
        self.acq_heal_rsum = _col(rsum[n:, n:])
        self.acq_healer = _col(_col(roster.healer[n:]))
        self.mates = _col(~hostile & roster.armed[None, :])  # an idle enemy healer's teammates to follow
        self.max_hits = int(roster.hits.max())
        self.has_line = bool((roster.splash == Splash.LINE).any())
        self.has_suicide = bool((roster.splash == Splash.SUICIDE).any())
        self.has_healer = bool(roster.healer.any())
        # per-unit (U, 1) stats
        self.radius = _col(roster.radius)
        self.speed = _col(roster.speed)
        self.reach = _col(torch.where(roster.healer, roster.heal_range, roster.weapon_range))
        self.shooter = _col(roster.armed & ~roster.healer)
        self.suicide = _col(roster.splash == Splash.SUICIDE)
        self.line = _col(_col(roster.splash == Splash.LINE))  # (A, 1, 1)
        self.radial = _col(roster.splash_radius[:, None] + roster.radius[None, :])  # [attacker, victim]
        self.hits = _col(roster.hits)
        self.period = _col(roster.cooldown)
        self.healer = _col(roster.healer)
        self.heal_rate = _col(roster.heal_rate)
        self.health_max = _col(roster.health_max)
        self.shield_max = _col(roster.shield_max)
        self.hp_regen = _col(roster.hp_regen)
        self.energy_regen = _col(roster.energy_regen)
        self.ignores_pathing = _col(roster.ignores_pathing)
        self.enemy = _col(~roster.is_ally)

    # -- helpers ---------------------------------------------------------------------------------------
    def walkable(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Whether the cell under each point is inside the map and pathable."""
        cx, cy = x.floor().long(), y.floor().long()
        inside = (cx >= 0) & (cx < MAP_SIZE) & (cy >= 0) & (cy < MAP_SIZE)
        return inside & self.pathable[cx.clamp(0, MAP_SIZE - 1) * MAP_SIZE + cy.clamp(0, MAP_SIZE - 1)]

    # -- the loop ----------------------------------------------------------------------------------------
    def loop(self, u: Units, noise: torch.Tensor) -> Units:
        """Advance every copy by one game loop; ``noise`` (U, B) uniform in [0, 1) drives the cooldown jitter.

        The per-unit flags that many rules read (has a target, target in reach, fires, hit lands) are float 0/1
        tensors used both in products and in comparisons: the compiler then stores the float (written as whole
        vectors) and inlines the cheap comparisons, where a bool buffer would be written one element at a time.
        """
        alive = u.health > 0
        dx = u.x.unsqueeze(0) - u.x.unsqueeze(1)  # [i, j, b] = x_j - x_i
        dy = u.y.unsqueeze(0) - u.y.unsqueeze(1)
        dist = _norm(dx, dy)
        target = self._acquire(u, alive, dist)

        # effective targets and whether they are within reach (edge to edge)
        order = u.order
        ordered = (order == Order.ATTACK) | (order == Order.HEAL)
        tgt = target.clamp(min=0)
        has_tgt = ((ordered | (order == Order.ATTACK_MOVE)) & (target >= 0) & alive & alive.gather(0, tgt)).float()
        order = torch.where(ordered & (has_tgt == 0), Order.IDLE, order)
        tx, ty = u.x.gather(0, tgt), u.y.gather(0, tgt)
        t_radius = self.r.radius[tgt]
        in_reach = has_tgt * (_norm(tx - u.x, ty - u.y) - (self.radius + t_radius) <= self.reach)

        x, y, order = self._move(u, order, alive, has_tgt > 0, in_reach > 0, tx, ty, t_radius, dist)
        x, y = self._collide(x, y, alive, dx, dy, dist)
        x, y = self._terrain(u.x, u.y, x, y)

        health, shield, cooldown, since = self._fight(u, alive, in_reach, tgt, dist, noise)
        health, energy = self._heal(u, health, in_reach > 0, tgt)
        shield = torch.where(
            (since >= SHIELD_REGEN_DELAY) & (health > 0), torch.minimum(shield + SHIELD_REGEN, self.shield_max), shield
        )
        health = torch.where(health > 0, torch.minimum(health + self.hp_regen, self.health_max), health)
        energy = torch.where(self.healer, torch.clamp(energy + self.energy_regen, max=_MAX_ENERGY), energy)

        dead = health <= 0
        return Units(
            x=x,
            y=y,
            health=health.clamp(min=0),
            shield=torch.where(dead, 0.0, shield),
            cooldown=cooldown,
            energy=energy,
            since_damage=since,
            order=torch.where(dead, Order.IDLE, order),
            target=torch.where(dead, -1, target),
            goal_x=u.goal_x,
            goal_y=u.goal_y,
        )

    def _acquire(self, u: Units, alive: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        """Built-in AI target acquisition for the attack-moving enemies: keep, retaliate, or pick the nearest.

        Only enemy rows are computed: armed enemies choose among the agents, enemy healers among their own side.
        """
        n = self.n
        order, target = u.order, u.target
        engaged = (order[:n] == Order.ATTACK) & alive[:n]  # agents attacking ...
        d = dist[n:, :n]
        edge = d - self.acq_rsum
        # ... enemy e from within their weapon range: the enemy is being shot at by them
        attacking_me = (
            (target[:n].unsqueeze(0) == self.enemy_idx) & engaged.unsqueeze(0) & (edge <= self.acq_agent_reach)
        )  # (M, N, B)
        in_scan = edge <= self.acq_scan
        cand = self.acq_attackable & alive[:n].unsqueeze(0) & (in_scan | attacking_me)
        score = d + self.acq_penalty
        if self.has_healer:
            frac = u.health[n:] / self.health_max[n:]
            heal_cand = (
                self.acq_heal_pairs
                & (dist[n:, n:] - self.acq_heal_rsum <= self.acq_scan)
                & (alive[n:] & (frac < 1)).unsqueeze(0)
            )
            cand = torch.cat([cand & ~self.acq_healer, heal_cand & self.acq_healer], 1)  # columns: all units
            score = torch.cat([score, frac.unsqueeze(0).expand_as(heal_cand)], 1)
        t = target[n:]
        score = torch.where(cand, score, _INF)  # only float tensors are materialised: bool buffers are slow
        best, new = score.min(1)
        keep = (t >= 0) & (score.gather(1, t.clamp(0, score.shape[1] - 1).unsqueeze(1)).squeeze(1) < _INF)
        picked = torch.where(keep, t, torch.where(best < _INF, new, -1))
        am = (order[n:] == Order.ATTACK_MOVE) & alive[n:]
        return torch.cat([target[:n], torch.where(am, picked, t)], 0)

    def _move(
        self,
        u: Units,
        order: torch.Tensor,
        alive: torch.Tensor,
        has_tgt: torch.Tensor,
        in_reach: torch.Tensor,
        tx: torch.Tensor,
        ty: torch.Tensor,
        t_radius: torch.Tensor,
        dist: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Walk toward the order's point, or chase the target until it is within reach."""
        n = self.n
        x, y = u.x, u.y
        chase = has_tgt & ~in_reach
        gx, gy = u.goal_x, u.goal_y
        standoff = torch.zeros_like(u.health)
        roaming = (order == Order.ATTACK_MOVE) & ~has_tgt
        if self.hunt:  # attack the agents' units: enemies head for the nearest living agent
            near = torch.where(alive[:n].unsqueeze(0), dist[n:, :n], _INF).argmin(1)  # (M, B)
            hunting = roaming[n:]
            gx = torch.cat([gx[:n], torch.where(hunting, x[:n].gather(0, near), gx[n:])], 0)
            gy = torch.cat([gy[:n], torch.where(hunting, y[:n].gather(0, near), gy[n:])], 0)
        if self.has_healer:  # an idle enemy healer follows its nearest living armed teammate
            mates = self.mates & alive.unsqueeze(0)
            mate = torch.where(mates, dist, _INF).argmin(1)
            follow = roaming & self.healer & mates.any(1)
            gx = torch.where(follow, x.gather(0, mate), gx)
            gy = torch.where(follow, y.gather(0, mate), gy)
            standoff = torch.where(follow, self.radius + self.r.radius[mate] + _FOLLOW_GAP, standoff)
        dest_x, dest_y = torch.where(chase, tx, gx), torch.where(chase, ty, gy)
        standoff = torch.where(chase, self.reach + self.radius + t_radius - 1e-4, standoff)
        moving = alive & (chase | (order == Order.MOVE) | roaming)
        vx, vy = dest_x - x, dest_y - y
        dd = _norm(vx, vy)
        vn = dd
        if self.flow is not None:
            sx, sy = self.flow.steer(x, y, dest_x, dest_y)
            vx = torch.where(self.ignores_pathing, vx, sx - x)
            vy = torch.where(self.ignores_pathing, vy, sy - y)
            vn = _norm(vx, vy)
        step = torch.minimum(self.speed, (dd - standoff).clamp(min=0)) * moving
        vn = vn.clamp(min=1e-6)
        arrived = (order == Order.MOVE) & (dd <= self.speed)
        return x + vx / vn * step, y + vy / vn * step, torch.where(arrived, Order.IDLE, order)

    def _collide(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        alive: torch.Tensor,
        dx: torch.Tensor,
        dy: torch.Tensor,
        dist: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Push overlapping living units of the same collision group half the overlap apart each.

        Overlaps are measured at the start of the loop (``dx``, ``dy``, ``dist``), so the push lags the move
        by one game loop; that saves a second pairwise distance computation per loop.
        """
        d = dist.clamp(min=1e-4)
        overlap = (self.rsum - d).clamp(min=0)
        pair = self.colliding & alive.unsqueeze(0) & alive.unsqueeze(1)
        w = 0.5 * overlap * pair / d
        return x - ordered_sum(w * (dx + self.nudge), 1), y - ordered_sum(w * dy, 1)

    def _terrain(
        self, ox: torch.Tensor, oy: torch.Tensor, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Keep ground units on pathable cells by sliding along the blocked axis; clamp all to the map."""
        x, y = x.clamp(0.0, MAP_SIZE - 1e-3), y.clamp(0.0, MAP_SIZE - 1e-3)
        free = self.ignores_pathing
        if self.box is not None:
            x0, x1, y0, y1 = self.box
            return (
                torch.where(free, x, x.clamp(float(x0), x1 - 1e-3)),
                torch.where(free, y, y.clamp(float(y0), y1 - 1e-3)),
            )
        ok_new, ok_x, ok_y = self.walkable(x, y), self.walkable(x, oy), self.walkable(ox, y)
        fx = torch.where(ok_new | ok_x, x, ox)
        fy = torch.where(ok_new | (~ok_x & ok_y), y, oy)
        return torch.where(free, x, fx), torch.where(free, y, fy)

    def _fight(
        self,
        u: Units,
        alive: torch.Tensor,
        ready: torch.Tensor,
        tgt: torch.Tensor,
        dist: torch.Tensor,
        noise: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Weapons: cooldowns, hits (with splash), shields before health, armour per hit (min 0.5).

        ``ready`` (U, B) float 0/1: the target is within reach."""
        cooldown = (u.cooldown - 1.0).clamp(min=0)
        fire = ready * (self.shooter & (cooldown <= 0))  # float 0/1
        if self.has_line or self.has_suicide:
            hp_dmg, sh_dmg, hit = self.splash_damage(u, alive, fire, tgt, dist)
        else:
            hp_dmg, sh_dmg, hit = self.single_target_damage(u, alive, fire, tgt)
        health = u.health - hp_dmg
        if self.has_suicide:
            health = torch.where((fire > 0) & self.suicide, 0.0, health)
        shield = (u.shield - sh_dmg).clamp(min=0)
        since = torch.where(hit, 0.0, u.since_damage + 1.0)
        period = self.period
        if self.jitter:
            period = period + (noise * 4).floor() - 1.0  # -1, 0, +1 or +2 game loops
        return health, shield, torch.where(fire > 0, period, cooldown), since

    @staticmethod
    def _hits(
        per_hit: torch.Tensor,
        hits: torch.Tensor,
        on: torch.Tensor,
        shield: torch.Tensor,
        before: torch.Tensor,
        armour: torch.Tensor,
        max_hits: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
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

    def single_target_damage(
        self, u: Units, alive: torch.Tensor, fire: torch.Tensor, tgt: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(U, B) health damage, shield damage, was-hit when every attacker hits only its target.

        ``fire`` (U, B) 0/1, float or bool. Several attackers on one victim are resolved in attacker index order
        (shields first)."""
        per_hit = self.damage_flat[self.idx * self.u + tgt]  # (U, B) per attacker
        on = (fire * (alive.gather(0, tgt) & (per_hit > 0))).float()  # 0/1
        per_hit = per_hit * on
        total = per_hit * self.hits
        same_victim_before = (tgt.unsqueeze(1) == tgt.unsqueeze(0)) & self.lower  # [a, a', b], a' < a
        before = (same_victim_before * total.unsqueeze(0)).sum(1)
        to_health, to_shield = self._hits(
            per_hit, self.hits, on > 0, u.shield.gather(0, tgt), before, self.r.armour[tgt], self.max_hits
        )
        zeros = torch.zeros_like(u.health)
        return (
            zeros.scatter_add(0, tgt, to_health),
            zeros.scatter_add(0, tgt, to_shield),
            zeros.scatter_add(0, tgt, on) > 0,
        )

    def splash_damage(
        self, u: Units, alive: torch.Tensor, fire: torch.Tensor, tgt: torch.Tensor, dist: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Like ``single_target_damage``, with colossus beams and baneling bursts hitting several victims."""
        hitmask = tgt.unsqueeze(1) == self.pair_idx  # [attacker, victim, b]
        if self.has_line:
            hitmask = hitmask | self._line_splash(u, tgt)
        if self.has_suicide:
            hitmask = hitmask | ((dist <= self.radial) & self.suicide.unsqueeze(1))
        hitmask = hitmask & self.can_hit & alive.unsqueeze(0) & (fire > 0).unsqueeze(1)
        per_hit = self.damage * hitmask
        hits = self.hits.unsqueeze(1)
        total = per_hit * hits
        before = total.cumsum(0) - total  # shield already taken by lower-indexed attackers this loop
        to_health, to_shield = self._hits(
            per_hit, hits, hitmask, u.shield.unsqueeze(0), before, self.r.armour.view(1, -1, 1), self.max_hits
        )
        return to_health.sum(0), to_shield.sum(0), hitmask.any(0)

    def _line_splash(self, u: Units, tgt: torch.Tensor) -> torch.Tensor:
        """[attacker, victim, b]: the victim touches the colossus beam across the line of fire at the target."""
        tx, ty = u.x.gather(0, tgt), u.y.gather(0, tgt)
        fx, fy = tx - u.x, ty - u.y
        fn = _norm(fx, fy).clamp(min=1e-6)
        fx, fy = (fx / fn).unsqueeze(1), (fy / fn).unsqueeze(1)
        rx = u.x.unsqueeze(0) - tx.unsqueeze(1)  # [a, v] = x_v - target_a
        ry = u.y.unsqueeze(0) - ty.unsqueeze(1)
        along = (rx * fx + ry * fy).abs()
        across = (rx * -fy + ry * fx).abs()
        rv = self.radius.unsqueeze(0)
        beam = (across <= _LINE_HALF_LENGTH + rv) & (along <= _LINE_HALF_WIDTH + rv)
        return beam & self.line

    def _heal(
        self, u: Units, health: torch.Tensor, ready: torch.Tensor, tgt: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Medivacs heal their target by up to ``heal_rate`` a loop, paying 1 energy per 3 health."""
        energy = u.energy
        if not self.has_healer:
            return health, energy
        t_health = health.gather(0, tgt)
        room = (self.r.health_max[tgt] - t_health).clamp(min=0)
        healing = ready & self.healer & (t_health > 0) & self.r.heal_target_ok[tgt]
        amount = torch.minimum(torch.minimum(self.heal_rate, room), energy * HEAL_PER_ENERGY) * healing
        return health.scatter_add(0, tgt, amount), energy - amount / HEAL_PER_ENERGY
