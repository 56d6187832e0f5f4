"""Test support: read what a gateway put on the embedded bus, and wait for it within a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from loginsight.bus.sqlite import SQLiteBus
from loginsight.model import LogRecord
from loginsight.settings import TOPIC_LOGS_TO_ANALYZE, Settings

T = TypeVar("T")


def analyzed_records(settings: Settings) -> list[LogRecord]:
    """Every record on `logs.to.analyze` of the gateway's SQLite bus, in offset order."""
    with SQLiteBus(settings.bus_db_path) as bus:
        end = bus.end_offsets(TOPIC_LOGS_TO_ANALYZE)
        messages = bus.read(TOPIC_LOGS_TO_ANALYZE, dict.fromkeys(end, 0), end)
    return [LogRecord.from_bus(message.value) for message in messages]


def wait_for(
    probe: Callable[[], T],
    done: Callable[[T], bool],
    what: str,
    timeout_s: float = 30.0,
    describe: Callable[[T], str] = repr,
) -> T:
    """Call `probe` until `done(result)`, failing with the last result after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout_s}s waiting for {what}; last: {describe(result)}"
            )
        time.sleep(0.1)


def records_containing(
    settings: Settings, tokens: set[str], timeout_s: float = 30.0
) -> dict[str, LogRecord]:
    """Wait until, for every token, a record on the bus has it in its message: token -> record."""

    def probe() -> dict[str, LogRecord]:
        found: dict[str, LogRecord] = {}
        for record in analyzed_records(settings):
            for token in tokens:
                if token in record.message:
                    found[token] = record
        return found

    return wait_for(
        probe,
        lambda got: set(got) == tokens,
        f"records with {sorted(tokens)}",
        timeout_s,
        describe=lambda got: f"missing {sorted(tokens - set(got))}",
    )
