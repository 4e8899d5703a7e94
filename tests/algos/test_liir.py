import copy

import pytest
import torch
from tests.fitting import fit

from liir import ops
from liir.algos.liir import LIIR
from liir.data.episode import EpisodeBatch
from liir.envs.base import EnvInfo
from liir.ops import (
    alive_agents,
    exploration_probs,
    lambda_returns,
    masked_mean,
    normalise_advantages,
    taken_log_probs,
)

LIIR_ARGS = dict(
    intrinsic_lambda=0.5,
    eta_lr=1e-2,
    r_in_scale=10.0,
    advantage_normalisation="masked",
    eta_grad_norm_clip=None,
    extrinsic_critic="state",
    normalisation_gradient="differentiable",
    meta_grad_normalisation="unit",
    meta_grad_centring="none",
    lookahead="rmsprop",
    meta_grad_second_order="autograd",
    meta_grad_perturbation=1e-2,
    eta_optimiser="adam",
)


HAND_INFO = EnvInfo(
    n_agents=2, n_actions=3, obs_shape=4, state_shape=5, episode_limit=3, batch_size=2, device=torch.device("cpu")
)


def make_liir(env_info: EnvInfo, ac_hparams, **overrides) -> LIIR:
    args = {**ac_hparams, **LIIR_ARGS, "meta_grad": "exact", "mask_before_softmax": False, **overrides}
    return LIIR(env_info, **args)


def snapshot(module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in module.named_parameters()}


@pytest.mark.parametrize("meta_grad", ["exact", "reference", "frozen"])
def test_optimizers_own_disjoint_parameter_sets_and_each_step_changes_only_its_own(
    pursuit_env, ac_hparams, meta_grad, monkeypatch
):
    env = pursuit_env(batch_size=3, episode_limit=5)
    module = make_liir(env.info, ac_hparams, meta_grad=meta_grad)
    names = {id(p): n for n, p in module.named_parameters()}
    groups = [{names[id(p)] for g in opt.param_groups for p in g["params"]} for opt in module.configure_optimizers()]
    agent, critic, eta = groups
    assert agent == {n for n in names.values() if n.startswith("controller.")}
    assert critic == {n for n in names.values() if n.startswith(("critic.trunk.", "critic.v_proxy_head."))}
    assert eta == {n for n in names.values() if n.startswith(("critic.r_in_head.", "critic.v_ex_net."))}
    trainable = {n for n, p in module.named_parameters() if p.requires_grad}
    assert agent | critic | eta == trainable and len(agent) + len(critic) + len(eta) == len(trainable)

    steps: list[tuple[str, set[str]]] = []

    def recording(name: str | None, original):
        """``original`` wrapped to record which trainable parameters each call changed (``name`` None: the name
        ``optimise`` is given; the target critic's copies are not trained)."""

        def recorded(*args):
            before = snapshot(module)
            out = original(*args)
            changed = {n for n, p in module.named_parameters() if p.requires_grad and not torch.equal(p, before[n])}
            steps.append((name or args[-1], changed))
            return out

        return recorded

    monkeypatch.setattr(module, "optimise", recording(None, module.optimise))  # eta, actor (unless exact)
    monkeypatch.setattr(module, "optimise_with_gradients", recording(None, module.optimise_with_gradients))
    monkeypatch.setattr(module, "fit_proxy_critics", recording("critic", module.fit_proxy_critics))  # seq: by hand
    fit(module, env)
    owners = {"actor": agent, "critic": critic, "eta": eta}
    assert {name for name, _ in steps} == {"actor", "critic", "eta"}
    for name, changed in steps:
        assert changed and changed <= owners[name], (name, changed - owners[name])
    eta_changed = set().union(*(changed for name, changed in steps if name == "eta"))
    assert any(n.startswith("critic.r_in_head.") for n in eta_changed) == (meta_grad != "frozen")


def test_frozen_eta_never_changes(pursuit_env, ac_hparams):
    env = pursuit_env(batch_size=4, episode_limit=5)
    module = make_liir(env.info, ac_hparams, meta_grad="frozen")
    r_in_head = copy.deepcopy(module.critic.r_in_head.state_dict())
    v_ex_net = copy.deepcopy(module.critic.v_ex_net.state_dict())
    fit(module, env, t_max=60)
    assert module.t_env >= 60
    for key, value in module.critic.r_in_head.state_dict().items():
        torch.testing.assert_close(value, r_in_head[key], rtol=0, atol=0)
    assert any(not torch.equal(v, v_ex_net[k]) for k, v in module.critic.v_ex_net.state_dict().items())


