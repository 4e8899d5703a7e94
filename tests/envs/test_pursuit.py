import pytest
import torch

from liir.envs.base import UnavailableActionError
from liir.envs.pursuit import BAD, GOOD, NEUTRAL, Pursuit1D, label_actions, team_reward

LEFT, STAY, RIGHT = 0, 1, 2


def make(batch_size=4, **kw):
    args = dict(
        episode_limit=5,
        init_low=-3,
        init_high=3,
        target="fixed",
        target_value=0,
        target_low=-5,
        target_high=5,
        value_scale=10.0,
        reward_scale=0.01,
    )
    args.update(kw)
    return Pursuit1D(batch_size=batch_size, device="cpu", seed=0, **args)


def set_values(env, values, target):
    env.values = torch.tensor(values)
    env.target = torch.tensor(target)


@pytest.mark.parametrize(
    "team_sum, target, delta, label",
    [
        (0, 5, 1, GOOD),
        (0, 5, -1, BAD),
        (0, 5, 0, NEUTRAL),
        (7, 5, -1, GOOD),
        (7, 5, 1, BAD),
        (5, 5, 1, NEUTRAL),
        (5, 5, -1, NEUTRAL),
    ],
)
def test_labels(team_sum, target, delta, label):
    out = label_actions(torch.tensor([team_sum]), torch.tensor([target]), torch.tensor([[delta]]))
    assert int(out[0, 0]) == label


@pytest.mark.parametrize(
    "labels, reward",
    [
        ((GOOD, GOOD), 0.01),
        ((BAD, BAD), -0.01),
        ((GOOD, BAD), 0.0),
        ((GOOD, NEUTRAL), 0.0),
        ((NEUTRAL, NEUTRAL), 0.0),
        ((BAD, NEUTRAL), 0.0),
    ],
)
def test_reward_table(labels, reward):
    assert float(team_reward(torch.tensor([labels]), 0.01)[0]) == pytest.approx(reward)


def test_step_applies_actions_rewards_and_labels():
    env = make(batch_size=3)
    env.reset()
    set_values(env, [[1, 1], [1, 1], [-4, 0]], [0, 0, 0])
    out = env.step(torch.tensor([[LEFT, LEFT], [RIGHT, RIGHT], [RIGHT, LEFT]]))
    assert out.reward.tolist() == pytest.approx([0.01, -0.01, 0.0])
    assert out.extras["action_label"].tolist() == [[GOOD, GOOD], [BAD, BAD], [GOOD, BAD]]
    # every action's label in the pre-step state: sums 2, 2, -4 against target 0 (LEFT good for the first two)
    left_good, right_good = [[GOOD, NEUTRAL, BAD]] * 2, [[BAD, NEUTRAL, GOOD]] * 2
    assert out.extras["action_labels_all"].tolist() == [left_good, left_good, right_good]
    assert env.values.tolist() == [[0, 0], [2, 2], [-3, -1]]
    # agent i observes (own, partner) / value_scale; the state adds the target
    assert torch.allclose(out.obs[0], torch.zeros(2, 2))
    assert torch.allclose(out.obs[2], torch.tensor([[-0.3, -0.1], [-0.1, -0.3]]))
    assert out.state[2].tolist() == pytest.approx([-0.3, -0.1, 0.0])


def test_episode_limit_ends_episode_and_ended_copies_ignore_actions():
    env = make(batch_size=2, episode_limit=3)
    out = env.reset()
    assert out.obs.shape == (2, 2, 2) and out.state.shape == (2, 3) and out.avail_actions.shape == (2, 2, 3)
    for t in range(3):
        out = env.step(torch.full((2, 2), RIGHT))
        assert out.episode_limit.tolist() == [t == 2] * 2
        assert not out.terminated.any()
    assert env.done.all()
    frozen = env.values.clone()
    out = env.step(torch.full((2, 2), RIGHT))
    assert torch.equal(env.values, frozen) and (out.reward == 0).all() and not out.ended.any()
    env.reset(mask=torch.tensor([True, False]))
    assert env.done.tolist() == [False, True]


def test_initial_values_and_random_targets_follow_config():
    env = make(batch_size=256, init_low=-2, init_high=4, target="random", target_low=3, target_high=6)
    env.reset()
    assert env.values.min() >= -2 and env.values.max() <= 4
    assert set(env.target.tolist()) == {3, 4, 5, 6}
    fixed = make(batch_size=8, target_value=7)
    fixed.reset()
    assert (fixed.target == 7).all()


def test_same_seed_same_episodes_and_rng_state_round_trip():
    a, b = make(), make()
    assert torch.equal(a.reset().obs, b.reset().obs)
    state = a.rng_state()
    first = a.reset().obs
    a.load_rng_state(state)
    assert torch.equal(a.reset().obs, first)


def test_bad_action_and_bad_config_raise_clear_errors():
    env = make(batch_size=2)
    env.reset()
    with pytest.raises(UnavailableActionError, match=r"env 0, agent 1: action 3"):
        env.step(torch.tensor([[0, 3], [0, 0]]))
    with pytest.raises(ValueError, match="'sometimes'"):
        make(target="sometimes")
