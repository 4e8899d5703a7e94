"""SMAC's map registry: per-map parameters (smac-interface.md §11) and geometry from the map files (§12).

``SMAC_MAPS`` holds every map of SMAC's ``map_param_registry``. Unit groups are listed in the order the
map script creates them (which is the enemies' index order); points are world coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

Point = tuple[float, float]


@dataclass(frozen=True)
class Group:
    """``count`` units of one type spawned together around ``at``."""

    unit: str
    count: int
    at: Point


@dataclass(frozen=True)
class EnemyOrder:
    """The map script's order to the enemy army at spawn.

    ``attack_move``: attack-move to ``point``; ``attack_move_between``: to a uniformly random point on the
    segment ``point``-``point2`` (drawn per episode); ``hunt``: attack the agents' units (attack-move
    toward the nearest living agent); ``none``: no order (static defence).
    """

    kind: str
    point: Point = (0.0, 0.0)
    point2: Point = (0.0, 0.0)


@dataclass(frozen=True)
class MapParams:
    """One SMAC map: SMAC's registry entry plus spawn groups, enemy order and terrain."""

    name: str
    n_agents: int
    n_enemies: int
    limit: int
    a_race: str
    b_race: str
    unit_type_bits: int
    map_type: str
    allies: tuple[Group, ...]
    enemies: tuple[Group, ...]
    order: EnemyOrder
    terrain: str


_TEAM1: Point = (9.0, 16.0)
_TEAM2: Point = (23.0, 16.0)
_TO_TEAM1 = EnemyOrder("attack_move", _TEAM1)


def _mirror(
    name: str,
    limit: int,
    race: str,
    utb: int,
    map_type: str,
    allies: list[tuple[str, int]],
    enemies: list[tuple[str, int]],
    terrain: str = "band",
) -> MapParams:
    """A standard map: allies at "Team 1", enemies at "Team 2", enemies attack-move to Team 1."""
    return MapParams(
        name,
        sum(c for _, c in allies),
        sum(c for _, c in enemies),
        limit,
        race,
        race,
        utb,
        map_type,
        tuple(Group(u, c, _TEAM1) for u, c in allies),
        tuple(Group(u, c, _TEAM2) for u, c in enemies),
        _TO_TEAM1,
        terrain,
    )


def _marines(name: str, n: int, m: int, limit: int) -> MapParams:
    return _mirror(name, limit, "T", 0, "marines", [("marine", n)], [("marine", m)])


_CORRIDOR_ATTACK = EnemyOrder("attack_move", (4.47, 4.33))

