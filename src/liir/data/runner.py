"""The batched rollout runner: plays one episode in each of the B environments with a policy.

One Python loop over time; every step is a single batched call into the policy and the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch

from liir.data.episode import EpisodeBatch
from liir.envs.base import BatchedEnv

MAX_VOID_ROLLOUTS = 10  # batches in a row with only void episodes before the env counts as broken


class VoidEpisodesError(RuntimeError):
    """The environment voids every episode: a broken backend, which replaying would never end."""


EPISODE_STATS = ("return", "battle_won", "ep_length", "dead_allies", "dead_enemies")


class Policy(Protocol):
    """What the runner needs from a policy: per-batch recurrent state and batched action choice."""

    def start_episodes(self, batch_size: int) -> None: ...

    def act(self, obs: torch.Tensor, avail_actions: torch.Tensor, test_mode: bool) -> torch.Tensor: ...


@dataclass
class Rollout:
    """A batch of finished episodes, their per-episode statistics (each (B,)) and the env's ``counters()``."""

    batch: EpisodeBatch
    stats: dict[str, torch.Tensor]
    counters: dict[str, float] = field(default_factory=dict)

    @property
    def env_steps(self) -> int:
        return int(self.batch.mask.sum())


def summarise(stats: list[dict[str, torch.Tensor]], prefix: str = "") -> dict[str, float]:
    """pymarl's metrics over all episodes in ``stats``: ``<prefix><stat>_mean`` and ``return_std``."""
    merged = {k: torch.cat([s[k].float() for s in stats]) for k in EPISODE_STATS}
    out = {f"{prefix}{k}_mean": float(v.mean()) for k, v in merged.items()}
    out[f"{prefix}return_std"] = float(merged["return"].std(unbiased=False))
    out[f"{prefix}n_episodes"] = float(merged["return"].numel())
    return out


class EpisodeRunner:
    """Collects one episode per environment copy into pre-allocated ``(B, T+1, ...)`` storage.

    A copy whose episode the env reports as ``aborted`` (void) is left out of the batch and the stats, so
    a rollout may hold fewer than B episodes; when every copy was void the episodes are played again.
    """

    def __init__(self, env: BatchedEnv) -> None:
        self.env = env

    def run(self, policy: Policy, test_mode: bool) -> Rollout:
        """One batch of episodes, played again while every copy's episode was void, at most
        ``MAX_VOID_ROLLOUTS`` times in a row."""
        for _ in range(MAX_VOID_ROLLOUTS):
            rollout = self._play(policy, test_mode)
            if rollout is not None:
                return rollout
        backend = self.env.info.metadata.get("backend", "native")
        raise VoidEpisodesError(
            f"every episode of {MAX_VOID_ROLLOUTS} batches in a row was void: the {backend!r} backend "
            f"({type(self.env).__name__}) is failing; check its log"
        )

    @torch.no_grad()
    def _play(self, policy: Policy, test_mode: bool) -> Rollout | None:
        """One batch of episodes without its void ones; ``None`` when all were void."""
        info = self.env.info
        b, limit = info.batch_size, info.episode_limit
        batch = EpisodeBatch.empty(
            b, limit, info.n_agents, info.obs_shape, info.state_shape, info.n_actions, info.device
        )
        out = self.env.reset()
        policy.start_episodes(b)
        active = torch.ones(b, dtype=torch.bool, device=info.device)
        void = torch.zeros_like(active)
        self._write_state(batch, 0, out, active)
        final = {k: torch.zeros(b, dtype=torch.long, device=info.device) for k in EPISODE_STATS[1:]}
        for t in range(limit + 1):
            actions = policy.act(out.obs, out.avail_actions, test_mode)
            batch.actions[:, t] = actions * batch.filled[:, t, None]
            if t == limit or not bool(active.any()):
                break
            out = self.env.step(actions)
            batch.reward[:, t] = out.reward * active
            batch.terminated[:, t] = out.terminated & active
            batch.mask[:, t] = active
            for key, value in out.extras.items():
                if key not in batch.extras:
                    batch.extras[key] = value.new_zeros((b, limit) + value.shape[1:])
                batch.extras[key][:, t] = value
            ending = active & out.ended
            final["battle_won"] = torch.where(ending, out.battle_won.long(), final["battle_won"])
            final["dead_allies"] = torch.where(ending, out.dead_allies, final["dead_allies"])
            final["dead_enemies"] = torch.where(ending, out.dead_enemies, final["dead_enemies"])
            if out.aborted is not None:
                void = void | (active & out.aborted)
            active = active & ~out.ended & ~void
            self._write_state(batch, t + 1, out, batch.mask[:, t])
        final["ep_length"] = batch.lengths
        stats = {"return": batch.reward.sum(1), **final}
        if bool(void.all()):
            return None
        if bool(void.any()):
            keep = ~void
            batch, stats = batch.index(keep), {k: v[keep] for k, v in stats.items()}
        return Rollout(batch=batch, stats=stats, counters=self.env.counters())

    @staticmethod
    def _write_state(batch: EpisodeBatch, t: int, out, valid: torch.Tensor) -> None:
        """Store the observation of slot ``t`` for the copies where ``valid`` (B,) is True."""
        batch.obs[:, t] = out.obs * valid[:, None, None]
        batch.state[:, t] = out.state * valid[:, None]
        batch.avail_actions[:, t] = out.avail_actions & valid[:, None, None]
        batch.filled[:, t] = valid
