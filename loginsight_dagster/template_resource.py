"""The template miner's state (`rca.template_miner`), kept in one JSON file in the data folder.

Runs of several partitions may mine at the same time, in separate processes: each one loads,
adds and saves under an exclusive file lock, so no run's templates are lost to another's save.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dagster as dg
from filelock import FileLock
from pydantic import Field

from loginsight.settings import Settings
from rca.template_miner import TemplateMatch, TemplateMiner

LOCK_TIMEOUT_S = 120.0


class TemplateMinerResource(dg.ConfigurableResource):
    """Where the miner's state lives (`<data_dir>/templates.json`)."""

    state_path: str = Field(default=".loginsight/templates.json")

    @classmethod
    def from_settings(cls, settings: Settings) -> TemplateMinerResource:
        return cls(state_path=str(settings.data_dir / "templates.json"))

    def mine(self, messages: Sequence[str]) -> tuple[list[TemplateMatch], int]:
        """The template of each message (`is_new` when no earlier run had seen it), and how many
        templates the miner knows afterwards; the state is saved before the lock is released."""
        path = Path(self.state_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{path}.lock", timeout=LOCK_TIMEOUT_S):
            miner = TemplateMiner.load(path) if path.exists() else TemplateMiner()
            matches = [miner.add(message) for message in messages]
            if messages:
                miner.save(path)
            return matches, len(miner)
