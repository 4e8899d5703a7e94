"""Rollouts as Lightning DataModules: on-policy, and off-policy through an episode replay buffer.

The dataset is an endless stream: each item is a fresh batch of episodes collected with the policy handed
to the DataModule (the LightningModule's, updated in place) *at the moment the item is requested*.
Learners therefore pull items themselves
inside ``training_step`` (``dataloader_iter``), so Lightning never pre-fetches a rollout with stale
parameters. Off-policy items also carry the batches to learn from, sampled from the replay buffer the new
episodes were inserted into (pymarl's run loop: collect, insert, train once the buffer holds ``batch_size``
episodes), one per update.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, IterableDataset

from liir.data.episode import EpisodeBatch
from liir.data.replay import EPISODE_FIELDS, EpisodeReplayBuffer
from liir.data.runner import EpisodeRunner, Policy, Rollout
from liir.envs.base import BatchedEnv


class RolloutStream(IterableDataset):
    """Yields ``Rollout``s from ``runner`` played with ``policy`` as it is at each request."""

    def __init__(self, runner: EpisodeRunner, policy: Policy) -> None:
        self.runner = runner
        self.policy = policy

    def __iter__(self) -> Iterator[Rollout]:
        while True:
            yield self.runner.run(self.policy, test_mode=False)


@dataclass
class ReplayRollout(Rollout):
    """The episodes collected since the previous item, plus ``samples``: one batch of episodes drawn from the
    replay buffer per update. Each is drawn only when the learner asks for the next one, so a single sampled
    batch is in memory at a time; the iterator can be consumed once."""

    samples: Iterator[EpisodeBatch] = field(kw_only=True)


def concat_rollouts(rollouts: list[Rollout]) -> Rollout:
    """One rollout holding the episodes of all ``rollouts`` (equal episode limits); other fields from the last."""
    if len(rollouts) == 1:
        return rollouts[0]
    batches = [r.batch for r in rollouts]
    tensors = {name: torch.cat([getattr(b, name) for b in batches]) for name in EPISODE_FIELDS}
    extras = {key: torch.cat([b.extras[key] for b in batches]) for key in batches[0].extras}
    stats = {key: torch.cat([r.stats[key] for r in rollouts]) for key in rollouts[0].stats}
    return replace(rollouts[-1], batch=EpisodeBatch(**tensors, extras=extras), stats=stats)


class ReplayStream(RolloutStream):
    """Collects with the current policy and inserts into ``buffer``; once it holds ``batch_size`` episodes,
    every collection yields ``updates_per_rollout`` training batches, each sampled independently.

    While the buffer fills up (pymarl collects without training then), the collections are gathered
    into the first item, so each item is one round of updates and every episode is counted once.
    """

    def __init__(
        self,
        runner: EpisodeRunner,
        policy: Policy,
        buffer: EpisodeReplayBuffer,
        batch_size: int,
        updates_per_rollout: int,
    ) -> None:
        super().__init__(runner, policy)
        self.buffer = buffer
        self.batch_size = batch_size
        self.updates_per_rollout = updates_per_rollout

    def draw(self) -> Iterator[EpisodeBatch]:
        """The batches of one round of updates, sampled as they are requested."""
        for _ in range(self.updates_per_rollout):
            yield self.buffer.sample(self.batch_size)

    def __iter__(self) -> Iterator[ReplayRollout]:
        pending: list[Rollout] = []
        for rollout in super().__iter__():
            self.buffer.insert(rollout.batch)
            pending.append(rollout)
            if self.buffer.can_sample(self.batch_size):
                collected = concat_rollouts(pending)
                pending = []
                yield ReplayRollout(**vars(collected), samples=self.draw())


def _identity(item: Rollout) -> Rollout:
    return item


def stream_loader(stream: IterableDataset) -> DataLoader:
    """A loader that hands items through unchanged; its own generator keeps starting an iterator (which
    draws a seed) from advancing the global torch stream, so a resumed run draws what it would have."""
    return DataLoader(stream, batch_size=None, num_workers=0, collate_fn=_identity, generator=torch.Generator())


class OnPolicyDataModule(pl.LightningDataModule):
    """Owns the training environment; plays ``policy`` (the algorithm's acting policy) for rollouts."""

    def __init__(self, env: BatchedEnv, policy: Policy) -> None:
        super().__init__()
        self.env = env
        self.policy = policy
        self.runner = EpisodeRunner(env)

    def train_dataloader(self) -> DataLoader:
        return stream_loader(RolloutStream(self.runner, self.policy))

    def state_dict(self) -> dict[str, Any]:
        """The environment's random stream, so a resumed run draws the episodes it would have drawn."""
        return {"env_rng_state": self.env.rng_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.env.load_rng_state(state_dict["env_rng_state"])

    def teardown(self, stage: str) -> None:
        self.env.close()


class OffPolicyDataModule(OnPolicyDataModule):
    """Rollouts through an episode replay buffer of ``buffer_size`` episodes, sampled ``batch_size`` at a time,
    ``updates_per_rollout`` times per collected rollout (pymarl's one update per episode is
    ``updates_per_rollout = batch_size_run``).

    With ``save_replay_buffer`` the buffer's episodes go into every checkpoint (large: up to
    ``buffer_size`` whole episodes), so a resumed run continues exactly; otherwise a resumed run refills
    an empty buffer before its next update. A checkpoint that holds a buffer is always loaded.
    """

    def __init__(
        self,
        env: BatchedEnv,
        policy: Policy,
        buffer_size: int,
        batch_size: int,
        updates_per_rollout: int,
        save_replay_buffer: bool,
    ) -> None:
        super().__init__(env, policy)
        if batch_size > buffer_size:
            raise ValueError(f"batch_size={batch_size} episodes cannot be sampled from buffer_size={buffer_size}")
        if updates_per_rollout < 1:
            raise ValueError(f"updates_per_rollout={updates_per_rollout} is not allowed: it must be at least 1")
        self.buffer = EpisodeReplayBuffer(env.info, buffer_size)
        self.batch_size = batch_size
        self.updates_per_rollout = updates_per_rollout
        self.save_replay_buffer = save_replay_buffer

    def train_dataloader(self) -> DataLoader:
        stream = ReplayStream(self.runner, self.policy, self.buffer, self.batch_size, self.updates_per_rollout)
        return stream_loader(stream)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.save_replay_buffer:
            state["replay_buffer"] = self.buffer.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        if "replay_buffer" in state_dict:
            self.buffer.load_state_dict(state_dict["replay_buffer"])
