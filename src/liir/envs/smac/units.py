"""StarCraft II unit data at the game's time base (one tick = one game loop, 16 loops per Normal second).

Values are the stock game data (Normal-speed units) collected in ``sc2-units-and-mechanics.md`` §2,
converted once here so that the simulator never mixes time bases: speeds are world units per game
loop, cooldowns are game loops, regeneration is per game loop. Ally units on the SMAC maps are the
map-defined ``*_RL`` copies; the few values they override are applied by :func:`rl_variant`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import IntFlag

LOOPS_PER_SECOND = 16.0  # game loops per Normal-speed game second


class Attr(IntFlag):
    """Unit attributes that weapon bonuses refer to."""

    NONE = 0
    LIGHT = 1
    ARMORED = 2
    BIOLOGICAL = 4
    MECHANICAL = 8
    MASSIVE = 16
    STRUCTURE = 32


class Splash:
    """Weapon delivery kinds beyond a plain single-target hit."""

    NONE = 0
    LINE = 1  # colossus Thermal Lances: a 2.8 x 0.3 line across the line of fire, centred on the target
    SUICIDE = 2  # baneling Volatile Burst: radial splash, the attacker dies


@dataclass(frozen=True)
class UnitType:
    """One unit type's combat data, already in game loops (see the module docstring)."""

    name: str
    sc2_id: int  # stock SC2 unit type id (pysc2 ``units``)
    health: float
    shield: float = 0.0
    armour: float = 0.0
    radius: float = 0.5
    speed: float = 0.0  # world units per game loop
    attrs: Attr = Attr.NONE
    air: bool = False
    damage: float = 0.0  # per hit
    hits: int = 1
    bonus: float = 0.0
    bonus_attr: Attr = Attr.NONE
    weapon_range: float = 0.0  # edge to edge
    cooldown: float = 0.0  # game loops between shots
    hits_air: bool = False
    hits_ground: bool = True
    splash: int = Splash.NONE
    splash_radius: float = 0.0
    scan_range: float = 5.0  # built-in AI target acquisition range, edge to edge
    hp_regen: float = 0.0  # health per game loop (Zerg)
    healer: bool = False
    heal_rate: float = 0.0  # health per game loop
    heal_range: float = 0.0
    energy_start: float = 0.0
    energy_max: float = 0.0
    energy_regen: float = 0.0  # per game loop
    max_cd: float = 15.0  # SMAC's state normaliser for ``weapon_cooldown`` (energy max for the medivac)

    @property
    def armed(self) -> bool:
        """Whether the unit has a weapon (unarmed units rank last for target acquisition)."""
        return self.damage > 0


def _per_loop(per_second: float) -> float:
    return per_second / LOOPS_PER_SECOND


def _loops(seconds: float) -> float:
    return seconds * LOOPS_PER_SECOND


ZERG_REGEN = _per_loop(0.2734)
SHIELD_REGEN = _per_loop(2.0)  # Protoss shields, after SHIELD_REGEN_DELAY loops without damage
SHIELD_REGEN_DELAY = _loops(10.0)
HEAL_PER_ENERGY = 3.0  # medivac: health restored per energy point

