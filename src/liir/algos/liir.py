"""LIIR (Du et al., NeurIPS 2019): proxy actor-critic with learned individual intrinsic rewards.

One training iteration on a batch of on-policy episodes (``LIIR.learn``, the paper's Algorithm 1):

1. **Proxy critics** V_proxy_i are fitted to TD(λ) returns of the proxy reward r + λ·r_in(s, u_i)
   (critic optimiser, ``critic_lr``; ``seq`` or ``batch`` as the other actor-critics).
2. **Policy step** θ → θ' on the normalised proxy advantage G^p − V_proxy (agent optimiser, ``lr``).
3. **η meta-step** (``eta_optimizer``): the intrinsic-reward head η ascends J_ex(θ'(η)) and the
   extrinsic critic V_ex(s; φ) (a network of the state) is fitted to TD(λ) returns of r. ``meta_grad``
   picks how η learns:
   ``exact`` (paper Eq. 6–9 through a differentiable lookahead from θ, ``ops.exact_eta_gradient``, or with its
   second-order term by a central difference, ``ops.finite_difference_eta_gradient``),
   ``reference`` (the authors' factorised surrogate with its sign and probability quirks,
   liir-reference §2.4) or ``frozen`` (η never changes; V_ex is still fitted so its metrics stay
   comparable).

The critic's trunk is trained by the proxy-critic loss only; the η heads read its features detached
(liir-reference §4.1). Targets come from a hard-updated copy of the whole critic. The actor, the critic
fitting and the critic inputs are COMA's, shared by composition (``actor.py``, ``critic_fitting.py``,
``nn.critics.coma_critic_inputs``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

import torch

from liir import ops
from liir.algos.actor import actor_metrics, make_softmax_policy, policy_gradient_step
from liir.algos.base import MARLModule, rmsprop
from liir.algos.critic_fitting import CriticFitter, CriticOptimiser
from liir.data.episode import EpisodeBatch
from liir.data.runner import Rollout
from liir.envs.base import EnvInfo
from liir.nn.critics import coma_critic_input_dim, coma_critic_inputs
from liir.nn.liir_critic import LIIRCritic

AgentParams = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Lookahead:
    """The differentiable policy gradient at θ on the batch (``exact``): the real policy step reuses its forward
    and gradient, and the η step builds θ'(η) from it, so the agent is unrolled at θ once per update."""

    params: AgentParams  # θ, leaves
    probs: torch.Tensor  # π̃_θ (B, T, N, A), graph to θ
    log_pi: torch.Tensor  # log π̃_θ(u) (B, T, N), graph to θ only with meta_grad_second_order=autograd
    proxy_adv: torch.Tensor  # Â_proxy (B, T, N) in float32, graph to η
    proxy_grads: tuple[torch.Tensor, ...]  # ∇_θ J_proxy per agent tensor (controller order), graph to η (autograd)


