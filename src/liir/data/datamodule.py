"""On-policy rollouts as a Lightning DataModule.

The dataset is an endless stream: each item is a fresh batch of episodes collected with the policy the
LightningModule holds *at the moment the item is requested*. Learners therefore pull items themselves
inside ``training_step`` (``dataloader_iter``), so Lightning never pre-fetches a rollout with stale
parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import lightning.pytorch as pl
from torch.utils.data import DataLoader, IterableDataset

from liir.data.runner import EpisodeRunner, Policy, Rollout
from liir.envs.base import BatchedEnv


class RolloutStream(IterableDataset):
    """Yields ``Rollout``s from ``runner`` with the policy returned by ``get_policy`` at each request."""

    def __init__(self, runner: EpisodeRunner, get_policy: Callable[[], Policy]) -> None:
        self.runner = runner
        self.get_policy = get_policy

    def __iter__(self) -> Iterator[Rollout]:
        while True:
            yield self.runner.run(self.get_policy(), test_mode=False)


def _identity(item: Rollout) -> Rollout:
    return item


class OnPolicyDataModule(pl.LightningDataModule):
    """Owns the training environment; feeds the attached LightningModule's ``policy`` with rollouts."""

    def __init__(self, env: BatchedEnv) -> None:
        super().__init__()
        self.env = env
        self.runner = EpisodeRunner(env)

    def _policy(self) -> Policy:
        return self.trainer.lightning_module.policy

    def train_dataloader(self) -> DataLoader:
        stream = RolloutStream(self.runner, self._policy)
        return DataLoader(stream, batch_size=None, num_workers=0, collate_fn=_identity)

    def state_dict(self) -> dict[str, Any]:
        """The environment's random stream, so a resumed run draws the episodes it would have drawn."""
        return {"env_rng_state": self.env.rng_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.env.load_rng_state(state_dict["env_rng_state"])

    def teardown(self, stage: str) -> None:
        self.env.close()