_MAPS: list[MapParams] = [
    _marines("3m", 3, 3, 60),
    _marines("8m", 8, 8, 120),
    _marines("25m", 25, 25, 150),
    _marines("5m_vs_6m", 5, 6, 70),
    _marines("8m_vs_9m", 8, 9, 120),
    _marines("10m_vs_11m", 10, 11, 150),
    _marines("27m_vs_30m", 27, 30, 180),
    _mirror(
        "MMM",
        150,
        "T",
        3,
        "MMM",
        [("medivac", 1), ("marauder", 2), ("marine", 7)],
        [("marine", 7), ("marauder", 2), ("medivac", 1)],
    ),
    _mirror(
        "MMM2",
        180,
        "T",
        3,
        "MMM",
        [("medivac", 1), ("marauder", 2), ("marine", 7)],
        [("marine", 8), ("marauder", 3), ("medivac", 1)],
    ),
    _mirror(
        "2s3z", 120, "P", 2, "stalkers_and_zealots", [("stalker", 2), ("zealot", 3)], [("stalker", 2), ("zealot", 3)]
    ),
    _mirror(
        "3s5z", 150, "P", 2, "stalkers_and_zealots", [("stalker", 3), ("zealot", 5)], [("stalker", 3), ("zealot", 5)]
    ),
    _mirror(
        "3s5z_vs_3s6z",
        170,
        "P",
        2,
        "stalkers_and_zealots",
        [("stalker", 3), ("zealot", 5)],
        [("stalker", 3), ("zealot", 6)],
    ),
    _mirror("3s_vs_3z", 150, "P", 0, "stalkers", [("stalker", 3)], [("zealot", 3)], "flat"),
    _mirror("3s_vs_4z", 200, "P", 0, "stalkers", [("stalker", 3)], [("zealot", 4)], "flat"),
    _mirror("3s_vs_5z", 250, "P", 0, "stalkers", [("stalker", 3)], [("zealot", 5)], "flat"),
    _mirror(
        "1c3s5z",
        180,
        "P",
        3,
        "colossi_stalkers_zealots",
        [("colossus", 1), ("stalker", 3), ("zealot", 5)],
        [("colossus", 1), ("stalker", 3), ("zealot", 5)],
    ),
    MapParams(
        "2m_vs_1z",
        2,
        1,
        150,
        "T",
        "P",
        0,
        "marines",
        (Group("marine", 1, (13.0, 12.0)), Group("marine", 1, (19.0, 12.0))),
        (Group("zealot", 1, (16.0, 19.0)),),
        EnemyOrder("attack_move_between", (13.0, 12.0), (19.0, 12.0)),
        "octagon",
    ),
    MapParams(
        "corridor",
        6,
        24,
        400,
        "P",
        "Z",
        0,
        "zealots",
        (Group("zealot", 6, (19.04, 19.12)),),
        (Group("zergling", 24, (27.91, 28.24)),),
        _CORRIDOR_ATTACK,
        "corridor",
    ),
    MapParams(
        "6h_vs_8z",
        6,
        8,
        150,
        "Z",
        "P",
        0,
        "hydralisks",
        (Group("hydralisk", 6, (14.60, 9.49)),),
        (Group("zealot", 8, (14.41, 16.76)),),
        EnemyOrder("attack_move", (14.60, 9.49)),
        "plateau_6h",
    ),
    MapParams(
        "2s_vs_1sc",
        2,
        1,
        300,
        "P",
        "Z",
        0,
        "stalkers",
        (Group("stalker", 1, (11.12, 10.34)), Group("stalker", 1, (16.98, 10.37))),
        (Group("spinecrawler", 1, (13.92, 20.04)),),
        EnemyOrder("none"),
        "plateau_2s1sc",
    ),
    MapParams(
        "so_many_baneling",
        7,
        32,
        100,
        "P",
        "Z",
        0,
        "zealots",
        (Group("zealot", 7, (11.47, 12.02)),),
        (Group("baneling", 32, (27.91, 28.24)),),
        _CORRIDOR_ATTACK,
        "so_many_baneling",
    ),
    MapParams(
        "bane_vs_bane",
        24,
        24,
        200,
        "Z",
        "Z",
        2,
        "bane",
        (Group("baneling", 4, (16.0, 8.0)), Group("zergling", 20, (16.0, 11.0))),
        (Group("zergling", 20, (16.0, 21.0)), Group("baneling", 4, (16.0, 24.0))),
        EnemyOrder("attack_move", (16.0, 8.0)),
        "octagon",
    ),
    MapParams(
        "2c_vs_64zg",
        2,
        64,
        400,
        "P",
        "Z",
        0,
        "colossus",
        (Group("colossus", 2, (16.0, 16.0)),),
        (Group("zergling", 64, (16.0, 9.0)),),
        EnemyOrder("hunt"),
        "ravine",
    ),
]

SMAC_MAPS: dict[str, MapParams] = {m.name: m for m in _MAPS}


def get_map(name: str) -> MapParams:
    """Look up a map; an unknown name raises ``ValueError`` listing the known maps."""
    try:
        return SMAC_MAPS[name]
    except KeyError:
        raise ValueError(f"unknown SMAC map {name!r}; known maps: {', '.join(SMAC_MAPS)}") from None
