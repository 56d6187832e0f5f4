"""Group commit: concurrent callers share one expensive durable write.

A DuckDB upsert or an fsync costs milliseconds whatever its size. Each caller hands in its item
and waits; whichever caller finds no write in progress becomes the leader and writes every item
waiting at that moment in one call, so under load many requests share one write while a lone
request still gets its own at once. A caller returns only after the write holding its item is
done, and raises what that write raised, so acknowledging after `submit` stays safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")


@dataclass
class _Entry(Generic[Item]):
    item: Item
    done: bool = False
    error: BaseException | None = None


class GroupCommit(Generic[Item]):
    def __init__(self, write: Callable[[Sequence[Item]], None]) -> None:
        self._write = write
        self._cond = threading.Condition()
        self._pending: list[_Entry[Item]] = []
        self._writing = False

    def submit(self, item: Item) -> None:
        """Returns once `item` is written (with whatever else was waiting), or raises."""
        entry = _Entry(item)
        with self._cond:
            self._pending.append(entry)
            while not entry.done:
                if self._writing:
                    self._cond.wait()
                else:
                    self._lead()
        if entry.error is not None:
            raise entry.error

    def _lead(self) -> None:
        """Write everything pending; called, and returns, with the condition's lock held."""
        self._writing = True
        batch, self._pending = self._pending, []
        error: BaseException | None = None
        self._cond.release()
        try:
            self._write([entry.item for entry in batch])
        except BaseException as exc:  # every caller of this write learns it failed
            error = exc
        finally:
            self._cond.acquire()
            for entry in batch:
                entry.done = True
                entry.error = error
            self._writing = False
            self._cond.notify_all()
