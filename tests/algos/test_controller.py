import pytest
import torch

from liir.algos.controller import LinearSchedule, MultiAgentController, SoftmaxPolicy
from liir.ops import exploration_probs


def test_linear_schedule():
    s = LinearSchedule(0.5, 0.01, 100)
    assert s(0) == 0.5 and s(50) == pytest.approx(0.255) and s(100) == pytest.approx(0.01)
    assert s(10**6) == pytest.approx(0.01)


def test_epsilon_floor_over_all_actions_then_renormalised():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0]])
    avail = torch.tensor([[True, True, True, False]])
    probs = exploration_probs(logits, avail, 0.4, mask_before_softmax=False)
    assert probs.tolist()[0] == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0.0])
    logits = torch.tensor([[1.0, 0.0, 0.0, 2.0]])
    probs = exploration_probs(logits, avail, 0.4, mask_before_softmax=False)
    floored = 0.6 * torch.softmax(logits[0], 0) + 0.1  # the floor ε/4 covers the unavailable action too
    expected = floored[:3] / floored[:3].sum()
    assert probs[0, :3].tolist() == pytest.approx(expected.tolist()) and probs[0, 3] == 0


def test_mask_before_softmax_spreads_the_floor_over_available_actions():
    logits = torch.tensor([[2.0, 0.0, 0.0, 9.0]])
    avail = torch.tensor([[True, True, False, False]])
    probs = exploration_probs(logits, avail, 0.2, mask_before_softmax=True)
    soft = torch.softmax(torch.tensor([2.0, 0.0]), 0)
    assert probs[0, :2].tolist() == pytest.approx((0.8 * soft + 0.1).tolist())


def test_policy_acts_only_with_available_actions_and_is_greedy_at_test():
    controller = MultiAgentController(
        obs_shape=3, n_agents=2, n_actions=5, rnn_hidden_dim=8, obs_agent_id=True, obs_last_action=True
    )
    policy = SoftmaxPolicy(controller, LinearSchedule(1.0, 1.0, 1), mask_before_softmax=False)
    avail = torch.zeros(64, 2, 5, dtype=torch.bool)
    avail[..., 1] = avail[..., 3] = True
    policy.start_episodes(64)
    actions = policy.act(torch.randn(64, 2, 3), avail, test_mode=False)
    assert set(actions.unique().tolist()) == {1, 3}
    policy.start_episodes(64)
    obs = torch.randn(64, 2, 3)
    greedy = policy.act(obs, avail, test_mode=True)
    policy.start_episodes(64)
    logits = controller.forward_step(obs).masked_fill(~avail, -1e9)
    assert torch.equal(greedy, logits.argmax(-1))
