"""The batched rollout runner: plays one episode in each of the B environments with a policy.

One Python loop over time; every step is a single batched call into the policy and the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch

from liir.data.episode import EpisodeBatch
from liir.envs.base import BatchedEnv, EnvOutput

MAX_VOID_ROLLOUTS = 10  # batches in a row with only void episodes before the env counts as broken


class VoidEpisodesError(RuntimeError):
    """The environment voids every episode: a broken backend, which replaying would never end."""


EPISODE_STATS = ("return", "battle_won", "ep_length", "dead_allies", "dead_enemies")
ENDING_STATS = ("battle_won", "dead_allies", "dead_enemies")  # read at the step an episode ends


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
        """One batch of episodes without its void ones; ``None`` when all were void.

        Each step's tensors are kept as the env returned them (fresh tensors, see ``EnvOutput``) and stacked
        into the batch once at the end, where padding is zeroed by one masked product per field: a write into
        a (B, T+1, ...) slot per step and field cost more than the policy's forward at SMAC's batch sizes.
        """
        info = self.env.info
        b, limit = info.batch_size, info.episode_limit
        out = self.env.reset()
        policy.start_episodes(b)
        active = torch.ones(b, dtype=torch.bool, device=info.device)
        void = torch.zeros_like(active)
        slots: list[EnvOutput] = [out]  # what was observed before each transition, and after the last
        filled, actions, steps, mask = [active], [], [], []
        for t in range(limit + 1):
            actions.append(policy.act(out.obs, out.avail_actions, test_mode))
            if t == limit or not bool(active.any()):
                break
            out = self.env.step(actions[-1])
            steps.append(out)
            mask.append(active)
            if out.aborted is not None:
                void = void | (active & out.aborted)
            active = active & ~out.ended & ~void
            slots.append(out)
            filled.append(mask[-1])
        batch, final = self._assemble(slots, filled, actions, steps, mask, limit)
        final["ep_length"] = batch.lengths
        stats = {key: batch.reward.sum(1) if key == "return" else final[key] for key in EPISODE_STATS}
        if bool(void.all()):
            return None
        if bool(void.any()):
            keep = ~void
            batch, stats = batch.index(keep), {k: v[keep] for k, v in stats.items()}
        return Rollout(batch=batch, stats=stats, counters=self.env.counters())

    @staticmethod
    def _assemble(
        slots: list[EnvOutput],
        filled: list[torch.Tensor],
        actions: list[torch.Tensor],
        steps: list[EnvOutput],
        mask: list[torch.Tensor],
        limit: int,
    ) -> tuple[EpisodeBatch, dict[str, torch.Tensor]]:
        """The batch padded to ``limit`` transitions from the per-step lists, zero where a slot is not filled or
        a transition not real, and each copy's ``battle_won``/``dead_*`` from the step its episode ended."""
        filled_t, mask_t = torch.stack(filled, 1), torch.stack(mask, 1)  # (B, K+1), (B, K)

        def padded(parts: list[torch.Tensor], valid: torch.Tensor | None, length: int) -> torch.Tensor:
            stacked = torch.stack(parts, 1)
            if valid is not None:
                stacked = stacked * valid.view(valid.shape + (1,) * (stacked.dim() - 2))
            full = stacked.new_zeros((stacked.shape[0], length) + stacked.shape[2:])
            full[:, : stacked.shape[1]] = stacked
            return full

        batch = EpisodeBatch(
            obs=padded([s.obs for s in slots], filled_t, limit + 1),
            state=padded([s.state for s in slots], filled_t, limit + 1),
            avail_actions=padded([s.avail_actions for s in slots], filled_t, limit + 1),
            actions=padded(actions, filled_t, limit + 1),
            filled=padded(filled, None, limit + 1),
            reward=padded([s.reward for s in steps], mask_t, limit),
            terminated=padded([s.terminated for s in steps], mask_t, limit),
            mask=padded(mask, None, limit),
            extras={key: padded([s.extras[key] for s in steps], None, limit) for key in steps[0].extras},
        )
        ending = mask_t & torch.stack([s.ended for s in steps], 1)  # one step per copy at most
        final = {key: (torch.stack([getattr(s, key) for s in steps], 1) * ending).sum(1) for key in ENDING_STATS}
        return batch, final
