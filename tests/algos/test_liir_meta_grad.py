"""LIIR's exact η meta-gradient through the production path: ``LIIR``'s own proxy returns, advantage
normalisation, behaviour log-probabilities and ``exact_meta_loss``, against central differences (float64)."""

import copy

import pytest
import torch

from liir import ops
from liir.algos.liir import LIIR
from liir.data.episode import EpisodeBatch
from liir.envs.base import EnvInfo

B, T, N, A, OBS, S = 3, 4, 2, 3, 4, 5
LENGTHS = (4, 2, 3)
INFO = EnvInfo(
    n_agents=N, n_actions=A, obs_shape=OBS, state_shape=S, episode_limit=T, batch_size=B, device=torch.device("cpu")
)
LIIR_ARGS = dict(
    intrinsic_lambda=0.5,
    eta_lr=1e-2,
    meta_grad="exact",
    r_in_scale=10.0,
    advantage_normalisation="masked",
    eta_grad_norm_clip=None,
    extrinsic_critic="state",
)
# a large lookahead step (lr) shows the second-order term; a constant ε; small heads keep the differences cheap
OVERRIDES = dict(
    lr=0.5,
    gamma=0.9,
    epsilon_start=0.1,
    epsilon_finish=0.1,
    mask_before_softmax=False,
    rnn_hidden_dim=6,
    critic_hidden_dim=4,
)


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


def _setup(ac_hparams: dict, terminated: bool, normalisation_gradient: str = "constant"):
    """A float64 LIIR module, a batch, θ, and the production proxy/extrinsic advantages as functions of η."""
    torch.manual_seed(1)
    batch = _batch(terminated)
    args = {**ac_hparams, **LIIR_ARGS, **OVERRIDES, "normalisation_gradient": normalisation_gradient}
    module = LIIR(INFO, **args).double()
    inputs = module.critic_inputs(batch).double()
    proxy_values = torch.randn(B, T, N, dtype=torch.float64)  # the proxy critics' values: constants here
    v_ex, ex_returns = module.extrinsic_values_and_returns(batch, inputs)
    ex_adv = ops.normalise_advantages((ex_returns - v_ex).detach(), batch.mask, "masked")

    def raw_proxy_adv() -> torch.Tensor:
        r_in = module.intrinsic_rewards_of_taken_actions(batch, inputs)
        return module.proxy_returns(batch, inputs, r_in) - proxy_values

    real = raw_proxy_adv().detach()[batch.mask.unsqueeze(-1).expand(B, T, N)]

    def proxy_adv(perturbed: bool = False) -> torch.Tensor:
        """The actor's normalised proxy advantages. ``perturbed`` (finite differences) with ``constant``
        statistics: the mean and std stay at their unperturbed values, as the exact gradient treats them."""
        if perturbed and normalisation_gradient == "constant":
            return (raw_proxy_adv() - real.mean()) / (real.std() + 1e-8)
        return module.normalise_proxy_advantages(raw_proxy_adv(), batch.mask)

    return module, batch, module.agent_parameters(), proxy_adv, ex_adv


@pytest.mark.parametrize("normalisation_gradient", ["constant", "differentiable"])
@pytest.mark.parametrize("terminated", [True, False], ids=["terminated", "time_limited"])
def test_exact_meta_loss_descends_the_finite_difference_slope_of_the_lookahead_objective(
    ac_hparams, terminated, normalisation_gradient
):
    module, batch, theta, proxy_adv, ex_adv = _setup(ac_hparams, terminated, normalisation_gradient)
    eta = list(module.critic.eta_parameters())
    loss, j_ex = module.exact_meta_loss(batch, module.lookahead(batch, dict(theta), proxy_adv()), ex_adv)
    grads = torch.autograd.grad(loss, eta, allow_unused=True)
    log_pi_fn, lr = module.behaviour_log_pi(batch), module.hparams.lr

    def objective() -> float:
        """J_ex(θ'(η)) at the current η."""
        params = {k: v.clone().requires_grad_() for k, v in theta.items()}
        adv = proxy_adv(perturbed=True)
        return float(ops.lookahead_extrinsic_objective(log_pi_fn, params, adv, ex_adv, batch.mask, lr).detach())

    assert objective() == pytest.approx(float(j_ex), rel=1e-12)
    h = 1e-6
    slopes = []
    for p in module.critic.r_in_head.parameters():
        flat, g = p.data.view(-1), torch.empty(p.numel(), dtype=p.dtype)  # .data: perturb outside autograd
        for k in range(p.numel()):
            old = flat[k].item()
            flat[k] = old + h
            plus = objective()
            flat[k] = old - h
            minus = objective()
            flat[k] = old
            g[k] = (plus - minus) / (2 * h)
        slopes.append(g.view_as(p))
    exact = torch.cat([g.flatten() for g in grads[:2]])  # the r_in head's weight and bias
    numeric = torch.cat([s.flatten() for s in slopes])
    assert numeric.norm() > 1e-6  # the meta-gradient is not trivially zero
    assert (exact + numeric).norm() / numeric.norm() < 1e-4  # the loss's gradient is minus the slope
    assert all(g is None for g in grads[2:])  # the V_ex head does not reach J_ex


def test_lookahead_is_one_sgd_step_on_the_proxy_objective(ac_hparams):
    module, batch, theta, proxy_adv, _ = _setup(ac_hparams, True)
    params = {k: v.requires_grad_() for k, v in theta.items()}
    log_pi_fn = module.behaviour_log_pi(batch)
    adv = proxy_adv()
    new_params, log_pi_old = ops.lookahead_params(log_pi_fn, params, adv, batch.mask, module.hparams.lr)
    policy_loss = ops.policy_gradient_loss(log_pi_fn(params), adv, batch.mask)
    policy_loss.backward()
    for name, p in params.items():
        torch.testing.assert_close(new_params[name].detach(), p.detach() - module.hparams.lr * p.grad)
    assert not log_pi_old.requires_grad
    assert (log_pi_old[~batch.mask] == 0).all()


def test_ratio_is_one_without_lookahead(ac_hparams):
    module, batch, theta, _, ex_adv = _setup(ac_hparams, False)
    params = {k: v.requires_grad_() for k, v in theta.items()}
    proxy_adv = torch.zeros(B, T, N, dtype=torch.float64)
    j_ex = ops.lookahead_extrinsic_objective(
        module.behaviour_log_pi(batch), params, proxy_adv, ex_adv, batch.mask, module.hparams.lr
    )
    mask = batch.mask.double()
    torch.testing.assert_close(j_ex, (ex_adv * mask).sum() / mask.sum())


def test_policy_step_from_the_lookahead_equals_the_plain_policy_gradient_step(ac_hparams):
    """The exact mode's policy step (gradient −∇θ J_proxy of the lookahead) is the plain step of the other modes."""
    module, batch, theta, proxy_adv, _ = _setup(ac_hparams, True)
    plain = copy.deepcopy(module)
    for m in (module, plain):
        optimizers = m.configure_optimizers()
        m.optimizers = lambda optimizers=optimizers: optimizers
        m.manual_backward = lambda loss: loss.backward()
    adv = proxy_adv()
    shared = module.policy_step(batch, adv, module.lookahead(batch, dict(theta), adv))
    reference = plain.policy_step(batch, adv.detach(), None)
    assert shared == pytest.approx(reference, rel=1e-12)
    for p, q in zip(module.controller.parameters(), plain.controller.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)
    assert any(not torch.equal(p, theta[n]) for n, p in module.controller.named_parameters())
