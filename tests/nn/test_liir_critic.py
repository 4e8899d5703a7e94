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
    assert coma_critic_input_dim(21, 30, 3, 9) == 108
    critic = LIIRCritic(108, n_agents=3, n_actions=9)
    assert sum(p.numel() for p in critic.parameters()) == 32_139


def test_output_shapes_and_any_batch_size():
    critic = LIIRCritic(coma_critic_input_dim(5, 4, 3, 4), n_agents=3, n_actions=4, hidden_dim=16)
    for b in (1, 2, 7):
        v_proxy, r_in, v_ex = critic(coma_critic_inputs(*_inputs(b=b)))
        assert v_proxy.shape == (b, 3, 3) and r_in.shape == (b, 3, 3, 4) and v_ex.shape == (b, 3)


def test_r_in_within_scale():
    s = 2.0
    critic = LIIRCritic(coma_critic_input_dim(5, 4, 3, 4), n_agents=3, n_actions=4, hidden_dim=16, r_in_scale=s)
    critic = critic.double()
    with torch.no_grad():
        for p in critic.r_in_head.parameters():
            p.mul_(5.0)
        features = critic.features(5.0 * coma_critic_inputs(*_inputs()).double())
        raw = critic.r_in_head(features)
        r_in, _ = critic.eta_heads(features)
    assert raw.abs().max() > 2 * s  # the squashing is exercised
    assert r_in.abs().max() < s
    torch.testing.assert_close(r_in, s * torch.tanh(raw / s))


def test_parameter_groups_disjoint_and_complete():
    critic = LIIRCritic(20, n_agents=2, n_actions=3, hidden_dim=8)
    proxy = {id(p) for p in critic.proxy_parameters()}
    eta = {id(p) for p in critic.eta_parameters()}
    assert proxy.isdisjoint(eta)
    assert proxy | eta == {id(p) for p in critic.parameters()}


def test_eta_heads_on_detached_features_leave_trunk_without_gradient():
    critic = LIIRCritic(coma_critic_input_dim(5, 4, 3, 4), n_agents=3, n_actions=4, hidden_dim=16)
    features = critic.features(coma_critic_inputs(*_inputs()))
    r_in, v_ex = critic.eta_heads(features.detach())
    (r_in.sum() + v_ex.sum()).backward()
    assert all(p.grad is None for p in critic.proxy_parameters())
    assert all(p.grad is not None for p in critic.eta_parameters())
