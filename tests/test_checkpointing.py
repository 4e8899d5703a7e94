import pytest
import torch

from liir.checkpointing import AtomicCheckpointIO, CheckpointError, atomic_write, read_checkpoint


def test_interrupted_write_leaves_the_previous_file_intact(tmp_path):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"liir_run": {}, "value": 1}, path)

    def crash(tmp):
        tmp.write_bytes(b"half a checkpo")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, crash)
    assert read_checkpoint(path)["value"] == 1
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_read_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "missing.ckpt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.ckpt")
    with pytest.raises(CheckpointError, match="not a liir checkpoint"):
        read_checkpoint(tmp_path / "foreign.ckpt")
