"""Counter-based random numbers: one independent, reproducible stream per environment copy.

Each copy owns a 32-bit key derived from the seed and its index; a draw hashes (key, counter, lane)
with an integer avalanche mix, so every value depends only on the copy's own history, not on the batch
size or on the device. All arithmetic stays in int64 with explicit 32-bit masking.
"""

from __future__ import annotations

import torch

_M32 = 0xFFFFFFFF


def mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit avalanche hash (xor-shift-multiply), applied elementwise to int64 values in [0, 2^32)."""
    x = x & _M32
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _M32
    return x ^ (x >> 16)


def env_keys(seed: int, batch_size: int, device: torch.device) -> torch.Tensor:
    """(B,) int64 keys: copy b of a run seeded ``seed`` always gets the same key."""
    idx = torch.arange(batch_size, dtype=torch.int64, device=device)
    return mix32(mix32(torch.full_like(idx, seed & _M32)) ^ mix32(idx + 0x9E3779B9))


def uniform(key: torch.Tensor, counter: torch.Tensor, lanes: int, salt: int) -> torch.Tensor:
    """(B, lanes) floats in [0, 1) for copies with ``key`` (B,) at ``counter`` (B,)."""
    lane = torch.arange(lanes, dtype=torch.int64, device=key.device) * 0x68E31DA4
    h = mix32((key ^ mix32(counter * 0x2545F491 + salt)).unsqueeze(1) + lane)
    return h.to(torch.float64).div(2.0**32).to(torch.float32)
