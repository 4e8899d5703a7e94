"""pymarl's episode replay buffer: whole episodes in pre-allocated ring storage, sampled uniformly.

Value-based learners train on complete episodes (their agents are recurrent), so the unit stored and
sampled is an episode with every field of ``EpisodeBatch`` (observations, states, availability,
actions, rewards, flags, ``filled`` and ``mask``).
"""

from __future__ import annotations

import logging
from dataclasses import fields
from typing import Any

import torch

from liir.data.episode import EpisodeBatch
from liir.envs.base import EnvInfo

log = logging.getLogger("liir")
EPISODE_FIELDS = tuple(f.name for f in fields(EpisodeBatch) if f.name != "extras")


def available_memory() -> int | None:
    """Bytes of RAM the OS can still give (Linux's ``MemAvailable``); ``None`` where that is unknown."""
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        return None


def gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


class EpisodeReplayBuffer:
    """Holds up to ``capacity`` episodes of ``info.episode_limit`` transitions; the oldest are overwritten.

    Storage is in CPU memory whatever the run's device (a GPU rarely holds a SMAC-sized buffer; sampled batches
    are moved to ``info.device``), allocated once and uninitialised, so the OS commits its pages only as episodes
    are written: the memory in use grows with the episodes held. A slot is read only after an episode has been
    written into it, and every write covers the whole slot (shorter episodes are zero-padded). A buffer larger
    than the available RAM is refused at once, not after hours of filling.
    """

    def __init__(self, info: EnvInfo, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"replay buffer capacity={capacity} is not allowed: it must be positive")
        self.capacity = capacity
        self.episode_limit = info.episode_limit
        self.device = info.device
        layout = EpisodeBatch.empty(
            capacity, info.episode_limit, info.n_agents, info.obs_shape, info.state_shape, info.n_actions, "meta"
        )
        self.nbytes = sum(x.nelement() * x.element_size() for x in (getattr(layout, n) for n in EPISODE_FIELDS))
        available = available_memory()
        if available is not None and self.nbytes > available:
            raise ValueError(
                f"a replay buffer of {capacity} episodes needs {gib(self.nbytes)} of RAM, more than the "
                f"{gib(available)} available: lower buffer_size to at most {available * capacity // self.nbytes}"
            )
        log.info("replay buffer: %d episodes, up to %s of CPU memory", capacity, gib(self.nbytes))
        self.storage = layout._map(lambda x: torch.empty_like(x, device="cpu"))
        self.pos = 0  # the slot the next episode is written to
        self.size = 0  # episodes held

    def __len__(self) -> int:
        return self.size

    def can_sample(self, batch_size: int) -> bool:
        return self.size >= batch_size

    def insert(self, batch: EpisodeBatch) -> None:
        """Store the ``B`` episodes of ``batch`` (padded to at most the episode limit) in the next slots."""
        b, t = batch.batch_size, batch.max_steps
        if b > self.capacity:
            raise ValueError(f"cannot insert {b} episodes into a replay buffer of {self.capacity} episodes")
        if t > self.episode_limit:
            raise ValueError(f"episodes of {t} steps exceed the buffer's episode limit {self.episode_limit}")
        idx = (self.pos + torch.arange(b, device=self.storage.device)) % self.capacity
        for key, value in batch.extras.items():
            if key not in self.storage.extras:
                shape = (self.capacity, self.episode_limit) + value.shape[2:]
                self.storage.extras[key] = value.new_empty(shape, device=self.storage.device)
        pairs = [(getattr(self.storage, name), getattr(batch, name)) for name in EPISODE_FIELDS]
        pairs += [(self.storage.extras[key], value) for key, value in batch.extras.items()]
        for dst, src in pairs:
            if src.shape[1] < dst.shape[1]:
                dst[idx] = 0
            dst[idx, : src.shape[1]] = src.to(dst.device)
        self.pos = (self.pos + b) % self.capacity
        self.size = min(self.size + b, self.capacity)

    def sample(self, batch_size: int) -> EpisodeBatch:
        """``batch_size`` distinct episodes drawn uniformly, truncated to the longest of them."""
        if not self.can_sample(batch_size):
            raise ValueError(f"cannot sample {batch_size} episodes from a replay buffer holding {self.size}")
        idx = torch.randperm(self.size)[:batch_size]
        return self.storage.index(idx).truncated().to(self.device)

    def state_dict(self) -> dict[str, Any]:
        """The stored episodes (only the filled slots) and the ring position."""

        def held(x: torch.Tensor) -> torch.Tensor:
            return x if self.size == self.capacity else x[: self.size].clone()  # a view would save all slots

        return {
            "pos": self.pos,
            "size": self.size,
            "episodes": {name: held(getattr(self.storage, name)) for name in EPISODE_FIELDS},
            "extras": {key: held(value) for key, value in self.storage.extras.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        size = state["size"]
        if size > self.capacity:
            raise ValueError(
                f"the saved replay buffer holds {size} episodes; buffer_size={self.capacity} "
                f"is too small to load it (use at least {size})"
            )
        saved = [(getattr(self.storage, name), state["episodes"][name]) for name in EPISODE_FIELDS]
        for key, value in state["extras"].items():
            self.storage.extras[key] = value.new_empty((self.capacity,) + value.shape[1:], device=self.storage.device)
            saved.append((self.storage.extras[key], value))
        for dst, src in saved:
            if dst.shape[1:] != src.shape[1:]:
                raise ValueError(
                    f"the saved replay buffer has episodes of shape {tuple(src.shape[1:])}, this "
                    f"environment {tuple(dst.shape[1:])}: it was saved for another environment"
                )
            dst[:size] = src.to(dst.device)
        self.size = size
        self.pos = state["pos"] if size == self.capacity else size % self.capacity