def _agent_after_one_update(env_factory, ac_hparams, intrinsic_lambda: float, r_in_seed: int) -> torch.Tensor:
    """Agent parameters after one LIIR update from fixed weights, with the r_in head drawn from ``r_in_seed``."""
    env = env_factory(batch_size=4, episode_limit=5, seed=3)
    torch.manual_seed(0)
    module = make_liir(env.info, ac_hparams, intrinsic_lambda=intrinsic_lambda)
    with torch.no_grad():
        generator = torch.Generator().manual_seed(r_in_seed)
        for p in module.critic.r_in_head.parameters():
            p.copy_(torch.randn(p.shape, generator=generator))
        module.target_critic.load_state_dict(module.critic.state_dict())
    torch.manual_seed(1)  # the same action samples in every call
    fit(module, env)
    return torch.cat([p.detach().flatten() for p in module.controller.parameters()])


def test_with_lambda_zero_the_policy_update_ignores_the_intrinsic_rewards(pursuit_env, ac_hparams):
    same_a = _agent_after_one_update(pursuit_env, ac_hparams, 0.0, r_in_seed=1)
    same_b = _agent_after_one_update(pursuit_env, ac_hparams, 0.0, r_in_seed=2)
    torch.testing.assert_close(same_a, same_b, rtol=0, atol=0)
    differ_a = _agent_after_one_update(pursuit_env, ac_hparams, 0.5, r_in_seed=1)
    differ_b = _agent_after_one_update(pursuit_env, ac_hparams, 0.5, r_in_seed=2)
    assert not torch.allclose(differ_a, differ_b)


def test_with_lambda_zero_the_policy_step_is_the_plain_proxy_actor_critic_step(pursuit_env, ac_hparams):
    """λ = 0: θ moves exactly as RMSprop on −mean(normalise(G − V_proxy)·log π̃(u)) from the batch's returns."""
    env = pursuit_env(batch_size=4, episode_limit=5, seed=3)
    module = make_liir(env.info, ac_hparams, intrinsic_lambda=0.0, critic_train_mode="batch", meta_grad="frozen")
    reference = copy.deepcopy(module)
    batch = fit(module, env)["rollout"].batch.truncated()
    hp = reference.hparams
    inputs = reference.critic_inputs(batch)
    with torch.no_grad():
        targets = lambda_returns(
            batch.reward,
            reference.target_critic.proxy_values(reference.target_critic.features(inputs)),
            batch.terminated,
            batch.mask,
            hp.gamma,
            hp.td_lambda,
        )
        values = reference.critic.proxy_values(reference.critic.features(inputs[:, :-1]))
    advantages = normalise_advantages(targets - values, batch.mask.unsqueeze(-1), "masked")
    epsilon = module.policy.epsilon
    probs = exploration_probs(reference.controller.unroll(batch)[:, :-1], batch.avail_actions[:, :-1], epsilon, False)
    log_pi = taken_log_probs(probs, batch.actions[:, :-1], batch.mask)
    loss = -masked_mean(advantages * log_pi, batch.mask.unsqueeze(-1))
    params = list(reference.controller.parameters())
    optimizer = torch.optim.RMSprop(params, lr=hp.lr, alpha=hp.optim_alpha, eps=hp.optim_eps)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, hp.grad_norm_clip)
    optimizer.step()
    for trained, expected in zip(module.controller.parameters(), params, strict=True):
        torch.testing.assert_close(trained, expected)


def _hand_batch() -> EpisodeBatch:
    """Two episodes of 3 and 2 steps, two agents, three actions; agent 1 is dead (no-op only) at t = 2."""
    batch = EpisodeBatch.empty(2, 3, 2, 4, 5, 3, "cpu")
    torch.manual_seed(5)
    batch.obs = torch.randn(2, 4, 2, 4)
    batch.state = torch.randn(2, 4, 5)
    batch.avail_actions[:] = torch.tensor([False, True, True])
    batch.avail_actions[0, 2, 1] = torch.tensor([True, False, False])
    batch.actions = torch.tensor([[[1, 2], [2, 1], [1, 0], [0, 0]], [[2, 2], [1, 1], [0, 0], [0, 0]]])
    batch.reward = torch.tensor([[0.5, -0.2, 1.0], [0.3, 0.7, 0.0]])
    batch.mask[0, :3], batch.mask[1, :2] = True, True
    batch.filled[0, :4], batch.filled[1, :3] = True, True
    batch.terminated[0, 2] = True
    return batch


