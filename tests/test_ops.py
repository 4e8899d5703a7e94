import pytest
import torch

from liir import ops
from liir.ops import lambda_returns, sample_categorical

GAMMA, LAM = 0.9, 0.5


def test_terminated_episode_does_not_bootstrap():
    # One episode of 3 transitions, terminated at the last one, padded to T = 4.
    r = torch.tensor([[1.0, 2.0, 3.0, 0.0]])
    v = torch.tensor([[10.0, 20.0, 30.0, 40.0, 50.0]])
    term = torch.tensor([[False, False, True, False]])
    mask = torch.tensor([[True, True, True, False]])
    g = lambda_returns(r, v, term, mask, GAMMA, LAM)
    g2 = 3.0
    g1 = 2.0 + GAMMA * ((1 - LAM) * 30.0 + LAM * g2)  # 2 + 0.9 * (15 + 1.5) = 16.85
    g0 = 1.0 + GAMMA * ((1 - LAM) * 20.0 + LAM * g1)  # 1 + 0.9 * (10 + 8.425) = 17.5825
    assert g[0, :3].tolist() == pytest.approx([g0, g1, g2])
    assert g0 == pytest.approx(17.5825)


def test_time_limited_episode_bootstraps_from_final_state():
    r = torch.tensor([[1.0, 2.0]])
    v = torch.tensor([[10.0, 20.0, 30.0]])
    term = torch.tensor([[False, False]])
    mask = torch.tensor([[True, True]])
    g = lambda_returns(r, v, term, mask, GAMMA, LAM)
    g1 = 2.0 + GAMMA * 30.0  # = 29
    g0 = 1.0 + GAMMA * ((1 - LAM) * 20.0 + LAM * g1)  # 1 + 0.9 * (10 + 14.5) = 23.05
    assert g[0].tolist() == pytest.approx([g0, g1])
    assert g0 == pytest.approx(23.05)


def test_time_limit_inside_padding_bootstraps_from_slot_after_last_transition():
    # Episode of length 1 truncated (not terminated) in a batch padded to T = 3.
    r = torch.tensor([[5.0, 0.0, 0.0]])
    v = torch.tensor([[1.0, 7.0, 99.0, 99.0]])
    g = lambda_returns(r, v, torch.zeros(1, 3, dtype=torch.bool), torch.tensor([[True, False, False]]), 0.5, 0.8)
    assert float(g[0, 0]) == pytest.approx(5.0 + 0.5 * 7.0)


def test_lambda_one_is_monte_carlo_and_lambda_zero_is_td0():
    r = torch.tensor([[1.0, 1.0, 1.0]])
    v = torch.tensor([[0.5, 0.6, 0.7, 0.8]])
    term = torch.tensor([[False, False, True]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    mc = lambda_returns(r, v, term, mask, GAMMA, 1.0)
    assert mc[0].tolist() == pytest.approx([1 + GAMMA + GAMMA**2, 1 + GAMMA, 1.0])
    td0 = lambda_returns(r, v, term, mask, GAMMA, 0.0)
    assert td0[0].tolist() == pytest.approx([1 + GAMMA * 0.6, 1 + GAMMA * 0.7, 1.0])


def test_per_agent_values_and_rewards_broadcast_and_carry_gradients():
    b, t, n = 2, 4, 3
    values = torch.randn(b, t + 1, n)
    rewards = torch.randn(b, t, n, requires_grad=True)
    mask = torch.tensor([[True] * 4, [True, True, False, False]])
    term = torch.tensor([[False, False, False, True], [False, True, False, False]])
    g = lambda_returns(rewards, values, term, mask, GAMMA, LAM)
    assert g.shape == (b, t, n)
    for i in range(n):  # each agent's column equals the single-value computation
        gi = lambda_returns(rewards[..., i], values[..., i], term, mask, GAMMA, LAM)
        assert torch.allclose(g[..., i], gi)
    g[0, 0].sum().backward()
    # dG_0/dr_t = (γλ)^t for the non-terminal recursion
    assert rewards.grad[0, :, 0].tolist() == pytest.approx([(GAMMA * LAM) ** k for k in range(t)])
    team = lambda_returns(rewards.detach()[..., 0], values, term, mask, GAMMA, LAM)  # (B, T) reward broadcast
    assert team.shape == (b, t, n)


def test_centre_per_action_removes_each_actions_mean_over_real_entries():
    values = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]])  # (B=2, T=2, N=2)
    actions = torch.tensor([[[0, 1], [0, 1]], [[1, 1], [2, 0]]])
    mask = torch.tensor([[True, True], [True, False]])
    centred = ops.centre_per_action(values, actions, mask, n_actions=3)
    # real entries: action 0 -> 1, 3 (mean 2); action 1 -> 2, 4, 5, 6 (mean 4.25); the padded step is zeroed
    expected = torch.tensor([[[-1.0, -2.25], [1.0, -0.25]], [[0.75, 1.75], [0.0, 0.0]]])
    torch.testing.assert_close(centred, expected)


