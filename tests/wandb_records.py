"""Reads an offline W&B run file (``run-<id>.wandb``) so tests can check what was really logged.

The file is a LevelDB-style log: a 7-byte header, then 32 KiB blocks of records, each with a 7-byte
header (crc32, length, type: 1 full, 2 first, 3 middle, 4 last) and a protobuf ``Record`` payload.
"""

from __future__ import annotations

import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK = 32768
HEADER = 7


def read_records(path: Path) -> list[wandb_internal_pb2.Record]:
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    records, chunk, pos = [], b"", HEADER
    while pos + HEADER <= len(data):
        if BLOCK - pos % BLOCK < HEADER:  # block trailer padding
            pos += BLOCK - pos % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        if kind == 0 and length == 0:
            break
        chunk += data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            records.append(record)
            chunk = b""
    return records


def run_info_and_history(path: Path) -> tuple[wandb_internal_pb2.RunRecord, list[dict[str, str]]]:
    """The run record (id, group, name, tags) and every history row as {key: json value}."""
    run, history = None, []
    for record in read_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
        elif kind == "history":
            history.append({item.key or "/".join(item.nested_key): item.value_json for item in record.history.item})
    return run, history
