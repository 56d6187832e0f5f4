"""The small interface every bus adapter implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

# partition -> offset. For a cursor or a range start: the next offset to read.
# For a range end: one past the last offset to read.
Offsets = dict[int, int]


class BusUnavailable(RuntimeError):
    """The bus did not confirm durability in time; the caller must not acknowledge."""


@dataclass(frozen=True)
class BusMessage:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes


class Bus(ABC):
    """An append-only, partitioned, offset-addressed log of messages."""

    # The largest key + value the bus takes (None: no limit). A larger message is refused
    # whenever it is sent, so it must be refused before it is acknowledged, never retried.
    max_message_bytes: int | None = None

    @abstractmethod
    def ensure_topics(self, topics: Sequence[str]) -> None:
        """Create the topics when missing."""

    @abstractmethod
    def publish(self, topic: str, messages: Sequence[tuple[str | None, bytes]]) -> None:
        """Append `(key, value)` messages; returns only once the bus holds them durably.

        Raises BusUnavailable when that cannot be confirmed within the adapter's timeout.
        """

    @abstractmethod
    def end_offsets(self, topic: str) -> Offsets:
        """The next offset to be written, per partition."""

    @abstractmethod
    def read(
        self, topic: str, start: Offsets, end: Offsets, max_messages: int = 100_000
    ) -> list[BusMessage]:
        """Messages with `start[p] <= offset < end[p]`, in offset order within each partition."""

    def close(self) -> None:  # noqa: B027 - optional hook, not every adapter holds resources
        """Release connections."""

    def __enter__(self) -> Bus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
