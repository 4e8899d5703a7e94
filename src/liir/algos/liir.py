"""LIIR (Du et al., NeurIPS 2019): proxy actor-critic with learned individual intrinsic rewards.

One training iteration on a batch of on-policy episodes:

1. **Proxy critics** V_proxy_i are fitted to TD(λ) returns of the proxy reward r + λ·r_in(s, u_i)
   (critic optimiser, ``critic_lr``; ``seq`` or ``batch`` as the other actor-critics).
2. **Policy step** θ → θ' on the normalised proxy advantage G^p − V_proxy (agent optimiser, ``lr``).
3. **η meta-step** (eta optimiser, ``eta_lr``): the intrinsic-reward head η ascends J_ex(θ'(η)) and
   the extrinsic critic V_ex is fitted to TD(λ) returns of r. ``meta_grad`` picks how η learns:
   ``exact`` (paper Eq. 6–9 by autograd through a differentiable lookahead, see ``meta_grad.py``),
   ``reference`` (the authors' factorised surrogate with its sign and probability quirks,
   liir-reference §2.4) or ``frozen`` (η never changes; V_ex is still fitted so its metrics stay
   comparable).

The critic's trunk is trained by the proxy-critic loss only; the η heads read its features detached
(liir-reference §4.1). Targets come from a hard-updated copy of the whole critic.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from liir.algos.actor_critic import COMA, masked_mean
from liir.algos.meta_grad import (
    TakenLogProbs,
    exact_eta_gradient,
    factorised_eta_coefficient,
    functional_log_pi,
)
from liir.data.episode import EpisodeBatch
from liir.data.runner import Rollout
from liir.envs.base import EnvInfo
from liir.nn.critics import coma_critic_inputs
from liir.nn.liir_critic import LIIRCritic
from liir.returns import lambda_returns

META_GRADS = ("exact", "reference", "frozen")
EXTRINSIC_CRITICS = ("state", "joint_action")
ADVANTAGE_NORMALISATIONS = ("masked", "padded", "none")
NORMALISATION_GRADIENTS = ("constant", "differentiable")


def normalise_advantages(adv: torch.Tensor, mask: torch.Tensor, mode: str, constant_statistics: bool = False
                         ) -> torch.Tensor:
    """(adv − mean) / (std + 1e-8) with the unbiased std, keeping the graph through ``adv``.

    ``masked`` takes the statistics over real entries (``mask`` broadcastable to ``adv``); ``padded``
    over every entry, padded steps included, as the authors' code (liir-reference §4.4); ``none``
    returns ``adv`` unchanged. ``constant_statistics``: no gradient flows through the mean and std.
    """
    if mode == "none":
        return adv
    values = adv.flatten() if mode == "padded" else adv[mask.expand_as(adv)]
    mean = values.mean()
    std = values.std() if values.numel() > 1 else values.new_zeros(())
    if constant_statistics:
        mean, std = mean.detach(), std.detach()
    return (adv - mean) / (std + 1e-8)


def alive_agents(avail_actions: torch.Tensor) -> torch.Tensor:
    """(…, N) bool: agents with an action besides no-op 0.

    On SMAC (no-op available only to the dead) this is the authors' ``1 − avail[..., 0]``; unlike it, it
    does not zero every agent of an environment whose action 0 is always available (yalidu/liir#7).
    """
    return avail_actions[..., 1:].any(-1)


class LIIR(COMA):
    """LIIR with three optimisers: agent (``lr``), proxy critic (``critic_lr``) and η + V_ex (``eta_lr``).

    It is COMA with the critic's Q head replaced by the V_proxy, r_in and V_ex heads (liir-reference §8).
    """

    def __init__(
        self,
        env_info: EnvInfo,
        intrinsic_lambda: float,
        eta_lr: float,
        meta_grad: Literal["exact", "reference", "frozen"],
        r_in_scale: float,
        advantage_normalisation: Literal["masked", "padded", "none"],
        eta_grad_norm_clip: float | None,
        extrinsic_critic: Literal["state", "joint_action"],
        normalisation_gradient: Literal["constant", "differentiable"],
        **actor_critic_args: Any,
    ) -> None:
        if meta_grad not in META_GRADS:
            raise ValueError(f"meta_grad must be one of {META_GRADS}, got {meta_grad!r}")
        if advantage_normalisation not in ADVANTAGE_NORMALISATIONS:
            raise ValueError(
                f"advantage_normalisation must be one of {ADVANTAGE_NORMALISATIONS}, got {advantage_normalisation!r}"
            )
        if normalisation_gradient not in NORMALISATION_GRADIENTS:
            raise ValueError(f"normalisation_gradient must be one of {NORMALISATION_GRADIENTS}, "
                             f"got {normalisation_gradient!r}")
        if extrinsic_critic not in EXTRINSIC_CRITICS:
            raise ValueError(f"extrinsic_critic must be one of {EXTRINSIC_CRITICS}, got {extrinsic_critic!r}")
        super().__init__(env_info, **actor_critic_args)

    def log_probs(self, renormalise: bool) -> TakenLogProbs:
        """log-probabilities of the taken actions as a module (for ``functional_call``), not registered.

        ``renormalise``: the behaviour policy π̃ (ε-floor, renormalised over available actions); otherwise
        the authors' un-floored softmax with unavailable entries zeroed but not renormalised (§4.2).
        """
        return TakenLogProbs(self.controller, self.hparams.mask_before_softmax, renormalise)

    # --- networks and optimisers (the critic inputs are COMA's) ---
    def extrinsic_critic_inputs(self, batch: EpisodeBatch, inputs: torch.Tensor) -> torch.Tensor:
        """What V_ex reads: the critic inputs, with every current action hidden for a state value.

        ``state``: V_ex(s) as in the paper's A_ex = G_ex − V_ex(s), so the extrinsic advantage credits
        the joint action; ``joint_action``: the authors' code, where V_ex sees every agent's current
        action through the trunk features (liir-reference §1.2), a Q(s, u) whose advantage is ≈ 0 in
        expectation for every action.
        """
        if self.hparams.extrinsic_critic == "joint_action":
            return inputs
        no_actions = torch.zeros_like(batch.actions_onehot)
        return coma_critic_inputs(batch.state, batch.obs, no_actions, batch.last_actions_onehot)

    def build_critic(self) -> nn.Module:
        hp, info = self.hparams, self.env_info
        return LIIRCritic(self.critic_input_dim(), info.n_agents, info.n_actions, hp.critic_hidden_dim, hp.r_in_scale)

    def critic_parameters(self) -> list[nn.Parameter]:
        return list(self.critic.proxy_parameters())

    def eta_parameters(self) -> list[nn.Parameter]:
        return list(self.critic.eta_parameters())

    def configure_optimizers(self):
        return [*super().configure_optimizers(), self.rmsprop(self.eta_parameters(), self.hparams.eta_lr)]

    # --- one training iteration ---
    def learn(self, rollout: Rollout) -> dict[str, float]:
        hp = self.hparams
        batch = rollout.batch.truncated()
        mask, mask3 = batch.mask, batch.mask.unsqueeze(-1)
        inputs = self.critic_inputs(batch)
        ex_inputs = self.extrinsic_critic_inputs(batch, inputs)
        with torch.no_grad():
            target_proxy = self.target_critic.proxy_values(self.target_critic.features(inputs))
            target_ex = self.target_critic.extrinsic_value(self.target_critic.features(ex_inputs))
        features = self.critic.features(inputs).detach()
        r_in_all = self.critic.intrinsic_rewards(features)
        v_ex = self.critic.extrinsic_value(self.critic.features(ex_inputs).detach())
        r_in = r_in_all[:, :-1].gather(-1, batch.actions[:, :-1].unsqueeze(-1)).squeeze(-1)  # (B, T, N), to η
        proxy_reward = batch.reward.unsqueeze(-1) + hp.intrinsic_lambda * r_in
        proxy_returns = lambda_returns(proxy_reward, target_proxy, batch.terminated, mask, hp.gamma, hp.td_lambda)
        ex_returns = lambda_returns(batch.reward, target_ex, batch.terminated, mask, hp.gamma, hp.td_lambda)

        proxy_values, metrics = self.fit_critic(
            lambda t: self.critic.proxy_values(self.critic.features(inputs[:, t])), proxy_returns.detach(), mask
        )
        raw_proxy_adv = proxy_returns - proxy_values
        proxy_adv = normalise_advantages(raw_proxy_adv, mask3, hp.advantage_normalisation,  # graph to η
                                         hp.normalisation_gradient == "constant")
        raw_ex_adv = (ex_returns - v_ex[:, :-1]).detach()
        ex_adv = normalise_advantages(raw_ex_adv, mask, hp.advantage_normalisation)

        eta_loss = masked_mean((v_ex[:, :-1] - ex_returns) ** 2, mask)  # V_ex fit, in every mode
        metrics["v_ex_loss"] = float(eta_loss.detach())
        if hp.meta_grad == "exact":  # from θ, before the policy step
            eta_loss = eta_loss + self.exact_meta_loss(batch, proxy_adv, ex_adv, metrics)
        pre_step = self.reference_pre_step(batch) if hp.meta_grad == "reference" else None
        metrics.update(self.train_actor(batch, proxy_adv.detach()))
        if pre_step is not None:  # at θ', after the policy step
            eta_loss = eta_loss + self.reference_meta_loss(batch, *pre_step, ex_adv, proxy_returns, metrics)
        eta_opt = self.optimizers()[2]
        params = self.eta_parameters()
        metrics["eta_grad_norm"] = self.optimise(eta_opt, eta_loss, params, hp.eta_grad_norm_clip, "eta")
        metrics.update(self.intrinsic_metrics(r_in.detach(), raw_proxy_adv.detach(), raw_ex_adv, mask3))
        return metrics

    def exact_meta_loss(
        self, batch: EpisodeBatch, proxy_adv: torch.Tensor, ex_adv: torch.Tensor, metrics: dict[str, float]
    ) -> torch.Tensor:
        """A loss whose η-gradient is −∇_η J_ex(θ'(η)) (paper Eq. 6–9), from the pre-update θ.

        The lookahead mirrors the real policy step's objective (same normalised advantages) with plain
        SGD of step ``lr`` (see ``meta_grad.py`` for why).
        """
        behaviour = self.log_probs(renormalise=True)
        log_pi_fn = functional_log_pi(behaviour, batch, self.policy.epsilon)
        params = dict(behaviour.named_parameters())
        r_in_params = list(self.critic.r_in_head.parameters())
        grads, j_ex = exact_eta_gradient(
            log_pi_fn, params, r_in_params, proxy_adv, ex_adv, batch.mask, self.hparams.lr
        )
        metrics["j_ex"] = float(j_ex)
        return -sum((p * g).sum() for p, g in zip(r_in_params, grads, strict=True))

    def reference_pre_step(self, batch: EpisodeBatch) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """What the authors take from θ before the policy step (§2.4 steps 3 and 5).

        g1 = ∇_θ mean(m · alive · log p_θ(u)) with their un-floored, un-renormalised p, and
        alive · log π̃_θ(u) (B, T, N), the importance ratio's denominator.
        """
        alive = alive_agents(batch.avail_actions[:, :-1])
        logits = self.controller.unroll(batch)[:, :-1]  # one unroll serves both
        log_p = self.log_probs(renormalise=False).from_logits(logits, batch, 0.0) * alive
        objective = masked_mean(log_p, batch.mask.unsqueeze(-1))
        score_grads = torch.autograd.grad(objective, list(self.controller.parameters()))
        log_pi_old = self.log_probs(renormalise=True).from_logits(logits.detach(), batch, self.policy.epsilon) * alive
        return score_grads, log_pi_old

    def reference_meta_loss(
        self,
        batch: EpisodeBatch,
        score_grads: tuple[torch.Tensor, ...],
        log_pi_old: torch.Tensor,
        ex_adv: torch.Tensor,
        proxy_returns: torch.Tensor,
        metrics: dict[str, float],
    ) -> torch.Tensor:
        """The authors' ``pg_ex_loss`` = sg(c)·mean(m·G^p), c = ⟨g1, g2⟩, evaluated after the policy step (θ')."""
        log_p_new = self.log_probs(renormalise=False)(batch, 0.0) * alive_agents(batch.avail_actions[:, :-1])
        ratio = torch.exp(log_p_new.sum(-1) - log_pi_old.sum(-1))
        objective = masked_mean(ratio * ex_adv, batch.mask)
        new_grads = torch.autograd.grad(objective, list(self.controller.parameters()))
        coefficient = factorised_eta_coefficient(score_grads, new_grads)
        metrics["meta_coefficient"] = float(coefficient)
        return coefficient * masked_mean(proxy_returns, batch.mask.unsqueeze(-1))

    def intrinsic_metrics(
        self, r_in: torch.Tensor, proxy_adv: torch.Tensor, ex_adv: torch.Tensor, mask3: torch.Tensor
    ) -> dict[str, float]:
        """r_in of the taken actions (overall and per agent) and the advantages before normalisation."""
        real = mask3.expand_as(r_in)
        count = real.sum((0, 1)).clamp(min=1)
        per_agent_mean = (r_in * real).sum((0, 1)) / count
        per_agent_std = (((r_in - per_agent_mean) ** 2 * real).sum((0, 1)) / count).sqrt()
        metrics = {
            "r_in_mean": float(r_in[real].mean()),
            "r_in_std": float(r_in[real].std()) if int(real.sum()) > 1 else 0.0,
            "intrinsic_lambda": float(self.hparams.intrinsic_lambda),
            "proxy_advantage_mean": float(masked_mean(proxy_adv, mask3)),
            "proxy_advantage_abs": float(masked_mean(proxy_adv.abs(), mask3)),
            "extrinsic_advantage_mean": float(masked_mean(ex_adv, mask3[..., 0])),
            "extrinsic_advantage_abs": float(masked_mean(ex_adv.abs(), mask3[..., 0])),
        }
        for i, (mean, std) in enumerate(zip(per_agent_mean.tolist(), per_agent_std.tolist(), strict=True)):
            metrics[f"r_in_mean_agent{i}"], metrics[f"r_in_std_agent{i}"] = mean, std
        return metrics

    @torch.no_grad()
    def intrinsic_rewards(self, batch: EpisodeBatch) -> torch.Tensor:
        """r_in (B, T, N, A) of every action of every agent on stored episodes (for analysis)."""
        _, r_in, _ = self.critic(self.critic_inputs(batch))
        return r_in[:, :-1]