class LIIR(MARLModule):
    """LIIR with three optimisers: agent θ (``lr``), proxy critic (``critic_lr``) and η + V_ex (``eta_optimizer``)."""

    def __init__(
        self,
        env_info: EnvInfo,
        lr: float,
        critic_lr: float,
        eta_lr: float,
        intrinsic_lambda: float,
        meta_grad: Literal["exact", "reference", "frozen"],
        r_in_scale: float,
        advantage_normalisation: Literal["masked", "padded", "none"],
        normalisation_gradient: Literal["constant", "differentiable"],
        meta_grad_normalisation: Literal["unit", "none"],
        meta_grad_centring: Literal["actions", "none"],
        lookahead: Literal["sgd", "rmsprop"],
        meta_grad_second_order: Literal["autograd", "finite_difference"],
        meta_grad_perturbation: float,
        eta_optimiser: Literal["adam", "rmsprop"],
        eta_grad_norm_clip: float | None,
        extrinsic_critic: Literal["state", "joint_action"],
        optim_alpha: float,
        optim_eps: float,
        grad_norm_clip: float,
        gamma: float,
        td_lambda: float,
        target_update_interval: int,
        critic_train_mode: Literal["seq", "batch"],
        epsilon_start: float,
        epsilon_finish: float,
        epsilon_anneal_time: int,
        mask_before_softmax: bool,
        rnn_hidden_dim: int,
        critic_hidden_dim: int,
        obs_agent_id: bool,
        obs_last_action: bool,
    ) -> None:
        super().__init__(env_info)
        self.save_hyperparameters(ignore=["env_info"])
        self.policy = make_softmax_policy(
            env_info,
            rnn_hidden_dim,
            obs_agent_id,
            obs_last_action,
            epsilon_start,
            epsilon_finish,
            epsilon_anneal_time,
            mask_before_softmax,
        )
        self.controller = self.policy.controller
        info = env_info
        input_dim = coma_critic_input_dim(info.state_shape, info.obs_shape, info.n_agents, info.n_actions)
        state_dim = info.state_shape if extrinsic_critic == "state" else None  # V_ex(s; φ): its own network
        self.critic = LIIRCritic(input_dim, info.n_agents, info.n_actions, critic_hidden_dim, r_in_scale, state_dim)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.critic_fitter = CriticFitter(
            self.critic, self.target_critic, self.critic.proxy_layers(), critic_train_mode, target_update_interval
        )

    def configure_optimizers(self):
        hp = self.hparams
        return [
            rmsprop(self.controller.parameters(), hp.lr, hp.optim_alpha, hp.optim_eps),
            rmsprop(self.critic.proxy_parameters(), hp.critic_lr, hp.optim_alpha, hp.optim_eps),
            self.eta_optimizer(),
        ]

    def eta_optimizer(self) -> torch.optim.Optimizer:
        """The optimiser of η (the r_in head) and V_ex.

        ``reference`` takes the authors' exactly: RMSprop at ``critic_lr`` with the shared α and ε
        (liir-reference §2.6). ``exact`` and ``frozen`` take ``eta_optimiser`` at ``eta_lr``: ``adam``, whose
        step does not follow the meta-gradient's scale, or ``rmsprop`` with the shared α and ε, whose ε (1e-5)
        exceeds the r_in head's RMS meta-gradient early on pursuit and turns it into SGD with a tiny step.
        """
        hp = self.hparams
        params = self.critic.eta_parameters()
        if hp.meta_grad == "reference":
            return rmsprop(params, hp.critic_lr, hp.optim_alpha, hp.optim_eps)
        if hp.eta_optimiser == "adam":
            return torch.optim.Adam(params, lr=hp.eta_lr)
        return rmsprop(params, hp.eta_lr, hp.optim_alpha, hp.optim_eps)

    # --- one training iteration ---
    def learn(self, rollout: Rollout) -> dict[str, float]:
        """The paper's Algorithm 1 on one batch of episodes."""
        hp = self.hparams
        batch = rollout.batch.truncated()
        inputs = self.critic_inputs(batch)  # every critic read below sees the critic before step 1
        r_in = self.intrinsic_rewards_of_taken_actions(batch, inputs)  # r_in(s, u_i; η) (B, T, N), graph to η
        proxy_returns = self.proxy_returns(batch, inputs, r_in)  # G^p of r + λ·r_in, graph to η
        v_ex, ex_returns = self.extrinsic_values_and_returns(batch, inputs)  # V_ex(s), G^ex (B, T)
        raw_ex_adv = (ex_returns - v_ex).detach()
        ex_adv = ops.normalise_advantages(raw_ex_adv, batch.mask, hp.advantage_normalisation)

        proxy_values, critic_metrics = self.fit_proxy_critics(inputs, proxy_returns, batch.mask)  # step 1
        raw_proxy_adv = proxy_returns - proxy_values
        proxy_adv = self.normalise_proxy_advantages(raw_proxy_adv, batch.mask)
        theta = self.agent_parameters()  # θ, from which the η step looks ahead
        lookahead = self.lookahead(batch, theta, proxy_adv) if hp.meta_grad == "exact" else None
        actor = self.policy_step(batch, proxy_adv, lookahead)  # step 2
        eta_metrics = self.eta_step(batch, theta, lookahead, r_in, ex_adv, proxy_returns, v_ex, ex_returns)  # step 3

        intrinsic = intrinsic_reward_metrics(r_in.detach(), raw_proxy_adv.detach(), raw_ex_adv, batch.mask)
        intrinsic["intrinsic_lambda"] = float(hp.intrinsic_lambda)
        return {**critic_metrics, **actor, **eta_metrics, **intrinsic}

    def critic_inputs(self, batch: EpisodeBatch) -> torch.Tensor:
        """COMA's per-agent critic inputs (B, T+1, N, in)."""
        return coma_critic_inputs(batch.state, batch.obs, batch.actions_onehot, batch.last_actions_onehot)

    def intrinsic_rewards_of_taken_actions(self, batch: EpisodeBatch, inputs: torch.Tensor) -> torch.Tensor:
        """r_in (B, T, N) of the taken actions, from the trunk features (detached: the trunk is the proxy
        critics') through the η head."""

        def r_in_of_every_action(rows: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():  # detached trunk features: no graph to build
                features = self.critic.features(rows)
            with ops.full_precision(features.device):
                return self.critic.intrinsic_rewards(ops.widened(features))

        r_in_all = ops.on_filled_slots(r_in_of_every_action, inputs, batch.filled)
        return r_in_all[:, :-1].gather(-1, batch.actions[:, :-1].unsqueeze(-1)).squeeze(-1)

    def proxy_returns(self, batch: EpisodeBatch, inputs: torch.Tensor, r_in: torch.Tensor) -> torch.Tensor:
        """TD(λ) returns (B, T, N) of r_proxy = r + λ·r_in, bootstrapped on the target proxy critics."""
        hp = self.hparams
        with torch.no_grad():
            target = self.target_critic
            target_values = ops.on_filled_slots(lambda x: target.proxy_values(target.features(x)), inputs, batch.filled)
        proxy_reward = batch.reward.unsqueeze(-1) + hp.intrinsic_lambda * r_in
        return ops.lambda_returns(proxy_reward, target_values, batch.terminated, batch.mask, hp.gamma, hp.td_lambda)

    def fit_proxy_critics(
        self, inputs: torch.Tensor, proxy_returns: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Step 1: V_proxy_i regressed on G^p; returns V_proxy (B, T, N) before each update, and metrics."""
        optimiser = CriticOptimiser(
            self.unwrapped_optimizer(1), self.hparams.grad_norm_clip, self.apply_critic_loss, self.require_finite
        )
        return self.critic_fitter.fit(inputs, proxy_returns, mask, optimiser)

    def normalise_proxy_advantages(self, proxy_adv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The actor's normalised proxy advantages, keeping the graph to η (through the statistics only
        with ``normalisation_gradient=differentiable``)."""
        hp = self.hparams
        constant = hp.normalisation_gradient == "constant"
        return ops.normalise_advantages(proxy_adv, mask.unsqueeze(-1), hp.advantage_normalisation, constant)

    def extrinsic_values_and_returns(
        self, batch: EpisodeBatch, inputs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """V_ex (B, T) with its graph to V_ex's parameters, and the TD(λ) extrinsic returns G^ex (B, T)."""
        hp = self.hparams
        with torch.no_grad():
            target_values = self.extrinsic_value(self.target_critic, batch, inputs)
        v_ex = self.extrinsic_value(self.critic, batch, inputs)
        returns = ops.lambda_returns(batch.reward, target_values, batch.terminated, batch.mask, hp.gamma, hp.td_lambda)
        return v_ex[:, :-1], returns

    def extrinsic_value(self, critic: LIIRCritic, batch: EpisodeBatch, inputs: torch.Tensor) -> torch.Tensor:
        """V_ex (B, T+1) by ``critic`` (the online or the target one).

        ``state``: the paper's V_ex(s; φ), a network of the state alone, so A_ex = G_ex − V_ex(s) credits
        the joint action; ``joint_action``: the authors' head on the (detached) trunk features, which see
        every agent's current action (liir-reference §1.2), a Q(s, u) whose advantage is ≈ 0 in expectation
        for every action.
        """
        if self.hparams.extrinsic_critic == "state":
            return critic.state_value(batch.state)
        with torch.no_grad():  # detached trunk features: no graph to build
            features = critic.features(inputs)
        return critic.joint_action_value(features)

    def agent_parameters(self) -> AgentParams:
        """A detached copy of θ, named as in the controller (``torch.func.functional_call`` names)."""
        return {name: p.detach().clone() for name, p in self.controller.named_parameters()}

    def policy_step(
        self, batch: EpisodeBatch, proxy_adv: torch.Tensor, lookahead: Lookahead | None
    ) -> dict[str, float]:
        """Step 2: one policy-gradient step on the proxy advantages; with a lookahead, from its forward and
        its gradient ∇_θ J_proxy (the step's gradient is exactly minus it) instead of a new unroll."""
        if lookahead is None:
            return policy_gradient_step(self.policy, batch, proxy_adv.detach(), self.apply_actor_loss)
        loss = ops.policy_gradient_loss(lookahead.log_pi.detach(), proxy_adv, batch.mask)
        grads = [-g.detach() for g in lookahead.proxy_grads]
        params, clip = list(self.controller.parameters()), self.hparams.grad_norm_clip
        grad_norm = self.optimise_with_gradients(self.optimizers()[0], loss, params, grads, clip, "actor")
        return actor_metrics(self.policy, batch, lookahead.probs, proxy_adv.detach(), loss, grad_norm)

    def eta_step(
        self,
        batch: EpisodeBatch,
        theta: AgentParams,
        lookahead: Lookahead | None,
        r_in: torch.Tensor,
        ex_adv: torch.Tensor,
        proxy_returns: torch.Tensor,
        v_ex: torch.Tensor,
        ex_returns: torch.Tensor,
    ) -> dict[str, float]:
        """Step 3: one optimiser step of η (by ``meta_grad``) and of V_ex (regressed on G^ex, in every mode).

        Logs ``eta_step_norm``, the size ‖Δη‖ of the r_in head's step, and with ``exact`` ``meta_grad_norm``,
        the size ‖∇_η J_ex‖ of the meta-gradient before ``meta_grad_normalisation``.
        """
        hp = self.hparams
        v_ex_loss = ops.masked_mean((v_ex - ex_returns) ** 2, batch.mask)
        metrics: dict[str, float] = {"v_ex_loss": float(v_ex_loss.detach())}
        loss = v_ex_loss
        with ops.full_precision(r_in.device):  # the meta-gradient in float32, whatever trainer.precision says
            if lookahead is not None:
                meta_loss, j_ex, grad_norm = self.exact_meta_loss(batch, lookahead, r_in, ops.widened(ex_adv))
                loss, metrics["j_ex"], metrics["meta_grad_norm"] = loss + meta_loss, float(j_ex), float(grad_norm)
            elif hp.meta_grad == "reference":
                meta_loss, coefficient = self.reference_meta_loss(
                    batch, theta, ops.widened(ex_adv), ops.widened(proxy_returns)
                )
                loss, metrics["meta_coefficient"] = loss + meta_loss, float(coefficient)
        params = list(self.critic.eta_parameters())
        r_in_before = [p.detach().clone() for p in self.critic.r_in_head.parameters()]
        metrics["eta_grad_norm"] = self.optimise(self.optimizers()[2], loss, params, hp.eta_grad_norm_clip, "eta")
        metrics["eta_step_norm"] = float(
            ops.global_norm(ops.differences(self.critic.r_in_head.parameters(), r_in_before))
        )
        return metrics

    def behaviour_probs(self, batch: EpisodeBatch, params: ops.Params) -> torch.Tensor:
        """π̃ (B, T, N, A) of the stored transitions at agent parameters ``params`` and the current ε."""
        logits = torch.func.functional_call(self.controller, dict(params), (batch,))[:, :-1]
        return ops.exploration_probs(
            logits, batch.avail_actions[:, :-1], self.policy.epsilon, self.hparams.mask_before_softmax
        )

    def behaviour_log_pi(self, batch: EpisodeBatch) -> ops.LogPiFn:
        """θ -> log π̃_θ(u) (B, T, N) of the taken actions at the current ε, for the lookahead."""

        def log_pi(params: ops.Params) -> torch.Tensor:
            return ops.taken_log_probs(self.behaviour_probs(batch, params), batch.actions[:, :-1], batch.mask)

        return log_pi

    def lookahead(self, batch: EpisodeBatch, theta: AgentParams, proxy_adv: torch.Tensor) -> Lookahead:
        """∇_θ J_proxy from θ (a detached copy, made a leaf here) on ``proxy_adv``, with its forward. In float32
        under bf16-mixed: the η step differentiates through it. With ``meta_grad_second_order=finite_difference``
        the η step needs no graph from the gradient to η, so none is built and the unroll's graph is freed here."""
        second_order_by_autograd = self.hparams.meta_grad_second_order == "autograd"
        with ops.full_precision(proxy_adv.device):
            params = {name: p.requires_grad_() for name, p in theta.items()}
            probs = self.behaviour_probs(batch, params)
            log_pi = ops.taken_log_probs(probs, batch.actions[:, :-1], batch.mask)
            adv = ops.widened(proxy_adv)
            grad_adv = adv if second_order_by_autograd else adv.detach()
            grads = ops.proxy_gradient(log_pi, params, grad_adv, batch.mask, create_graph=second_order_by_autograd)
        return Lookahead(params, probs, log_pi, adv, grads)

    def exact_meta_loss(
        self, batch: EpisodeBatch, lookahead: Lookahead, r_in: torch.Tensor, ex_adv: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(a loss whose η-gradient is −∇_η J_ex(θ'(η)), scaled by ``meta_grad_normalisation``; J_ex; ‖∇_η J_ex‖).

        θ'(η) = θ + α·∇_θ J_proxy from ``lookahead`` (the same normalised advantages as the real policy step) with
        the step sizes of ``lookahead_step_sizes`` (see ``ops.lookahead_params``). ∇_η J_ex is taken by the chain
        rule through ``r_in`` (B, T, N), the taken actions' intrinsic rewards: ∂J_ex/∂r_in per sample, then
        Σ ∂J_ex/∂r_in · ∇_η r_in. The second-order term (how ∇_θ J_proxy moves with r_in) is taken by
        ``meta_grad_second_order``: ``autograd`` differentiates through the lookahead's graph (a double backward
        through the θ unroll), ``finite_difference`` by a central difference of log π̃ along the lookahead's
        direction (``ops.finite_difference_eta_gradient``). ``meta_grad_centring=actions`` first subtracts from
        ∂J_ex/∂r_in its mean over the samples of each action. ``unit`` divides the meta-gradient by its norm, so
        the η optimiser's step does not depend on its scale (α·λ times the policy's score function: ~1e-7 on
        pursuit with the SGD lookahead, below RMSprop's ε, where the step would shrink with it).
        """
        hp, log_pi_fn, steps = self.hparams, self.behaviour_log_pi(batch), self.lookahead_step_sizes()
        log_pi_old = lookahead.log_pi.detach()
        if hp.meta_grad_second_order == "autograd":
            new_params = ops.lookahead_params(lookahead.params, lookahead.proxy_grads, steps)
            (per_sample,), j_ex = ops.exact_eta_gradient(log_pi_fn, new_params, log_pi_old, [r_in], ex_adv, batch.mask)
        else:
            (per_sample,), j_ex = ops.finite_difference_eta_gradient(
                log_pi_fn,
                lookahead.params,
                lookahead.proxy_grads,
                steps,
                log_pi_old,
                lookahead.proxy_adv,
                [r_in],
                ex_adv,
                batch.mask,
                hp.meta_grad_perturbation,
            )
        if self.hparams.meta_grad_centring == "actions":
            per_sample = ops.centre_per_action(per_sample, batch.actions[:, :-1], batch.mask, self.env_info.n_actions)
        r_in_params = list(self.critic.r_in_head.parameters())
        grads = torch.autograd.grad(r_in, r_in_params, grad_outputs=per_sample, retain_graph=True)
        norm = ops.global_norm(grads)
        if self.hparams.meta_grad_normalisation == "unit":
            grads = ops.unit_normalised(grads)
        return -sum((p * g).sum() for p, g in zip(r_in_params, grads, strict=True)), j_ex, norm

    def lookahead_step_sizes(self) -> float | dict[str, torch.Tensor]:
        """α of the exact lookahead θ' = θ + α·∇_θ J_proxy. ``sgd``: ``lr`` (the paper's Eq. 6). ``rmsprop``:
        lr / (√v + ε) per agent parameter, with v the policy optimiser's running average of squared gradients
        after this update's real step (held constant), so θ' moves as the real RMSprop step does (LIRPG's
        lookahead; gradient clipping aside)."""
        hp = self.hparams
        if hp.lookahead == "sgd":
            return hp.lr
        policy_optimizer = self.optimizers()[0]
        state = getattr(policy_optimizer, "optimizer", policy_optimizer).state  # Lightning's wrapper, or the optimiser
        return {
            name: hp.lr / (state[p]["square_avg"].sqrt() + hp.optim_eps)
            for name, p in self.controller.named_parameters()
        }

    def reference_meta_loss(
        self, batch: EpisodeBatch, theta: AgentParams, ex_adv: torch.Tensor, proxy_returns: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(the authors' ``pg_ex_loss`` = sg(c)·mean(m·G^p), c) with c = ⟨g1, g2⟩ (liir-reference §2.4).

        g1 = ∇_θ mean(m · alive · log p_θ(u)) at θ, with their un-floored, un-renormalised p; g2 = ∇_θ' of
        mean(m · ρ · Â_ex) at θ' (the agent after the policy step), ρ = Π_alive p_θ'(u) / π̃_θ(u).
        """
        hp = self.hparams
        avail, actions, mask = batch.avail_actions[:, :-1], batch.actions[:, :-1], batch.mask
        alive = ops.alive_agents(avail)
        params = {name: p.requires_grad_() for name, p in theta.items()}
        old_logits = torch.func.functional_call(self.controller, params, (batch,))[:, :-1]
        log_p_old = ops.taken_log_probs(ops.unfloored_probs(old_logits, avail, hp.mask_before_softmax), actions, mask)
        score_grads = torch.autograd.grad(ops.masked_mean(log_p_old * alive, mask.unsqueeze(-1)), list(params.values()))
        old_probs = ops.exploration_probs(old_logits.detach(), avail, self.policy.epsilon, hp.mask_before_softmax)
        log_pi_old = ops.taken_log_probs(old_probs, actions, mask) * alive
        new_logits = self.controller.unroll(batch)[:, :-1]
        log_p_new = ops.taken_log_probs(ops.unfloored_probs(new_logits, avail, hp.mask_before_softmax), actions, mask)
        ratio = torch.exp((log_p_new * alive).sum(-1) - log_pi_old.sum(-1))
        new_grads = torch.autograd.grad(ops.masked_mean(ratio * ex_adv, mask), list(self.controller.parameters()))
        coefficient = ops.factorised_eta_coefficient(score_grads, new_grads)
        return coefficient * ops.masked_mean(proxy_returns, mask.unsqueeze(-1)), coefficient

    def apply_actor_loss(self, loss: torch.Tensor) -> float:
        params = list(self.controller.parameters())
        return self.optimise(self.optimizers()[0], loss, params, self.hparams.grad_norm_clip, "actor")

    def apply_critic_loss(self, loss: torch.Tensor) -> float:
        params = list(self.critic.proxy_parameters())
        return self.optimise(self.optimizers()[1], loss, params, self.hparams.grad_norm_clip, "critic")

    def extra_state(self) -> dict[str, Any]:
        return self.critic_fitter.state_dict()

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.critic_fitter.load_state_dict(state)

    @torch.no_grad()
    def intrinsic_rewards(self, batch: EpisodeBatch) -> torch.Tensor:
        """r_in (B, T, N, A) of every action of every agent on stored episodes (for analysis)."""
        return self.critic.intrinsic_rewards(self.critic.features(self.critic_inputs(batch)))[:, :-1]


def intrinsic_reward_metrics(
    r_in: torch.Tensor, proxy_adv: torch.Tensor, ex_adv: torch.Tensor, mask: torch.Tensor
) -> dict[str, float]:
    """r_in of the taken actions (overall and per agent) and the advantages before normalisation."""
    mask3 = mask.unsqueeze(-1)
    real = mask3.expand_as(r_in)
    count = real.sum((0, 1)).clamp(min=1)
    per_agent_mean = (r_in * real).sum((0, 1)) / count
    per_agent_std = (((r_in - per_agent_mean) ** 2 * real).sum((0, 1)) / count).sqrt()
    metrics = {
        "r_in_mean": float(r_in[real].mean()),
        "r_in_std": float(r_in[real].std()) if int(real.sum()) > 1 else 0.0,
        "proxy_advantage_mean": float(ops.masked_mean(proxy_adv, mask3)),
        "proxy_advantage_abs": float(ops.masked_mean(proxy_adv.abs(), mask3)),
        "extrinsic_advantage_mean": float(ops.masked_mean(ex_adv, mask)),
        "extrinsic_advantage_abs": float(ops.masked_mean(ex_adv.abs(), mask)),
    }
    for i, (mean, std) in enumerate(zip(per_agent_mean.tolist(), per_agent_std.tolist(), strict=True)):
        metrics[f"r_in_mean_agent{i}"], metrics[f"r_in_std_agent{i}"] = mean, std
    return metrics
