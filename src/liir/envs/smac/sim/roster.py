"""Static per-map unit tables: who is where at spawn, in SMAC's index order, with their stats as tensors.

Units are indexed ``0..N-1`` for the agents (sorted by (RL unit-type id, x, y) as SMAC does) and
``N..N+M-1`` for the enemies (creation order). Every per-unit stat becomes a ``(U,)`` tensor so that
the mechanics can work on whole batches with broadcasting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from liir.envs.smac.maps import Group, MapParams
from liir.envs.smac.terrain import MAP_SIZE, Terrain
from liir.envs.smac.units import ALLY_TYPE_RANK, UNIT_TYPES, Attr, UnitType, hit_damage, rl_variant

# One-hot orders of SMAC's unit-type bits (smac-interface.md §13), per map_type: (ally order, enemy order).
TYPE_BITS: dict[str, tuple[list[str], list[str]]] = {
    "stalkers_and_zealots": (["stalker", "zealot"], ["zealot", "stalker"]),
    "colossi_stalkers_zealots": (["colossus", "stalker", "zealot"], ["colossus", "stalker", "zealot"]),
    "MMM": (["marauder", "marine", "medivac"], ["marauder", "marine", "medivac"]),
    "bane": (["baneling", "zergling"], ["baneling", "zergling"]),
}
SPAWN_GAP = 0.1  # free space between neighbouring units in a spawn cluster


def _cluster(
    groups: list[Group], terrain: Terrain, taken: list[tuple[float, float, float]]
) -> list[tuple[str, float, float]]:
    """Place the units of all groups sharing a point in a tight lattice cluster on pathable ground.

    ``taken`` holds (x, y, radius) of units already placed; it is extended with the new ones.
    """
    out: list[tuple[str, float, float]] = []
    by_point: dict[tuple[float, float], list[str]] = {}
    for g in groups:
        by_point.setdefault(g.at, []).extend([g.unit] * g.count)
    for (cx, cy), names in by_point.items():
        spacing = 2 * max(UNIT_TYPES[n].radius for n in names) + SPAWN_GAP
        k = int(math.ceil(math.sqrt(len(names)))) + 4
        cand = [(cx + i * spacing, cy + j * spacing) for i in range(-k, k + 1) for j in range(-k, k + 1)]
        cand.sort(key=lambda p: (round((p[0] - cx) ** 2 + (p[1] - cy) ** 2, 6), math.atan2(p[1] - cy, p[0] - cx)))
        half = spacing / 2
        free = [
            p
            for p in cand
            if all(_pathable(terrain, p[0] + dx, p[1] + dy) for dx in (-half, half) for dy in (-half, half))
            and all(math.hypot(p[0] - x, p[1] - y) >= half + r for x, y, r in taken)
        ]
        for name, (x, y) in zip(names, free[: len(names)], strict=True):
            out.append((name, x, y))
            taken.append((x, y, half))
    return out


def _pathable(terrain: Terrain, x: float, y: float) -> bool:
    cx, cy = int(math.floor(x)), int(math.floor(y))
    return 0 <= cx < MAP_SIZE and 0 <= cy < MAP_SIZE and bool(terrain.pathable[cx, cy])


@dataclass
class Roster:
    """Per-unit static tensors of one map (U = N + M units) on one device."""

    n_agents: int
    n_enemies: int
    names: list[str]
    types: list[UnitType]
    init_pos: torch.Tensor  # (U, 2)
    is_ally: torch.Tensor  # (U,) bool
    health_max: torch.Tensor
    shield_max: torch.Tensor
    armour: torch.Tensor
    radius: torch.Tensor
    speed: torch.Tensor
    weapon_range: torch.Tensor
    cooldown: torch.Tensor
    hits: torch.Tensor  # (U,) long
    splash: torch.Tensor  # (U,) long, units.Splash
    splash_radius: torch.Tensor
    scan_range: torch.Tensor
    hp_regen: torch.Tensor
    healer: torch.Tensor  # (U,) bool
    heal_rate: torch.Tensor
    heal_range: torch.Tensor
    heal_target_ok: torch.Tensor  # (U,) bool: biological, can be healed by a medivac
    energy_start: torch.Tensor
    energy_regen: torch.Tensor
    max_cd: torch.Tensor
    armed: torch.Tensor  # (U,) bool
    collision_group: torch.Tensor  # (U,) long: 0 small ground, 1 massive ground, 2 air
    ignores_pathing: torch.Tensor  # (U,) bool: air units and the cliff-walking colossus
    sc2_id: torch.Tensor  # (U,) long, stock ids (allies get SMAC's relative ids in get_unit_types)
    damage: torch.Tensor  # (U, U) per-hit damage [attacker, victim], 0 for same team or unreachable plane
    type_onehot: torch.Tensor  # (U, utb) SMAC unit-type bits (ally order for agents, enemy order for enemies)
    ally_medivac: torch.Tensor  # (N,) bool, agents that heal instead of attack (MMM maps)

    @staticmethod
    def build(m: MapParams, terrain: Terrain, device: torch.device) -> Roster:
        """Lay out the spawn clusters and gather every stat into tensors."""
        taken: list[tuple[float, float, float]] = []
        allies = _cluster(list(m.allies), terrain, taken)
        allies.sort(key=lambda u: (ALLY_TYPE_RANK[u[0]], u[1], u[2]))
        enemies = _cluster(list(m.enemies), terrain, taken)
        units = [(rl_variant(n), x, y) for n, x, y in allies] + [(UNIT_TYPES[n], x, y) for n, x, y in enemies]
        types = [u for u, _, _ in units]
        n = m.n_agents
        ally_bits, enemy_bits = TYPE_BITS.get(m.map_type, ([], []))
        onehot = np.zeros((len(units), m.unit_type_bits), dtype=np.float32)
        for i, t in enumerate(types):
            order = ally_bits if i < n else enemy_bits
            if t.name in order:
                onehot[i, order.index(t.name)] = 1.0
        team = np.array([i < n for i in range(len(units))])
        dmg = np.array(
            [
                [hit_damage(a, v) if team[i] != team[j] else 0.0 for j, v in enumerate(types)]
                for i, a in enumerate(types)
            ],
            dtype=np.float32,
        )

        def f(attr: str) -> torch.Tensor:
            return torch.tensor([float(getattr(t, attr)) for t in types], dtype=torch.float32, device=device)

        def b(values: list[bool]) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.bool, device=device)

        group = [2 if t.air else (1 if t.attrs & Attr.MASSIVE else 0) for t in types]
        return Roster(
            n_agents=n,
            n_enemies=m.n_enemies,
            names=[t.name for t in types],
            types=types,
            init_pos=torch.tensor([[x, y] for _, x, y in units], dtype=torch.float32, device=device),
            is_ally=b(list(team)),
            health_max=f("health"),
            shield_max=f("shield"),
            armour=f("armour"),
            radius=f("radius"),
            speed=f("speed"),
            weapon_range=f("weapon_range"),
            cooldown=f("cooldown"),
            hits=torch.tensor([t.hits for t in types], device=device),
            splash=torch.tensor([t.splash for t in types], device=device),
            splash_radius=f("splash_radius"),
            scan_range=f("scan_range"),
            hp_regen=f("hp_regen"),
            healer=b([t.healer for t in types]),
            heal_rate=f("heal_rate"),
            heal_range=f("heal_range"),
            heal_target_ok=b([bool(t.attrs & Attr.BIOLOGICAL) for t in types]),
            energy_start=f("energy_start"),
            energy_regen=f("energy_regen"),
            max_cd=f("max_cd"),
            armed=b([t.armed for t in types]),
            collision_group=torch.tensor(group, device=device),
            ignores_pathing=b([t.air or bool(t.attrs & Attr.MASSIVE) for t in types]),
            sc2_id=torch.tensor([t.sc2_id for t in types], device=device),
            damage=torch.from_numpy(dmg).to(device),
            type_onehot=torch.from_numpy(onehot).to(device),
            ally_medivac=b([t.healer and m.map_type == "MMM" for t in types[:n]]),
        )
