import pytest
import torch
import torch.nn.functional as F

from liir.nn.critics import coma_critic_input_dim, coma_critic_inputs
from liir.nn.liir_critic import LIIRCritic


def _inputs(b=2, t=3, n=3, s=5, o=4, a=4):
    state, obs = torch.randn(b, t, s), torch.randn(b, t, n, o)
    actions = F.one_hot(torch.randint(a, (b, t, n)), a).float()
    last = F.one_hot(torch.randint(a, (b, t, n)), a).float()
    return state, obs, actions, last


def test_input_layout_and_size():
    n, s, o, a = 3, 5, 4, 4
    state, obs, actions, last = _inputs(n=n, s=s, o=o, a=a)
    x = coma_critic_inputs(state, obs, actions, last)
    assert x.shape == (2, 3, n, coma_critic_input_dim(s, o, n, a)) == (2, 3, n, s + o + 2 * n * a + n)
    for i in range(n):
        xi = x[..., i, :]
        torch.testing.assert_close(xi[..., :s], state)
        torch.testing.assert_close(xi[..., s : s + o], obs[..., i, :])
        current = xi[..., s + o : s + o + n * a].reshape(2, 3, n, a)
        for j in range(n):
            expected = torch.zeros_like(actions[..., j, :]) if j == i else actions[..., j, :]
            torch.testing.assert_close(current[..., j, :], expected)
        torch.testing.assert_close(xi[..., s + o + n * a : s + o + 2 * n * a], last.flatten(-2))
        torch.testing.assert_close(xi[..., -n:], F.one_hot(torch.tensor(i), n).float().expand(2, 3, n))


def test_inputs_for_one_time_slot():
    state, obs, actions, last = _inputs()
    full = coma_critic_inputs(state, obs, actions, last)
    torch.testing.assert_close(coma_critic_inputs(state[:, 1], obs[:, 1], actions[:, 1], last[:, 1]), full[:, 1])


def test_parameter_count_on_3m():
    """The authors' critic (V_ex a head on the agents' features), and the paper's (V_ex(s) a 128-128 network)."""
    assert coma_critic_input_dim(21, 30, 3, 9) == 108
    critic = LIIRCritic(108, n_agents=3, n_actions=9)
    assert sum(p.numel() for p in critic.parameters()) == 32_139
    with_state_value = LIIRCritic(108, n_agents=3, n_actions=9, state_dim=48)
    state_net = 48 * 128 + 128 + 128 * 128 + 128 + 128 + 1
    assert sum(p.numel() for p in with_state_value.parameters()) == 32_139 - (3 * 128 + 1) + state_net


@pytest.mark.parametrize("state_dim", [None, 5])
def test_output_shapes_and_any_batch_size(state_dim):
    critic = LIIRCritic(coma_critic_input_dim(5, 4, 3, 4), n_agents=3, n_actions=4, hidden_dim=16, state_dim=state_dim)
    for b in (1, 2, 7):
        state, obs, actions, last = _inputs(b=b)
        features = critic.features(coma_critic_inputs(state, obs, actions, last))
        v_ex = critic.state_value(state) if state_dim else critic.joint_action_value(features)
        assert critic.proxy_values(features).shape == (b, 3, 3)
        assert critic.intrinsic_rewards(features).shape == (b, 3, 3, 4) and v_ex.shape == (b, 3)


def test_state_value_reads_the_state_alone():
    """V_ex(s; φ): its input size is the state's, and new observations and actions leave it unchanged."""
    critic = LIIRCritic(coma_critic_input_dim(5, 4, 3, 4), n_agents=3, n_actions=4, hidden_dim=16, state_dim=5)
    assert critic.v_ex_net.net[0].in_features == 5 and critic.v_ex_head is None
    state, obs, actions, last = _inputs()
    _, other_obs, other_actions, other_last = _inputs()
    value = critic.state_value(state)
    assert not torch.equal(
        coma_critic_inputs(state, obs, actions, last), coma_critic_inputs(state, other_obs, other_actions, other_last)
    )
    torch.testing.assert_close(critic.state_value(state), value, rtol=0, atol=0)
    assert not torch.allclose(critic.state_value(state + 1.0), value)
    with pytest.raises(ValueError, match="joint_action_value"):
        LIIRCritic(20, n_agents=2, n_actions=3, hidden_dim=8).state_value(state)


def test_r_in_within_scale():
    s = 2.0
    critic = LIIRCritic(coma_critic_input_dim(5, 4, 3, 4), n_agents=3, n_actions=4, hidden_dim=16, r_in_scale=s)
    critic = critic.double()
    with torch.no_grad():
        for p in critic.r_in_head.parameters():
            p.mul_(5.0)
        features = critic.features(5.0 * coma_critic_inputs(*_inputs()).double())
        raw = critic.r_in_head(features)
        r_in = critic.intrinsic_rewards(features)
    assert raw.abs().max() > 2 * s  # the squashing is exercised
    assert r_in.abs().max() < s
    torch.testing.assert_close(r_in, s * torch.tanh(raw / s))


@pytest.mark.parametrize("state_dim", [None, 5])
def test_parameter_groups_disjoint_and_complete(state_dim):
    critic = LIIRCritic(20, n_agents=2, n_actions=3, hidden_dim=8, state_dim=state_dim)
    proxy = {id(p) for p in critic.proxy_parameters()}
    eta = {id(p) for p in critic.eta_parameters()}
    assert proxy.isdisjoint(eta)
    assert proxy | eta == {id(p) for p in critic.parameters()}


def test_eta_heads_on_detached_features_leave_trunk_without_gradient():
    critic = LIIRCritic(coma_critic_input_dim(5, 4, 3, 4), n_agents=3, n_actions=4, hidden_dim=16)
    features = critic.features(coma_critic_inputs(*_inputs())).detach()
    (critic.intrinsic_rewards(features).sum() + critic.joint_action_value(features).sum()).backward()
    assert all(p.grad is None for p in critic.proxy_parameters())
    assert all(p.grad is not None for p in critic.eta_parameters())
