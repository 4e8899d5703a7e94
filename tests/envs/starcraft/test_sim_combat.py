"""Combat arithmetic derived by hand from the unit data (game loops, 8 per env step, jitter off)."""

from __future__ import annotations

import math

import pytest
from smac_arena import act, arena

from liir.envs.smac.units import UNIT_TYPES


def shots_fired(loops: int, period: float) -> int:
    """Shots of a weapon that fires at loop 0 and then every ceil(period) loops, within ``loops`` loops."""
    return (loops - 1) // math.ceil(period) + 1


def test_marine_kills_marine_in_eight_shots() -> None:
    marine = UNIT_TYPES["marine"]
    assert math.ceil(marine.health / marine.damage) == 8
    assert math.ceil(marine.cooldown) == 14  # 0.861 s x 16 = 13.8 loops -> fires every 14 loops
    env, _ = arena("3m", {0: (10.0, 16.0), 3: (14.0, 16.0)})  # 4 apart: within 5 + 2 x 0.375
    for _ in range(12):  # 96 loops: shots at 0, 14, ..., 84 -> 7 shots
        out = act(env, 6, 0, 0)
    assert env.state.health[0, 3].item() == pytest.approx(45 - 7 * 6)
    assert not bool(out.terminated[0])
    out = act(env, 6, 0, 0)  # the 8th shot at loop 98
    assert env.state.health[0, 3].item() == 0
    assert bool(out.terminated[0]) and bool(out.battle_won[0])
    assert int(out.dead_enemies[0]) == 3 and int(out.dead_allies[0]) == 2


def test_stalker_against_zealot_shields_then_armour() -> None:
    env, _ = arena("3s_vs_3z", {0: (10.0, 16.0), 3: (15.0, 16.0)})
    for _ in range(16):  # 128 loops, period 30 -> 5 shots of 13 (no +5: the zealot is Light)
        act(env, 6, 0, 0)
    assert shots_fired(128, UNIT_TYPES["stalker"].cooldown) == 5
    # 13, 13, 13 on shields (50 -> 11), the 4th: 11 absorbed, 2 - 1 armour = 1 to health, 5th: 13 - 1 = 12
    assert env.state.shield[0, 3].item() == pytest.approx(0.0)
    assert env.state.health[0, 3].item() == pytest.approx(100 - 1 - 12)


def test_zealot_against_stalker_two_hits_per_attack() -> None:
    # agent 2 is the first zealot of 2s3z; enemy 5 the first stalker; melee range 0.1 edge to edge
    env, _ = arena("2s3z", {2: (10.0, 16.0), 5: (10.0 + 0.5 + 0.625 + 0.05, 16.0)})
    for _ in range(13):  # 104 loops, period 20 -> 6 attacks of 2 x 8
        act(env, 0, 0, 6, 0, 0)
    assert shots_fired(104, UNIT_TYPES["zealot"].cooldown) == 6
    assert env.state.shield[0, 5].item() == pytest.approx(0.0)  # 5 attacks x 16 = 80 shields
    assert env.state.health[0, 5].item() == pytest.approx(80 - 2 * (8 - 1))  # 6th: 2 hits of 8 - 1 armour


def test_chasing_into_range_before_firing() -> None:
    env, _ = arena("3m", {0: (10.0, 16.0), 3: (16.5, 16.0)})  # 6.5 apart: attack not available (> 6)
    env.state.pos[0, 3, 0] = 15.9  # 5.9: available, but 5.15 edge to edge > range 5
    out = env.observe()
    assert bool(out.avail_actions[0, 0, 6])
    act(env, 6, 0, 0)  # walks 0.15 (1.1 loops of 2.25/16), then fires: one shot in the first step
    assert env.state.health[0, 3].item() == pytest.approx(39.0)
    assert env.state.pos[0, 0, 0].item() == pytest.approx(15.9 - 5.75, abs=1e-3)


def test_colossus_line_splash() -> None:
    # 1c3s5z: agent 0 colossus, enemies 9 colossus, 10-12 stalkers, 13-17 zealots
    env, _ = arena("1c3s5z", {0: (10.0, 16.0), 13: (15.0, 16.0), 14: (15.0, 17.0), 15: (16.0, 16.0)})
    act(env, 6 + 4, *[0] * 8)  # attack enemy 4 (unit 13)
    per_attack = 2 * (10 + 5)  # two beams of 10 + 5 vs Light
    assert env.state.shield[0, 13].item() == pytest.approx(50 - per_attack)
    assert env.state.shield[0, 14].item() == pytest.approx(50 - per_attack)  # across the line of fire: hit
    assert env.state.shield[0, 15].item() == pytest.approx(50)  # behind the target along the line: missed


