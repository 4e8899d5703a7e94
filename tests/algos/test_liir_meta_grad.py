import pytest
import torch

from liir.algos.controller import MultiAgentController
from liir.algos.meta_grad import (
    TakenLogProbs,
    exact_eta_gradient,
    functional_log_pi,
    lookahead_extrinsic_objective,
    lookahead_params,
    proxy_advantages,
)
from liir.data.episode import EpisodeBatch
from liir.nn.critics import coma_critic_input_dim, coma_critic_inputs
from liir.nn.liir_critic import LIIRCritic
from liir.returns import lambda_returns

B, T, N, A, OBS, S = 3, 4, 2, 3, 4, 5
LENGTHS = (4, 2, 3)
GAMMA, TD_LAMBDA, INTRINSIC_LAMBDA, STEP = 0.9, 0.8, 0.5, 0.5
EPSILON = 0.1


def _batch(terminated: bool) -> EpisodeBatch:
    batch = EpisodeBatch.empty(B, T, N, OBS, S, A, "cpu")
    batch.obs = torch.randn(B, T + 1, N, OBS, dtype=torch.float64)
    batch.state = torch.randn(B, T + 1, S, dtype=torch.float64)
    batch.avail_actions = torch.rand(B, T + 1, N, A) < 0.7
    batch.avail_actions[..., 0] = True
    batch.actions = torch.distributions.Categorical(batch.avail_actions.double()).sample()
    batch.reward = torch.randn(B, T, dtype=torch.float64)
    for b, length in enumerate(LENGTHS):
        batch.mask[b, :length] = True
        batch.filled[b, : length + 1] = True
        batch.terminated[b, length - 1] = terminated
    batch.reward = batch.reward * batch.mask
    return batch


def _setup(terminated: bool):
    torch.manual_seed(1)
    batch = _batch(terminated)
    controller = MultiAgentController(OBS, N, A, 6, obs_agent_id=True, obs_last_action=True).double()
    policy = TakenLogProbs(controller, mask_before_softmax=False)
    critic = LIIRCritic(coma_critic_input_dim(S, OBS, N, A), N, A, hidden_dim=4).double()
    inputs = coma_critic_inputs(
        batch.state, batch.obs, batch.actions_onehot.double(), batch.last_actions_onehot.double()
    )
    features = critic.features(inputs).detach()
    target_proxy = torch.randn(B, T + 1, N, dtype=torch.float64)
    proxy_values = critic.proxy_values(features)[:, :-1]

    def advantages():
        r_in, v_ex = critic.eta_heads(features)
        r_in_taken = r_in[:, :-1].gather(-1, batch.actions[:, :-1].unsqueeze(-1)).squeeze(-1)
        proxy_adv = proxy_advantages(
            batch.reward,
            r_in_taken,
            INTRINSIC_LAMBDA,
            target_proxy,
            proxy_values,
            batch.terminated,
            batch.mask,
            GAMMA,
            TD_LAMBDA,
        )
        ex_returns = lambda_returns(batch.reward, v_ex.detach(), batch.terminated, batch.mask, GAMMA, TD_LAMBDA)
        return proxy_adv, ex_returns - v_ex[:, :-1]

    log_pi_fn = functional_log_pi(policy, batch, EPSILON)
    params = dict(policy.named_parameters())
    return batch, critic, log_pi_fn, params, advantages


@pytest.mark.parametrize("terminated", [True, False], ids=["terminated", "time_limited"])
def test_exact_eta_gradient_matches_finite_difference(terminated):
    batch, critic, log_pi_fn, params, advantages = _setup(terminated)
    eta = list(critic.eta_parameters())
    proxy_adv, ex_adv = advantages()
    grads, j_ex = exact_eta_gradient(log_pi_fn, params, eta, proxy_adv, ex_adv, batch.mask, STEP)

    def objective() -> float:
        proxy_adv, _ = advantages()  # Â_ex stays the unperturbed constant, as in the gradient
        return float(lookahead_extrinsic_objective(log_pi_fn, params, proxy_adv, ex_adv, batch.mask, STEP).detach())

    assert objective() == pytest.approx(float(j_ex), rel=1e-12)
    h = 1e-6
    fd = []
    for p in eta:
        flat, g = p.data.view(-1), torch.empty(p.numel(), dtype=p.dtype)  # .data: perturb outside autograd
        for k in range(p.numel()):
            old = flat[k].item()
            flat[k] = old + h
            plus = objective()
            flat[k] = old - h
            minus = objective()
            flat[k] = old
            g[k] = (plus - minus) / (2 * h)
        fd.append(g.view_as(p))
    exact, numeric = torch.cat([g.flatten() for g in grads]), torch.cat([g.flatten() for g in fd])
    assert numeric.norm() > 1e-6  # the meta-gradient is not trivially zero
    assert (exact - numeric).norm() / numeric.norm() < 1e-4
    torch.testing.assert_close(grads[-1], torch.zeros_like(grads[-1]))  # V_ex head: unreachable from J_ex
    assert all(p.grad is None for p in list(eta) + list(params.values()))


def test_lookahead_is_one_sgd_step_on_the_proxy_objective():
    batch, _, log_pi_fn, params, advantages = _setup(True)
    proxy_adv, _ = advantages()
    new_params, log_pi_old = lookahead_params(log_pi_fn, params, proxy_adv, batch.mask, STEP)
    policy_loss = -(proxy_adv.detach() * log_pi_fn(params) * batch.mask.unsqueeze(-1)).sum() / (batch.mask.sum() * N)
    policy_loss.backward()
    for name, p in params.items():
        torch.testing.assert_close(new_params[name].detach(), p.detach() - STEP * p.grad)
    assert not log_pi_old.requires_grad
    assert (log_pi_old[~batch.mask] == 0).all()


def test_ratio_is_one_without_lookahead():
    batch, critic, log_pi_fn, params, advantages = _setup(False)
    _, ex_adv = advantages()
    proxy_adv = torch.zeros(B, T, N, dtype=torch.float64)
    j_ex = lookahead_extrinsic_objective(log_pi_fn, params, proxy_adv, ex_adv, batch.mask, STEP)
    mask = batch.mask.double()
    torch.testing.assert_close(j_ex, (ex_adv.detach() * mask).sum() / mask.sum())
