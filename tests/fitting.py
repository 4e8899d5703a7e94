"""Fitting a module with a real Lightning Trainer in-process, keeping what its last ``training_step`` returned."""

from __future__ import annotations

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from liir.algos.base import MARLModule, StepOutputs
from liir.callbacks import StopAtTMax
from liir.data.datamodule import OnPolicyDataModule


class LastOutputs(Callback):
    """Keeps the ``outputs`` of the latest training step (the rollout learned from and the metrics)."""

    def __init__(self) -> None:
        self.outputs: StepOutputs | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.outputs = outputs


def fit(
    module: MARLModule, env, t_max: int = 1, datamodule=None, callbacks=(), precision: str = "32-true"
) -> StepOutputs:
    """Train until ``t_max`` env steps (at least one update); return the last step's outputs."""
    last = LastOutputs()
    trainer = pl.Trainer(
        max_epochs=-1,
        precision=precision,
        logger=False,
        callbacks=[StopAtTMax(t_max), last, *callbacks],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, datamodule=datamodule or OnPolicyDataModule(env, module.policy))
    return last.outputs
