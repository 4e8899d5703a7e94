"""LIIR's exact η meta-gradient (paper Eq. 6–9, issue 3 ``meta_grad=exact``), as pure functions.

One training iteration's bilevel step, differentiated end to end:

1. θ'(η) = θ + α·∇_θ J_proxy(θ, η), with J_proxy = mean over real (step, agent) entries of
   Â_proxy(η)·log π̃_θ(u) and Â_proxy = G^p(η) − sg(V_proxy), G^p the TD(λ) return of r + λ·r_in(η).
   The gradient is taken with ``create_graph=True`` so θ' stays a differentiable function of η.
2. J_ex(θ') = mean over real steps of ρ·Â_ex with ρ = Π_i π̃_θ'(u_i) / sg(π̃_θ(u_i)) (joint over agents)
   and Â_ex = sg(G^ex − V_ex) (Algorithm 1, step 5).
3. ∇_η J_ex by autograd through θ'.

The lookahead is **plain SGD with step α = lr** (the paper's Eq. 6), not the RMSprop step the policy
optimiser actually takes: the paper states its meta-gradient for that update, and SGD keeps the
meta-gradient free of optimiser state, so it is exactly the finite-difference slope of J_ex(θ'(η)).
Gradient clipping of the real step is likewise not part of the lookahead. The actual policy update is
the caller's business.

Agent parameters enter only through ``log_pi_fn``: a callable mapping a name -> tensor dict of agent
parameters to log π̃(u) (B, T, N) of the taken actions, typically ``torch.func.functional_call`` on the
agent (see :class:`TakenLogProbs`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from liir.algos.actor_critic import masked_mean, taken_log_probs
from liir.algos.controller import MultiAgentController, exploration_probs
from liir.data.episode import EpisodeBatch
from liir.returns import lambda_returns

Params = Mapping[str, torch.Tensor]
LogPiFn = Callable[[Params], torch.Tensor]


class TakenLogProbs(nn.Module):
    """log π(u) (B, T, N) of the taken actions, as a ``forward`` (0 on padded transitions).

    With ``renormalise`` it is the ε-floor behaviour policy π̃; without, the authors' test-mode
    probabilities: softmax (over available actions only if ``mask_before_softmax``), no ε-floor, not
    renormalised (liir-reference §4.2). Wrapping the controller gives ``torch.func.functional_call`` a
    forward to call with substituted parameters (named ``controller.…``).
    """

    def __init__(self, controller: MultiAgentController, mask_before_softmax: bool, renormalise: bool = True) -> None:
        super().__init__()
        self.controller = controller
        self.mask_before_softmax = mask_before_softmax
        self.renormalise = renormalise

    def forward(self, batch: EpisodeBatch, epsilon: float) -> torch.Tensor:
        return self.from_logits(self.controller.unroll(batch)[:, :-1], batch, epsilon)

    def from_logits(self, logits: torch.Tensor, batch: EpisodeBatch, epsilon: float) -> torch.Tensor:
        """The same log-probabilities from already unrolled agent outputs (B, T, N, A)."""
        avail = batch.avail_actions[:, :-1]
        if self.renormalise:
            probs = exploration_probs(logits, avail, epsilon, self.mask_before_softmax)
        else:
            if self.mask_before_softmax:
                logits = logits.masked_fill(~avail, -1e10)
            probs = torch.softmax(logits, dim=-1) * avail
        return taken_log_probs(probs, batch.actions[:, :-1], batch.mask)


def functional_log_pi(module: nn.Module, *args: object) -> LogPiFn:
    """params -> ``module(*args)`` evaluated with those parameters (buffers stay the module's)."""
    return lambda params: torch.func.functional_call(module, dict(params), args)


def proxy_advantages(
    reward: torch.Tensor,
    r_in_taken: torch.Tensor,
    intrinsic_lambda: float,
    target_proxy_values: torch.Tensor,
    proxy_values: torch.Tensor,
    terminated: torch.Tensor,
    mask: torch.Tensor,
    gamma: float,
    td_lambda: float,
) -> torch.Tensor:
    """Â_proxy (B, T, N) = G^p − sg(V_proxy), G^p the TD(λ) return of r_proxy = r + λ·r_in.

    ``reward``, ``terminated``, ``mask`` (B, T); ``r_in_taken`` (B, T, N) keeps its graph to η;
    ``target_proxy_values`` (B, T+1, N) and ``proxy_values`` (B, T, N) are baselines (no gradient).
    """
    proxy_reward = reward.unsqueeze(-1) + intrinsic_lambda * r_in_taken
    returns = lambda_returns(proxy_reward, target_proxy_values.detach(), terminated, mask, gamma, td_lambda)
    return returns - proxy_values.detach()


def lookahead_params(
    log_pi_fn: LogPiFn,
    params: Params,
    proxy_adv: torch.Tensor,
    mask: torch.Tensor,
    step_size: float,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """θ'(η) = θ + α·∇_θ J_proxy (differentiable in η) and log π̃_θ(u) (B, T, N), detached.

    ``mask`` (B, T) selects real transitions; J_proxy averages over them and all agents, as the
    proxy actor loss does.
    """
    names = list(params)
    log_pi = log_pi_fn(params)
    j_proxy = masked_mean(proxy_adv * log_pi, mask.unsqueeze(-1))
    grads = torch.autograd.grad(j_proxy, [params[k] for k in names], create_graph=True)
    new_params = {k: params[k] + step_size * g for k, g in zip(names, grads, strict=True)}
    return new_params, log_pi.detach()


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
    step_size: float,
) -> torch.Tensor:
    """J_ex(θ'(η)): the meta objective, a scalar differentiable in η through ``proxy_adv``."""
    new_params, log_pi_old = lookahead_params(log_pi_fn, params, proxy_adv, mask, step_size)
    return extrinsic_objective(log_pi_fn(new_params), log_pi_old, extrinsic_adv, mask)


def exact_eta_gradient(
    log_pi_fn: LogPiFn,
    params: Params,
    eta_params: Sequence[torch.Tensor],
    proxy_adv: torch.Tensor,
    extrinsic_adv: torch.Tensor,
    mask: torch.Tensor,
    step_size: float,
) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """(∇_η J_ex(θ'(η)) per tensor of ``eta_params`` — the *ascent* direction —, J_ex detached).

    ``proxy_adv`` (B, T, N) must carry the graph from ``eta_params`` (see :func:`proxy_advantages`);
    ``extrinsic_adv`` (B, T) is treated as a constant. η tensors J_ex does not reach (the V_ex head)
    get zeros. Nothing is written to ``.grad``: the caller sets ``p.grad = -g`` to minimise with its
    optimiser.
    """
    j_ex = lookahead_extrinsic_objective(log_pi_fn, params, proxy_adv, extrinsic_adv, mask, step_size)
    grads = torch.autograd.grad(j_ex, list(eta_params), allow_unused=True)
    grads = tuple(torch.zeros_like(p) if g is None else g for p, g in zip(eta_params, grads, strict=True))
    return grads, j_ex.detach()


def factorised_eta_coefficient(
    score_grads: Sequence[torch.Tensor], extrinsic_grads: Sequence[torch.Tensor]
) -> torch.Tensor:
    """The authors' scalar c = ⟨g1, g2⟩ summed over every agent-parameter tensor (liir-reference §2.4 step 7).

    g1 = ∇_θ mean log p_θ(u) (no advantage), g2 = ∇_θ' of the ratio-weighted extrinsic surrogate.
    ``meta_grad=reference`` then minimises sg(c)·mean(G^p): a first-order, factorised stand-in for
    ∇_η J_ex whose sign points against ascent (§2.4, sign analysis), reproduced as written.
    """
    return sum((g1 * g2).sum() for g1, g2 in zip(score_grads, extrinsic_grads, strict=True)).detach()
