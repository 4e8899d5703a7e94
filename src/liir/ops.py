"""The learners' math as pure tensor functions: no modules, no optimisers, no Lightning.

Every algorithm in ``liir.algos`` is a composition of these functions and the ``liir.nn`` networks, so
each formula lives in one place and is tested against hand computations. Shapes follow the episode
storage: B episodes, T transitions (T+1 state slots), N agents, A actions; ``mask`` (B, T) marks real
transitions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

import torch

Params = Mapping[str, torch.Tensor]
StepSizes = float | Mapping[str, torch.Tensor]  # one step size, or one (a tensor of each parameter's shape) per name
LogPiFn = Callable[[Params], torch.Tensor]


# --- reductions ---
def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over entries where ``mask`` (broadcastable to x) is True."""
    mask = mask.expand_as(x).to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


# --- policies ---
def softmax(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension, as exp(x − max) / Σ exp(x − max).

    Over a few actions per row ATen's softmax kernel costs 5–7× these elementwise operations, forward and
    backward (smac_2s3z: 19k rows of 11 logits). The max is a constant shift, so it carries no gradient.
    """
    shifted = (logits - logits.detach().amax(-1, keepdim=True)).exp()
    return shifted / shifted.sum(-1, keepdim=True)


def exploration_probs(
    logits: torch.Tensor, avail_actions: torch.Tensor, epsilon: float, mask_before_softmax: bool
) -> torch.Tensor:
    """pymarl's ε-floor policy π̃: (1 − ε)·softmax + ε/|actions|, restricted to available actions.

    With ``mask_before_softmax`` False (pymarl's COMA/LIIR setting) the softmax and the floor cover all
    actions before unavailable ones are zeroed; the result is renormalised over available actions.
    """
    if mask_before_softmax:
        logits = logits.masked_fill(~avail_actions, -1e10)
        n_choices = avail_actions.sum(-1, keepdim=True).clamp(min=1)
    else:
        n_choices = logits.shape[-1]
    probs = (1.0 - epsilon) * softmax(logits) + epsilon / n_choices
    probs = probs * avail_actions
    return probs / probs.sum(-1, keepdim=True).clamp(min=1e-12)


def sample_categorical(probs: torch.Tensor) -> torch.Tensor:
    """One index per row of ``probs`` (..., A), drawn as ``torch.multinomial(probs, 1)`` draws it on CPU — the
    argmax of p / q with q ~ Exp(1), the same random numbers and the same result — without its input checks,
    which read the probabilities back on the host at every step of a rollout. ``probs`` must be a valid
    distribution per row (``exploration_probs``' are by construction)."""
    q = torch.empty_like(probs).exponential_()
    return (probs / q).argmax(-1)


def unfloored_probs(logits: torch.Tensor, avail_actions: torch.Tensor, mask_before_softmax: bool) -> torch.Tensor:
    """The LIIR authors' test-mode probabilities: softmax (over available actions only if
    ``mask_before_softmax``), no ε-floor, unavailable entries zeroed but not renormalised (liir-reference §4.2)."""
    if mask_before_softmax:
        logits = logits.masked_fill(~avail_actions, -1e10)
    return softmax(logits) * avail_actions


def taken_log_probs(probs: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log π(u) (B, T, N) of the taken actions; 0 on padded transitions (where probabilities are 0)."""
    taken = probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    return torch.log(torch.where(mask.unsqueeze(-1), taken, torch.ones_like(taken)))


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy (…) of the distributions ``probs`` (…, A)."""
    return -(probs * torch.log(probs.clamp(min=1e-12))).sum(-1)


def policy_gradient_loss(log_pi: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """−E[A · log π(u)] over real transitions and all agents; the advantages are constants."""
    return -masked_mean(advantages.detach() * log_pi, mask.unsqueeze(-1))


def alive_agents(avail_actions: torch.Tensor) -> torch.Tensor:
    """(…, N) bool: agents with an action besides no-op 0.

    On SMAC (no-op available only to the dead) this is the authors' ``1 − avail[..., 0]``; unlike it, it
    does not zero every agent of an environment whose action 0 is always available (yalidu/liir#7).
    """
    return avail_actions[..., 1:].any(-1)


# --- gradients and optimiser steps ---
def full_precision(device: torch.device) -> torch.autocast:
    """Autocast off on ``device``: what runs inside stays float32 under ``trainer.precision=bf16-mixed``.

    LIIR's meta-gradient is a product of α·λ with second-order terms (~1e-7 to 1e-9): its lookahead and r_in
    head stay in float32 rather than inherit bf16's 8-bit mantissa.
    """
    return torch.autocast(device_type=device.type, enabled=False)


def widened(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 if it was computed in a lower precision (bf16 under autocast); float64 stays float64."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def global_norm(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    """The L2 norm of all ``tensors`` taken together (as ``clip_grad_norm_`` measures a gradient)."""
    return torch.sqrt(sum((t.detach() ** 2).sum() for t in tensors))


def differences(after: Iterable[torch.Tensor], before: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    """``after − before`` tensor by tensor (e.g. an optimiser's step, from snapshots of the parameters)."""
    return [a.detach() - b for a, b in zip(after, before, strict=True)]


def unit_normalised(tensors: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """``tensors`` divided by their ``global_norm`` (left as zeros when it is zero)."""
    norm = global_norm(tensors)
    scale = torch.where(norm > 0, 1.0 / norm, torch.zeros_like(norm))
    return tuple(t * scale for t in tensors)


def centre_per_action(values: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor, n_actions: int) -> torch.Tensor:
    """``values`` (B, T, N) minus their mean over the real entries that took the same action (``actions`` (B, T, N));
    0 on padded entries. Applied to LIIR's per-sample meta-gradient it removes the part shared by every sample of
    an action, which would move r_in of that action alike in every state."""
    real = mask.unsqueeze(-1).expand_as(values)
    onehot = torch.nn.functional.one_hot(actions, n_actions).to(values.dtype) * real.unsqueeze(-1)
    means = (values.unsqueeze(-1) * onehot).sum((0, 1, 2)) / onehot.sum((0, 1, 2)).clamp(min=1)
    return torch.where(real, values - means[actions], torch.zeros_like(values))


# --- returns, baselines and advantages ---
def lambda_returns(
    rewards: torch.Tensor,
    values: torch.Tensor,
    terminated: torch.Tensor,
    mask: torch.Tensor,
    gamma: float,
    td_lambda: float,
) -> torch.Tensor:
    """TD(λ) returns G_t = r_t + γ(1 − d_t)[(1 − λ)V_{t+1} + λG_{t+1}] for every real transition.

    Shapes: ``rewards``, ``terminated``, ``mask`` are (B, T) or broadcastable to ``values[:, :-1]``;
    ``values`` is (B, T+1, ...), slot t holding V of the state before transition t. The return after an
    episode's last transition is the value of its final state, so a time-limited episode (mask ends,
    ``terminated`` False) bootstraps from V(s_L) while a terminated one does not bootstrap at all. On
    padded slots (mask False) the result is V_t; callers mask those entries out of their losses.
    Gradients flow into ``rewards`` and ``values`` (time steps are ``unbind``-ed: indexing each step would
    make the backward write a whole-sequence zero gradient per step). λ = 0 (one-step targets) needs no
    recursion and is computed in one vectorised expression, which gives the loop's values exactly.
    """
    extra_dims = values.dim() - 2
    expand = (slice(None), slice(None)) + (None,) * extra_dims
    rewards = rewards if rewards.dim() == values.dim() else rewards[expand]
    if td_lambda == 0:
        not_done = (~terminated[expand]).to(values.dtype)
        return torch.where(mask[expand], rewards + gamma * not_done * values[:, 1:], values[:, :-1])
    steps = rewards.shape[1]
    reward_t, value_t = rewards.unbind(1), values.unbind(1)
    not_done_t, mask_t = (~terminated[expand]).to(values.dtype).unbind(1), mask[expand].unbind(1)
    ret = value_t[steps]
    out = []
    for t in range(steps - 1, -1, -1):
        bootstrap = (1.0 - td_lambda) * value_t[t + 1] + td_lambda * ret
        ret = torch.where(mask_t[t], reward_t[t] + gamma * not_done_t[t] * bootstrap, value_t[t])
        out.append(ret)
    return torch.stack(out[::-1], dim=1)


def on_filled_slots(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, filled: torch.Tensor) -> torch.Tensor:
    """``fn`` over the slots of ``x`` (B, T, ...) where ``filled`` (B, T) is set; zeros on the other slots.

    A batch padded to its longest episode is half padding on SMAC maps where a few games time out, so the
    critics' whole-batch passes run on the filled slots only. ``fn`` maps rows (K, ...) to (K, ...); the
    result keeps its graph.
    """
    slots = filled.flatten().nonzero().squeeze(1)
    rows = fn(x.flatten(0, 1).index_select(0, slots))
    out = rows.new_zeros(filled.numel(), *rows.shape[1:]).index_copy(0, slots, rows)
    return out.view(*filled.shape, *rows.shape[1:])


def counterfactual_baseline(q_values: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """COMA's baseline Σ_a π(a|τ_i) Q_i(s, (u_-i, a)) (…, N) from Q and π, both (…, N, A)."""
    return (probs * q_values).sum(-1)


def normalise_advantages(
    adv: torch.Tensor,
    mask: torch.Tensor,
    mode: Literal["masked", "padded", "none"],
    constant_statistics: bool = False,
) -> torch.Tensor:
    """(adv − mean) / (std + 1e-8) with the unbiased std, keeping the graph through ``adv``.

    ``masked`` takes the statistics over real entries (``mask`` broadcastable to ``adv``); ``padded``
    over every entry, padded steps included, as the authors' code (liir-reference §4.4), with the padded
    entries counted as 0 (the authors' hold the critic's value of a zero-padded input there, which the learners
    here do not compute); ``none`` returns ``adv`` unchanged. ``constant_statistics``: no gradient flows through
    the mean and std.
    """
    if mode == "none":
        return adv
    values = (adv * mask).flatten() if mode == "padded" else adv[mask.expand_as(adv)]
    mean = values.mean()
    std = values.std() if values.numel() > 1 else values.new_zeros(())
    if constant_statistics:
        mean, std = mean.detach(), std.detach()
    return (adv - mean) / (std + 1e-8)


def greedy_next_values(
    target_qs: torch.Tensor, avail_actions: torch.Tensor, online_qs: torch.Tensor | None
) -> torch.Tensor:
    """Per-agent bootstrap values (..., N) from target-network Q-values (..., N, A) at the next slots.

    With ``online_qs`` (double Q-learning) the action is the online network's best available one and
    its value is read from the target network; otherwise the target network's best available value.
    Slots without any available action (padding after an episode) give 0.
    """
    any_avail = avail_actions.any(-1)
    if online_qs is not None:
        best = online_qs.masked_fill(~avail_actions, float("-inf")).argmax(-1, keepdim=True)
        values = target_qs.gather(-1, best).squeeze(-1)
    else:
        values = target_qs.masked_fill(~avail_actions, float("-inf")).amax(-1)
    return torch.where(any_avail, values, torch.zeros_like(values))


# --- LIIR's meta-gradient: the differentiable one-step lookahead (paper Eq. 6–9) ---
def proxy_gradient(
    log_pi: torch.Tensor, params: Params, proxy_adv: torch.Tensor, mask: torch.Tensor, create_graph: bool = True
) -> tuple[torch.Tensor, ...]:
    """∇_θ J_proxy per tensor of ``params`` (θ), with its graph to η if ``create_graph``.

    ``log_pi`` is log π̃_θ(u) (B, T, N) computed from ``params`` with its graph. J_proxy = mean over real
    (step, agent) entries of Â_proxy(η)·log π̃_θ(u), the proxy actor objective, so ∇_θ J_proxy is minus the
    real policy step's gradient: LIIR takes that step from it rather than unrolling the agent again.
    Without ``create_graph`` the unroll's graph is freed here.
    """
    j_proxy = masked_mean(proxy_adv * log_pi, mask.unsqueeze(-1))
    return torch.autograd.grad(j_proxy, list(params.values()), create_graph=create_graph)


def lookahead_params(
    params: Params, proxy_grads: Sequence[torch.Tensor], step_size: StepSizes
) -> dict[str, torch.Tensor]:
    """θ'(η) = θ + α·∇_θ J_proxy (differentiable in η through ``proxy_grads``).

    ``step_size`` α is one number (plain SGD, the paper's Eq. 6) or a constant tensor per parameter (e.g.
    lr / (√v + ε) from the policy optimiser's RMSprop statistics). Either way the step holds no η-dependent
    optimiser state, so the meta-gradient is exactly the finite-difference slope of J_ex(θ'(η)). Gradient
    clipping of the real step is not part of the lookahead.
    """
    steps = step_sizes_by_name(params, step_size)
    return {k: params[k] + steps[k] * g for k, g in zip(params, proxy_grads, strict=True)}


def step_sizes_by_name(params: Params, step_size: StepSizes) -> Mapping[str, float | torch.Tensor]:
    """``step_size`` as one entry per name of ``params``."""
    return step_size if isinstance(step_size, Mapping) else dict.fromkeys(params, step_size)


def extrinsic_objective(
    log_pi_new: torch.Tensor, log_pi_old: torch.Tensor, extrinsic_adv: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """J_ex = mean over real steps of ρ·sg(Â_ex), ρ = exp(Σ_i log π_new(u_i) − sg(Σ_i log π_old(u_i)))."""
    ratio = torch.exp(log_pi_new.sum(-1) - log_pi_old.detach().sum(-1))
    return masked_mean(ratio * extrinsic_adv.detach(), mask)


def lookahead_extrinsic_objective(
    log_pi_fn: LogPiFn,
    params: Params,
    proxy_adv: torch.Tensor,
    extrinsic_adv: torch.Tensor,
    mask: torch.Tensor,
    step_size: StepSizes,
) -> torch.Tensor:
    """J_ex(θ'(η)) from θ = ``params``: the meta objective, a scalar differentiable in η through ``proxy_adv``."""
    log_pi = log_pi_fn(params)
    new_params = lookahead_params(params, proxy_gradient(log_pi, params, proxy_adv, mask), step_size)
    return extrinsic_objective(log_pi_fn(new_params), log_pi, extrinsic_adv, mask)


def gradients_or_zeros(output: torch.Tensor, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """∂output/∂input for each of ``inputs``, zeros for those ``output`` does not reach; nothing goes to ``.grad``."""
    grads = torch.autograd.grad(output, list(inputs), allow_unused=True)
    return tuple(torch.zeros_like(p) if g is None else g for p, g in zip(inputs, grads, strict=True))


def exact_eta_gradient(
    log_pi_fn: LogPiFn,
    new_params: Params,
    log_pi_old: torch.Tensor,
    eta_params: Sequence[torch.Tensor],
    extrinsic_adv: torch.Tensor,
    mask: torch.Tensor,
) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """(∇_η J_ex(θ'(η)) per tensor of ``eta_params`` — the *ascent* direction —, J_ex detached).

    ``new_params`` is the lookahead θ'(η) (``lookahead_params``, its graph reaching ``eta_params``),
    ``log_pi_old`` log π̃_θ(u) (B, T, N) before it; ``log_pi_fn`` maps agent parameters (a name -> tensor
    dict) to log π̃(u) of the taken actions; ``extrinsic_adv`` (B, T) is a constant. η tensors J_ex does
    not reach get zeros. Nothing is written to ``.grad``.
    """
    j_ex = extrinsic_objective(log_pi_fn(new_params), log_pi_old, extrinsic_adv, mask)
    return gradients_or_zeros(j_ex, eta_params), j_ex.detach()


def finite_difference_eta_gradient(
    log_pi_fn: LogPiFn,
    params: Params,
    proxy_grads: Sequence[torch.Tensor],
    step_size: StepSizes,
    log_pi_old: torch.Tensor,
    proxy_adv: torch.Tensor,
    eta_params: Sequence[torch.Tensor],
    extrinsic_adv: torch.Tensor,
    mask: torch.Tensor,
    perturbation: float,
) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """``exact_eta_gradient``'s result with the second-order term by a central difference instead of autograd.

    J_ex reaches η only through the proxy advantages Â(η) (B, T, N) of θ' = θ + α·∇_θ J_proxy with J_proxy =
    mean_m(Â·log π̃_θ(u)), so ∂J_ex/∂Â = (m/|m|)·D, where D = ∂/∂h log π̃_{θ+h·w}(u) at h = 0 is the slope of
    each log-probability along w = α ⊙ ∇_θ' J_ex. D is taken as (log π̃_{θ+h·w} − log π̃_{θ−h·w}) / 2h with
    ‖h·w‖ = ``perturbation``: two unrolls without a graph in place of the double backward through the θ
    unroll, as DARTS approximates the same second-order term (Liu et al., ICLR 2019, Eq. 8). The error is
    O(perturbation²) from the curvature plus rounding over ``perturbation``.

    ``params`` is θ, ``proxy_grads`` ∇_θ J_proxy (constants: no graph to η is needed), ``proxy_adv`` Â with its
    graph to ``eta_params``; the rest as in ``exact_eta_gradient``.
    """
    new_params = {k: p.detach().requires_grad_() for k, p in lookahead_params(params, proxy_grads, step_size).items()}
    j_ex = extrinsic_objective(log_pi_fn(new_params), log_pi_old, extrinsic_adv, mask)
    outer_grads = torch.autograd.grad(j_ex, list(new_params.values()))
    steps = step_sizes_by_name(params, step_size)
    direction = {k: steps[k] * g for k, g in zip(params, outer_grads, strict=True)}
    norm = global_norm(direction.values()).clamp(min=torch.finfo(j_ex.dtype).tiny)
    h = perturbation / norm
    with torch.no_grad():
        plus = log_pi_fn({k: params[k].detach() + h * w for k, w in direction.items()})
        minus = log_pi_fn({k: params[k].detach() - h * w for k, w in direction.items()})
    slope = (plus - minus) / (2 * h)
    surrogate = masked_mean(proxy_adv * slope, mask.unsqueeze(-1))  # its gradient in Â is ∂J_ex/∂Â
    return gradients_or_zeros(surrogate, eta_params), j_ex.detach()


def factorised_eta_coefficient(
    score_grads: Sequence[torch.Tensor], extrinsic_grads: Sequence[torch.Tensor]
) -> torch.Tensor:
    """The authors' scalar c = ⟨g1, g2⟩ summed over every agent-parameter tensor (liir-reference §2.4 step 7).

    g1 = ∇_θ mean log p_θ(u) (no advantage), g2 = ∇_θ' of the ratio-weighted extrinsic surrogate.
    ``meta_grad=reference`` then minimises sg(c)·mean(G^p): a first-order, factorised stand-in for
    ∇_η J_ex whose sign points against ascent (§2.4, sign analysis), reproduced as written.
    """
    return sum((g1 * g2).sum() for g1, g2 in zip(score_grads, extrinsic_grads, strict=True)).detach()