def test_reference_reproduces_the_authors_factorised_surrogate(ac_hparams):
    module = make_liir(HAND_INFO, {**ac_hparams, "rnn_hidden_dim": 4}, meta_grad="reference")
    module.policy.epsilon = 0.2
    batch = _hand_batch()
    kappa, gamma, lam = module.hparams.intrinsic_lambda, module.hparams.gamma, module.hparams.td_lambda
    alive = torch.tensor([[[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]], [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]])
    assert torch.equal(alive_agents(batch.avail_actions[:, :-1]).float(), alive)
    mask = batch.mask.float()

    # g1 by hand: the plain softmax of the logits (no ε, not renormalised) at the taken actions
    logits = module.controller.unroll(batch)[:, :-1]
    p_old = torch.softmax(logits, -1).gather(-1, batch.actions[:, :-1, :, None]).squeeze(-1)
    objective = (mask[..., None] * alive * torch.log(p_old)).sum() / (mask.sum() * 2)
    g1 = torch.autograd.grad(objective, list(module.controller.parameters()))
    theta = module.agent_parameters()

    # a policy step happens in between: perturb θ to θ'
    with torch.no_grad():
        for p in module.controller.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ex_adv = torch.tensor([[1.0, -0.5, 0.25], [-1.0, 2.0, 0.0]])
    r_in = torch.zeros(2, 3, 2, requires_grad=True)
    target = torch.randn(2, 4, 2)
    proxy_returns = lambda_returns(
        batch.reward.unsqueeze(-1) + kappa * r_in, target, batch.terminated, batch.mask, gamma, lam
    )
    loss, coefficient = module.reference_meta_loss(batch, theta, ex_adv, proxy_returns)

    # g2 by hand: ratio of the new plain softmax over the old ε-floored π̃, joint over alive agents
    logits_new = module.controller.unroll(batch)[:, :-1]
    p_new = torch.softmax(logits_new, -1).gather(-1, batch.actions[:, :-1, :, None]).squeeze(-1)
    pi_old = exploration_probs(logits.detach(), batch.avail_actions[:, :-1], 0.2, False)
    log_pi_old = alive * taken_log_probs(pi_old, batch.actions[:, :-1], batch.mask)
    ratio = torch.exp((alive * torch.log(p_new)).sum(-1) - log_pi_old.sum(-1))
    g2 = torch.autograd.grad((mask * ex_adv * ratio).sum() / mask.sum(), list(module.controller.parameters()))
    c = sum((a * b).sum() for a, b in zip(g1, g2, strict=True))
    assert float(coefficient) == pytest.approx(float(c), rel=1e-5)

    # ∂L/∂r_in(t') = c·κ·m_t'·Σ_{t<=t'} m_t (γλ)^(t'−t) / Σ m·N: the same sign for every sample
    (grad,) = torch.autograd.grad(loss, r_in)
    expected = torch.zeros(2, 3, 2)
    for b in range(2):
        for t_prime in range(3):
            weight = sum(float(mask[b, t]) * (gamma * lam) ** (t_prime - t) for t in range(t_prime + 1))
            expected[b, t_prime] = float(c) * kappa * float(mask[b, t_prime]) * weight / (mask.sum() * 2)
    torch.testing.assert_close(grad, expected)


def test_constant_normalisation_statistics_pass_gradient_only_through_each_entry():
    """``constant``: d normalised / d adv is 1/std on real entries; ``differentiable`` also moves every entry."""
    adv = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)
    mask = torch.ones(3, 4, 1, dtype=torch.bool)
    mask[2, 3] = False
    weights = torch.randn(3, 4, 2, dtype=torch.float64)
    real = adv.detach()[mask.expand_as(adv)]
    (constant,) = torch.autograd.grad((normalise_advantages(adv, mask, "masked", True) * weights).sum(), adv)
    torch.testing.assert_close(constant, weights / (real.std() + 1e-8))
    (through,) = torch.autograd.grad((normalise_advantages(adv, mask, "masked") * weights).sum(), adv)
    assert through.sum().abs() < 1e-9  # shifting every entry changes nothing
    assert not torch.allclose(through, constant)


EXACT_ETA_GRADIENT = ops.exact_eta_gradient  # unpatched


