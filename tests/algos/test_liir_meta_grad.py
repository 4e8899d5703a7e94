"""LIIR's exact η meta-gradient through the production path: ``LIIR``'s own proxy returns, advantage
normalisation, behaviour log-probabilities and ``exact_meta_loss``, against central differences (float64)."""

import copy

import pytest
import torch
from tests.fitting import fit

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
    meta_grad_normalisation="none",
    meta_grad_centring="none",
    lookahead="sgd",
    meta_grad_second_order="autograd",
    meta_grad_perturbation=1e-2,
    eta_optimiser="adam",
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


def _setup(
    ac_hparams: dict, terminated: bool, normalisation_gradient: str = "constant", meta_grad_normalisation: str = "none"
):
    """A float64 LIIR module, a batch, θ, and the production proxy/extrinsic advantages as functions of η."""
    torch.manual_seed(1)
    batch = _batch(terminated)
    args = {**ac_hparams, **LIIR_ARGS, **OVERRIDES, "normalisation_gradient": normalisation_gradient}
    args["meta_grad_normalisation"] = meta_grad_normalisation
    module = LIIR(INFO, **args).double()
    inputs = module.critic_inputs(batch).double()
    proxy_values = torch.randn(B, T, N, dtype=torch.float64)  # the proxy critics' values: constants here
    v_ex, ex_returns = module.extrinsic_values_and_returns(batch, inputs)
    ex_adv = ops.normalise_advantages((ex_returns - v_ex).detach(), batch.mask, "masked")

    def raw_proxy_terms() -> tuple[torch.Tensor, torch.Tensor]:
        r_in = module.intrinsic_rewards_of_taken_actions(batch, inputs)
        return r_in, module.proxy_returns(batch, inputs, r_in) - proxy_values

    real = raw_proxy_terms()[1].detach()[batch.mask.unsqueeze(-1).expand(B, T, N)]

    def proxy_terms(perturbed: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(r_in of the taken actions, the actor's normalised proxy advantages), both with their graph to η.
        ``perturbed`` (finite differences) with ``constant`` statistics: the mean and std stay at their
        unperturbed values, as the exact gradient treats them."""
        r_in, raw = raw_proxy_terms()
        if perturbed and normalisation_gradient == "constant":
            return r_in, (raw - real.mean()) / (real.std() + 1e-8)
        return r_in, module.normalise_proxy_advantages(raw, batch.mask)

    return module, batch, module.agent_parameters(), proxy_terms, ex_adv


def _meta_loss(module: LIIR, batch: EpisodeBatch, theta: dict, proxy_terms, ex_adv: torch.Tensor):
    """``exact_meta_loss`` as ``learn`` calls it: the lookahead from θ on the proxy advantages, then the η loss."""
    r_in, adv = proxy_terms()
    return module.exact_meta_loss(batch, module.lookahead(batch, dict(theta), adv), r_in, ex_adv)


def _rmsprop_step_sizes(module: LIIR) -> dict[str, torch.Tensor]:
    """Fixed per-parameter steps lr / (√v + ε) with a made-up v (the tests have no policy optimiser)."""
    generator = torch.Generator().manual_seed(4)
    lr, eps = module.hparams.lr, module.hparams.optim_eps
    return {
        name: lr / ((torch.rand(p.shape, generator=generator, dtype=p.dtype) * 4).sqrt() + eps)
        for name, p in module.controller.named_parameters()
    }


@pytest.mark.parametrize(
    ("terminated", "normalisation_gradient", "lookahead", "second_order"),
    [
        (True, "constant", "sgd", "autograd"),
        (False, "constant", "sgd", "autograd"),
        (True, "differentiable", "sgd", "autograd"),
        (False, "differentiable", "sgd", "autograd"),
        (True, "constant", "rmsprop", "autograd"),
        (False, "constant", "sgd", "finite_difference"),
        (True, "differentiable", "sgd", "finite_difference"),
        (True, "constant", "rmsprop", "finite_difference"),
    ],
    ids=[
        "terminated",
        "time_limited",
        "terminated_differentiable",
        "time_limited_differentiable",
        "rmsprop",
        "fd_time_limited",
        "fd_terminated_differentiable",
        "fd_rmsprop",
    ],
)
def test_exact_meta_loss_descends_the_finite_difference_slope_of_the_lookahead_objective(
    ac_hparams, terminated, normalisation_gradient, lookahead, second_order, monkeypatch
):
    """Both ways of taking the second-order term; ``finite_difference`` with a perturbation small enough in float64
    that its own error (curvature: O(perturbation²)) is far below the tolerance."""
    module, batch, theta, proxy_terms, ex_adv = _setup(ac_hparams, terminated, normalisation_gradient)
    module.hparams.meta_grad_second_order, module.hparams.meta_grad_perturbation = second_order, 1e-5
    if lookahead == "rmsprop":  # the production path with per-parameter steps, as the policy optimiser's v gives
        steps = _rmsprop_step_sizes(module)
        monkeypatch.setattr(module, "lookahead_step_sizes", lambda: steps)
    eta = list(module.critic.eta_parameters())
    loss, j_ex, _ = _meta_loss(module, batch, theta, proxy_terms, ex_adv)
    grads = torch.autograd.grad(loss, eta, allow_unused=True)
    log_pi_fn, lr = module.behaviour_log_pi(batch), module.lookahead_step_sizes()

    def objective() -> float:
        """J_ex(θ'(η)) at the current η."""
        params = {k: v.clone().requires_grad_() for k, v in theta.items()}
        _, adv = proxy_terms(perturbed=True)
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


def _meta_loss_gradient(setup, ex_adv_scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(the r_in head's gradient of ``exact_meta_loss``, flattened; the reported ‖∇_η J_ex‖)."""
    module, batch, theta, proxy_terms, ex_adv = setup
    loss, _, norm = _meta_loss(module, batch, theta, proxy_terms, ex_adv * ex_adv_scale)
    grads = torch.autograd.grad(loss, list(module.critic.r_in_head.parameters()))
    return torch.cat([g.flatten() for g in grads]), norm


def test_unit_normalisation_keeps_the_meta_gradient_direction_at_unit_length_whatever_its_scale(ac_hparams):
    """``unit``: the η loss's gradient is −∇_η J_ex / ‖∇_η J_ex‖ (``none``'s, checked against finite differences
    above, rescaled), with the raw norm reported. Scaling J_ex by 100 (through the extrinsic advantages)
    scales the raw norm by 100 and leaves the normalised gradient unchanged."""
    raw_setup = _setup(ac_hparams, True, meta_grad_normalisation="none")
    unit_setup = _setup(ac_hparams, True, meta_grad_normalisation="unit")
    raw, raw_norm = _meta_loss_gradient(raw_setup, 1.0)
    unit, unit_norm = _meta_loss_gradient(unit_setup, 1.0)
    torch.testing.assert_close(raw_norm, raw.norm())
    torch.testing.assert_close(unit_norm, raw_norm)
    torch.testing.assert_close(unit, raw / raw.norm())
    scaled_raw, scaled_raw_norm = _meta_loss_gradient(raw_setup, 100.0)
    scaled_unit, _ = _meta_loss_gradient(unit_setup, 100.0)
    torch.testing.assert_close(scaled_raw, 100.0 * raw)
    torch.testing.assert_close(scaled_raw_norm, 100.0 * raw_norm)
    torch.testing.assert_close(scaled_unit, unit)


def test_rmsprop_lookahead_steps_by_the_policy_optimisers_statistics(pursuit_env, ac_hparams):
    """``lookahead=rmsprop``: α = lr / (√v + ε) per agent parameter, v the policy optimiser's square average."""
    env = pursuit_env(batch_size=2, episode_limit=3)
    module = LIIR(env.info, **{**ac_hparams, **LIIR_ARGS, "normalisation_gradient": "constant", "lookahead": "rmsprop"})
    fit(module, env)
    steps = module.lookahead_step_sizes()
    state = module.optimizers()[0].optimizer.state
    for name, p in module.controller.named_parameters():
        expected = ac_hparams["lr"] / (state[p]["square_avg"].sqrt() + ac_hparams["optim_eps"])
        torch.testing.assert_close(steps[name], expected, rtol=0, atol=0)


@pytest.mark.parametrize("lookahead", ["sgd", "rmsprop"])
def test_lookahead_is_one_step_on_the_proxy_objective(ac_hparams, lookahead):
    module, batch, theta, proxy_terms, _ = _setup(ac_hparams, True)
    params = {k: v.requires_grad_() for k, v in theta.items()}
    log_pi_fn = module.behaviour_log_pi(batch)
    _, adv = proxy_terms()
    steps = _rmsprop_step_sizes(module) if lookahead == "rmsprop" else dict.fromkeys(params, module.hparams.lr)
    log_pi = log_pi_fn(params)
    new_params = ops.lookahead_params(params, ops.proxy_gradient(log_pi, params, adv, batch.mask), steps)
    policy_loss = ops.policy_gradient_loss(log_pi_fn(params), adv, batch.mask)
    policy_loss.backward()
    for name, p in params.items():
        torch.testing.assert_close(new_params[name].detach(), p.detach() - steps[name] * p.grad)


def test_ratio_is_one_without_lookahead(ac_hparams):
    module, batch, theta, _, ex_adv = _setup(ac_hparams, False)
    params = {k: v.requires_grad_() for k, v in theta.items()}
    proxy_adv = torch.zeros(B, T, N, dtype=torch.float64)
    j_ex = ops.lookahead_extrinsic_objective(
        module.behaviour_log_pi(batch), params, proxy_adv, ex_adv, batch.mask, module.hparams.lr
    )
    mask = batch.mask.double()
    torch.testing.assert_close(j_ex, (ex_adv * mask).sum() / mask.sum())


def test_centred_meta_gradient_moves_eta_by_each_samples_difference_from_its_actions_mean(ac_hparams):
    """``meta_grad_centring=actions``: η follows Σ_k (m_k − mean of m over samples of k's action)·∇_η r_in(k),
    with m_k = ∂J_ex/∂r_in(k) per taken action."""
    module, batch, theta, proxy_terms, ex_adv = _setup(ac_hparams, True)
    module.hparams.meta_grad_centring = "actions"
    loss, _, _ = _meta_loss(module, batch, theta, proxy_terms, ex_adv)
    head = list(module.critic.r_in_head.parameters())
    got = torch.autograd.grad(loss, head)
    r_in, adv = proxy_terms()
    params = {k: v.clone().requires_grad_() for k, v in theta.items()}
    log_pi_fn = module.behaviour_log_pi(batch)
    log_pi = log_pi_fn(params)
    new_params = ops.lookahead_params(params, ops.proxy_gradient(log_pi, params, adv, batch.mask), module.hparams.lr)
    (per_sample,), _ = ops.exact_eta_gradient(log_pi_fn, new_params, log_pi.detach(), [r_in], ex_adv, batch.mask)
    centred = ops.centre_per_action(per_sample, batch.actions[:, :-1], batch.mask, A)
    assert not torch.allclose(centred, per_sample)
    expected = torch.autograd.grad(r_in, head, grad_outputs=-centred)  # the loss descends, η ascends J_ex
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e)


def test_policy_step_from_the_lookahead_equals_the_plain_policy_gradient_step(ac_hparams):
    """The exact mode's policy step (gradient −∇θ J_proxy of the lookahead) is the plain step of the other modes."""
    module, batch, theta, proxy_terms, _ = _setup(ac_hparams, True)
    plain = copy.deepcopy(module)
    for m in (module, plain):
        optimizers = m.configure_optimizers()
        m.optimizers = lambda optimizers=optimizers: optimizers
        m.manual_backward = lambda loss: loss.backward()
    _, adv = proxy_terms()
    shared = module.policy_step(batch, adv, module.lookahead(batch, dict(theta), adv))
    reference = plain.policy_step(batch, adv.detach(), None)
    assert shared == pytest.approx(reference, rel=1e-12)
    for p, q in zip(module.controller.parameters(), plain.controller.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)
    assert any(not torch.equal(p, theta[n]) for n, p in module.controller.named_parameters())