def test_sample_categorical_draws_what_torch_multinomial_draws_from_the_same_random_state():
    """Bit-identical rollouts depend on it; if torch changes multinomial's algorithm this fails."""
    probs = torch.softmax(torch.randn(32, 5, 11), -1) * (torch.rand(32, 5, 11) > 0.4)
    probs[..., 0] += 1e-3  # every row keeps an available action
    probs = probs / probs.sum(-1, keepdim=True)
    torch.manual_seed(3)
    expected = torch.multinomial(probs.reshape(-1, 11), 1).reshape(32, 5)
    torch.manual_seed(3)
    drawn = sample_categorical(probs)
    assert torch.equal(drawn, expected)
    assert bool(probs.gather(-1, drawn.unsqueeze(-1)).gt(0).all())  # never a zero-probability action


def test_on_filled_slots_runs_only_filled_slots_and_zeros_the_rest():
    layer = torch.nn.Linear(3, 2)
    x = torch.randn(2, 4, 5, 3)
    filled = torch.tensor([[True, True, False, False], [True, True, True, True]])
    seen = []

    def fn(rows: torch.Tensor) -> torch.Tensor:
        seen.append(rows.shape[0])
        return layer(rows)

    out = ops.on_filled_slots(fn, x, filled)
    assert seen == [6] and out.shape == (2, 4, 5, 2)
    assert torch.equal(out[filled], layer(x[filled])) and not out[~filled].any()
    out.sum().backward()  # the graph is kept
    torch.testing.assert_close(layer.bias.grad, torch.full((2,), 6.0 * 5))


def test_softmax_matches_torch_with_first_and_second_derivatives():
    logits = torch.randn(4, 3, 11, dtype=torch.float64)
    logits[0, 0] = -1e10  # every action masked: uniform, as torch's
    logits[1, 1, :5] = -1e10
    torch.testing.assert_close(ops.softmax(logits), torch.softmax(logits, -1), rtol=1e-12, atol=1e-15)
    small = logits[2:].clone().requires_grad_()
    assert torch.autograd.gradcheck(ops.softmax, small)
    assert torch.autograd.gradgradcheck(ops.softmax, small)


def test_padded_normalisation_counts_padded_entries_as_zero_whatever_they_hold():
    """``padded`` takes its statistics over every entry (the authors' count), padded ones as 0: what a learner
    leaves on padded slots (0, or a critic's value of padding) does not move the real entries' result."""
    adv = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    with_garbage = adv.clone()
    with_garbage[1, 1:] = torch.tensor([7.0, -3.0])
    expected = (adv - adv.mean()) / (adv.std() + 1e-8)
    for x in (adv, with_garbage):
        out = ops.normalise_advantages(x, mask, "padded")
        torch.testing.assert_close(out[mask], expected[mask])