def _first_eta_steps(env_factory, ac_hparams, monkeypatch, scale: float, **overrides) -> torch.Tensor:
    """The r_in head's change over LIIR's first three updates, with the exact meta-gradient multiplied by ``scale``."""
    env = env_factory(batch_size=4, episode_limit=5, seed=3)
    torch.manual_seed(0)
    module = make_liir(env.info, ac_hparams, intrinsic_lambda=0.01, **overrides)
    before = torch.cat([p.detach().flatten() for p in module.critic.r_in_head.parameters()])

    def scaled(*args):
        grads, j_ex = EXACT_ETA_GRADIENT(*args)
        return tuple(scale * g for g in grads), j_ex

    monkeypatch.setattr(ops, "exact_eta_gradient", scaled)
    torch.manual_seed(1)  # the same action samples in every call
    metrics = fit(module, env, t_max=60)["metrics"]
    assert module.t_env == 60
    after = torch.cat([p.detach().flatten() for p in module.critic.r_in_head.parameters()])
    assert metrics["eta_step_norm"] > 0 and metrics["meta_grad_norm"] > 0
    return after - before


@pytest.mark.parametrize(
    "overrides",
    [
        dict(meta_grad_normalisation="unit", eta_optimiser="adam"),
        dict(meta_grad_normalisation="unit", eta_optimiser="rmsprop"),
        dict(meta_grad_normalisation="none", eta_optimiser="adam"),
    ],
    ids=["unit_adam", "unit_rmsprop", "adam"],
)
def test_eta_steps_do_not_depend_on_the_meta_gradient_scale(pursuit_env, ac_hparams, monkeypatch, overrides):
    """Scaling ∇_η J_ex by 100 leaves the first η steps unchanged (Adam alone: up to its ε = 1e-8, ~1%)."""
    steps = _first_eta_steps(pursuit_env, ac_hparams, monkeypatch, 1.0, **overrides)
    scaled = _first_eta_steps(pursuit_env, ac_hparams, monkeypatch, 100.0, **overrides)
    tolerance = 1e-5 if overrides["meta_grad_normalisation"] == "unit" else 2e-2
    torch.testing.assert_close(scaled, steps, rtol=tolerance, atol=tolerance * float(steps.abs().max()))


def test_raw_meta_gradient_under_rmsprop_epsilon_moves_eta_by_its_scale(pursuit_env, ac_hparams, monkeypatch):
    """The former η update (SGD lookahead, RMSprop with ε = 1e-5, raw meta-gradient of ~1e-5 norm here): ε swamps
    √v, so the step is SGD-like and grows with the meta-gradient's scale."""
    old = dict(meta_grad_normalisation="none", eta_optimiser="rmsprop", lookahead="sgd")
    steps = _first_eta_steps(pursuit_env, ac_hparams, monkeypatch, 1.0, **old)
    scaled = _first_eta_steps(pursuit_env, ac_hparams, monkeypatch, 100.0, **old)
    assert scaled.norm() > 10 * steps.norm()


@pytest.mark.parametrize(
    ("meta_grad", "second_order"),
    [("exact", "autograd"), ("exact", "finite_difference"), ("reference", "autograd")],
    ids=["exact", "exact_finite_difference", "reference"],
)
def test_the_meta_gradient_stays_float32_under_bf16_mixed(
    pursuit_env, ac_hparams, monkeypatch, meta_grad, second_order
):
    """``trainer.precision=bf16-mixed`` runs ``learn`` under autocast; the η step (the lookahead or the authors'
    surrogate) runs with autocast off, in float32, and so does the r_in head that feeds it."""
    env = pursuit_env(batch_size=4, episode_limit=5, seed=3)
    module = make_liir(
        env.info, ac_hparams, meta_grad=meta_grad, intrinsic_lambda=0.01, meta_grad_second_order=second_order
    )
    seen: dict[str, tuple[bool, torch.dtype]] = {}

    def recording(name: str):
        original = getattr(LIIR, name)

        def wrapped(self, *args):
            out = original(self, *args)
            seen[name] = (torch.is_autocast_enabled("cpu"), (out[0] if isinstance(out, tuple) else out).dtype)
            return out

        monkeypatch.setattr(LIIR, name, wrapped)

    for name in ("critic_inputs", "intrinsic_rewards_of_taken_actions", f"{meta_grad}_meta_loss"):
        recording(name)
    fit(module, env, t_max=20, precision="bf16-mixed")
    assert seen["critic_inputs"][0]  # the learner does run under autocast
    assert seen["intrinsic_rewards_of_taken_actions"][1] == torch.float32
    assert seen[f"{meta_grad}_meta_loss"] == (False, torch.float32)