def test_medivac_heal_per_step() -> None:
    # MMM: agents 0-1 marauders, 2-8 marines, 9 medivac; heal ally 2 (action 6 + 2)
    env, _ = arena("MMM", {2: (10.0, 16.0), 9: (11.0, 16.0)}, keep={2, 9, 10})
    env.state.health[0, 2] = 20.0
    env.observe()
    act(env, 0, 0, 1, 0, 0, 0, 0, 0, 0, 6 + 2)
    heal = 8 * 9 / 16  # 9 health per second, 8 loops
    assert env.state.health[0, 2].item() == pytest.approx(20 + heal)
    assert env.state.energy[0, 9].item() == pytest.approx(50 - heal / 3 + 8 * 0.5625 / 16)


def test_baneling_bursts_on_light_units() -> None:
    # bane_vs_bane: agents 0-3 banelings, 4-23 zerglings; enemies 24-43 zerglings, 44-47 banelings
    env, _ = arena("bane_vs_bane", {4: (16.0, 12.0), 5: (16.0, 15.5), 44: (16.0, 12.8)}, passive_enemies=False)
    act(env, *[0] * 4, 1, 1, *[0] * 18)
    assert env.state.health[0, 44].item() == 0  # the baneling died in its burst
    assert env.state.health[0, 4].item() == 0  # 16 + 19 vs Light = 35 kills a zergling
    assert env.state.health[0, 5].item() == pytest.approx(35)  # outside the 2.2 splash radius


def test_shield_regeneration_after_ten_seconds() -> None:
    env, _ = arena("3s_vs_3z", {0: (10.0, 16.0), 3: (20.0, 16.0)})
    env.state.shield[0, 0] = 10.0
    env.state.since_damage[0, 0] = 155.0
    act(env, 1, 0, 0)  # loops 156..163 since the last damage: regenerates on 160..163
    assert env.state.shield[0, 0].item() == pytest.approx(10 + 4 * 2 / 16)


def test_enemies_attack_move_to_the_agents_and_fight_back() -> None:
    env, _ = arena("3m", {0: (9.0, 16.0), 3: (23.0, 16.0)}, passive_enemies=False)
    for _ in range(20):
        out = act(env, 1, 0, 0)
        if bool(out.terminated[0]):
            break
    assert bool(out.terminated[0]) and not bool(out.battle_won[0])  # the stopped marine was killed
    assert env.state.health[0, 3].item() == pytest.approx(45)


def test_zerglings_path_around_the_cliff_to_the_colossi() -> None:
    # 2c_vs_64zg: the colossi stand on high ground; the straight way up from the zerglings is a cliff
    env, _ = arena("2c_vs_64zg", {0: (16.0, 16.5), 2: (16.0, 9.0)}, passive_enemies=False)
    for _ in range(40):
        act(env, 1, 0)
    assert env.state.health[0, 0].item() + env.state.shield[0, 0].item() < 350  # the zergling got there
    zergling = env.state.pos[0, 2]
    assert zergling[1].item() > 13.5  # on the high ground, not stuck below the cliff edge (y 12..13)


def test_single_target_damage_matches_the_general_rule() -> None:
    import torch

    from liir.envs.smac.sim import SmacSim
    from liir.envs.smac.sim.state import Units

    env = SmacSim(batch_size=256, device="cpu", seed=0, map_name="3s5z_vs_3s6z")
    env.reset()
    gen = torch.Generator().manual_seed(0)
    st = env.state
    u = st.health.shape[1]
    st.shield = torch.rand(st.shield.shape, generator=gen) * env.roster.shield_max
    st.health = torch.rand(st.health.shape, generator=gen) * env.roster.health_max * (torch.rand(256, u) > 0.1)
    units = Units.of(st)  # the loop's batch-last layout: (U, B)
    tgt = torch.randint(0, u, (u, 256), generator=gen)
    fire = torch.rand(u, 256, generator=gen) > 0.3
    alive = units.health > 0
    m = env.mechanics
    fast = m.single_target_damage(units, alive, fire, tgt)
    general = m.splash_damage(units, alive, fire, tgt, torch.zeros(u, u, 256))
    for a, b in zip(fast, general, strict=True):
        torch.testing.assert_close(a, b)


def test_enemy_retaliates_only_once_shot_at() -> None:
    """An attack order from afar is no provocation: the attack-moving enemy does not acquire its attacker while
    both are out of range (order-based retaliation did), and engages once the attacker comes close."""
    env, _ = arena("3m", {0: (8.0, 16.0), 3: (19.0, 16.0)}, passive_enemies=False, heuristic_ai=True)
    act(env, 0, 0, 0)  # SMAC's heuristic: agent 0 attacks enemy 3 from 11 away; each walks ~1.1 toward the other
    assert env.last_actions[0, 0].item() == 6
    assert env.state.target[0, 3].item() == -1
    for _ in range(3):
        act(env, 0, 0, 0)
    assert env.state.target[0, 3].item() == 0
