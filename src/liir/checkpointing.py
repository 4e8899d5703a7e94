"""Checkpoints that are never half-written: write a temporary file, fsync, then rename over the target."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from liir.algos.base import NonFiniteLossError

WEIGHT_KEYS = ("state_dict", "optimizer_states")  # what a NaN update corrupts; RNG states and buffers are not floats


def atomic_write(path: str | Path, write) -> None:
    """Call ``write(tmp_path)`` and move the result onto ``path`` in one rename (same directory)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO whose saves replace the old file only once the new one is complete."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        """Refuses weights or optimiser state holding NaN or inf: a checkpoint is always one worth resuming."""
        bad = non_finite({key: checkpoint.get(key) for key in WEIGHT_KEYS})
        if bad:
            raise NonFiniteLossError(f"not saving {str(path)!r}: non-finite values in {', '.join(bad[:3])}")
        atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))

    def load_checkpoint(self, path, map_location: Any | None = None, weights_only: bool | None = None) -> dict:
        """Always a full unpickle (``weights_only=False``, whatever Lightning passes), as ``read_checkpoint``.

        Deliberate: liir checkpoints hold RNG states (numpy's, Python's) that torch's weights-only loader,
        torch's default since 2.6, refuses; these are our own files, written by ``save_checkpoint``.
        """
        return torch.load(path, map_location=map_location or "cpu", weights_only=False)


def atomic_copy(src: str | Path, dst: str | Path) -> None:
    atomic_write(dst, lambda tmp: shutil.copyfile(src, tmp))


def non_finite(tree: Any, prefix: str = "") -> list[str]:
    """The dotted names of the floating-point tensors in nested dicts and lists that hold NaN or inf."""
    if isinstance(tree, torch.Tensor):
        return [prefix] if tree.is_floating_point() and not bool(torch.isfinite(tree).all()) else []
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list | tuple) else []
    return [name for key, value in items for name in non_finite(value, f"{prefix}.{key}" if prefix else str(key))]


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or belongs to another environment or algorithm."""


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a liir checkpoint on the CPU, with a clear error when it is missing or not a liir checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {str(path)!r} (ckpt_path must point to a .ckpt file)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for corrupt files
        raise CheckpointError(f"checkpoint {str(path)!r} is unreadable: {exc}") from exc
    if not isinstance(checkpoint, dict) or "liir_run" not in checkpoint:
        raise CheckpointError(f"{str(path)!r} is not a liir checkpoint (no run metadata inside)")
    return checkpoint