UNIT_TYPES: dict[str, UnitType] = {
    u.name: u
    for u in (
        UnitType(
            "marine",
            48,
            45,
            radius=0.375,
            speed=_per_loop(2.25),
            attrs=Attr.LIGHT | Attr.BIOLOGICAL,
            damage=6,
            weapon_range=5,
            cooldown=_loops(0.861),
            hits_air=True,
            max_cd=15,
        ),
        UnitType(
            "marauder",
            51,
            125,
            armour=1,
            radius=0.5625,
            speed=_per_loop(2.25),
            attrs=Attr.ARMORED | Attr.BIOLOGICAL,
            damage=10,
            bonus=10,
            bonus_attr=Attr.ARMORED,
            weapon_range=6,
            cooldown=_loops(1.5),
            max_cd=25,
        ),
        UnitType(
            "medivac",
            54,
            150,
            armour=1,
            radius=0.75,
            speed=_per_loop(2.5),
            attrs=Attr.ARMORED | Attr.MECHANICAL,
            air=True,
            hits_ground=False,
            healer=True,
            heal_rate=_per_loop(9.0),
            heal_range=4,
            energy_start=50,
            energy_max=200,
            energy_regen=_per_loop(0.5625),
            max_cd=200,
        ),
        UnitType(
            "stalker",
            74,
            80,
            shield=80,
            armour=1,
            radius=0.625,
            speed=_per_loop(2.9531),
            attrs=Attr.ARMORED | Attr.MECHANICAL,
            damage=13,
            bonus=5,
            bonus_attr=Attr.ARMORED,
            weapon_range=6,
            cooldown=_loops(1.87),
            hits_air=True,
            max_cd=35,
        ),
        UnitType(
            "zealot",
            73,
            100,
            shield=50,
            armour=1,
            radius=0.5,
            speed=_per_loop(2.25),
            attrs=Attr.LIGHT | Attr.BIOLOGICAL,
            damage=8,
            hits=2,
            weapon_range=0.1,
            cooldown=_loops(1.2),
            max_cd=22,
        ),
        UnitType(
            "colossus",
            4,
            200,
            shield=150,
            armour=1,
            radius=1.0,
            speed=_per_loop(2.25),
            attrs=Attr.ARMORED | Attr.MECHANICAL | Attr.MASSIVE,
            damage=10,
            hits=2,
            bonus=5,
            bonus_attr=Attr.LIGHT,
            weapon_range=7,
            cooldown=_loops(1.5),
            splash=Splash.LINE,
            max_cd=24,
        ),
        UnitType(
            "zergling",
            105,
            35,
            radius=0.375,
            speed=_per_loop(2.9531),
            attrs=Attr.LIGHT | Attr.BIOLOGICAL,
            damage=5,
            weapon_range=0.1,
            cooldown=_loops(0.696),
            hp_regen=ZERG_REGEN,
            max_cd=11,
        ),
        UnitType(
            "hydralisk",
            107,
            90,
            radius=0.625,
            speed=_per_loop(2.25),
            attrs=Attr.LIGHT | Attr.BIOLOGICAL,
            damage=12,
            weapon_range=5,
            cooldown=_loops(0.825),
            hits_air=True,
            hp_regen=ZERG_REGEN,
            max_cd=10,
        ),
        UnitType(
            "baneling",
            9,
            30,
            radius=0.375,
            speed=_per_loop(2.5),
            attrs=Attr.BIOLOGICAL,
            damage=16,
            bonus=19,
            bonus_attr=Attr.LIGHT,
            weapon_range=0.25,
            cooldown=1.0,
            splash=Splash.SUICIDE,
            splash_radius=2.2,
            hp_regen=ZERG_REGEN,
            max_cd=1,
        ),
        # Spine crawler: SMAClite's table (Faster seconds) converted to Normal: cooldown 1.32 s x 1.4.
        UnitType(
            "spinecrawler",
            98,
            300,
            armour=2,
            radius=1.0,
            attrs=Attr.ARMORED | Attr.STRUCTURE,
            damage=25,
            bonus=5,
            bonus_attr=Attr.ARMORED,
            weapon_range=7,
            cooldown=_loops(1.32 * 1.4),
            scan_range=7,
            hp_regen=ZERG_REGEN,
        ),
    )
}

# The map files override these values for the agents' ``*_RL`` copies (smac-interface.md §14).
_RL_OVERRIDES: dict[str, dict[str, float]] = {
    "medivac": {"speed": _per_loop(2.75)},
    "hydralisk": {"health": 80.0},
}

# The map files' ``*_RL`` unit types get ids above the stock range, consecutive in the alphabetical order of the
# RL units each map defines; the real values depend on the game version (smac-interface.md §13), this is ours.
RL_TYPE_BASE = 1970

# SMAC orders allies by their custom unit-type id, which follows the alphabetical order of the RL names.
ALLY_TYPE_RANK = {name: rank for rank, name in enumerate(sorted(UNIT_TYPES))}


def rl_variant(name: str) -> UnitType:
    """The agents' map-defined ``<Name>_RL`` copy of a stock unit."""
    return dataclasses.replace(UNIT_TYPES[name], **_RL_OVERRIDES.get(name, {}))


def hit_damage(attacker: UnitType, victim: UnitType) -> float:
    """Damage per hit before shields and armour, 0 when the weapon cannot reach the victim's plane."""
    if attacker.damage <= 0 or (attacker.hits_air if victim.air else attacker.hits_ground) is False:
        return 0.0
    bonus = attacker.bonus if attacker.bonus_attr & victim.attrs else 0.0
    return attacker.damage + bonus
