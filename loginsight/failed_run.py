"""A Dagster run that failed, as the run-failure sensor records it in the insight store.

The record keeps what is needed to run the same work again: the job, the run key (the sensor's
offset range) or the partition, and the run id whose "Re-execute" button in the Dagster UI
replays it with the same config.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

MAX_ERROR_CHARS = 4_000  # a stack trace is cut here: the full one stays in the Dagster run


class FailedRun(BaseModel):
    run_id: str
    job_name: str
    failed_at: datetime
    run_key: str | None = None
    partition_key: str | None = None
    error: str = Field(default="", max_length=MAX_ERROR_CHARS)
