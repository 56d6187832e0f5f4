"""Arrow IPC stream segments: the append-only, fsynced files the archive and the stats journal
write before acknowledging, and read back after a crash."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

log = logging.getLogger(__name__)


def read_complete_batches(path: Path) -> list[pa.RecordBatch]:
    """Every complete batch of a segment. A batch torn by a crash was never acknowledged, so
    what follows the last whole batch is dropped (with a warning)."""
    batches: list[pa.RecordBatch] = []
    try:
        with pa.OSFile(str(path), "rb") as source:
            reader = ipc.open_stream(source)
            while True:
                try:
                    batches.append(reader.read_next_batch())
                except StopIteration:
                    break
    except (pa.ArrowInvalid, OSError) as exc:
        log.warning("segment %s ends early (%s); keeping %d batches", path, exc, len(batches))
    return batches
