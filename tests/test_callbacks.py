import lightning.pytorch as pl
import pytest
from lightning.pytorch.callbacks import Callback

from liir.algos.actor_critic import CentralV
from liir.callbacks import EnvStepCheckpoint
from liir.checkpointing import AtomicCheckpointIO
from liir.data.datamodule import OnPolicyDataModule


class InterruptAfterTwoRollouts(Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx == 1:
            raise KeyboardInterrupt


def test_ctrl_c_saves_the_work_done_so_far(pursuit_env, ac_hparams, tmp_path):
    env = pursuit_env(batch_size=2, episode_limit=6)
    module = CentralV(env.info, **ac_hparams)
    checkpoint = EnvStepCheckpoint(tmp_path, save_model_interval=10**6)
    trainer = pl.Trainer(
        max_epochs=-1,
        logger=False,
        callbacks=[InterruptAfterTwoRollouts(), checkpoint],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        plugins=[AtomicCheckpointIO()],
    )
    with pytest.raises(SystemExit):  # Lightning exits after its graceful shutdown
        trainer.fit(module, datamodule=OnPolicyDataModule(env, module.policy))
    assert trainer.interrupted and module.t_env == 24
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt", "t_env_24.ckpt"]
