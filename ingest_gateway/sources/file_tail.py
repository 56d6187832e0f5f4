"""File tail (source `file`): follow the files matching glob patterns, poll by poll.

A file is known by its identity (device and inode) plus a hash of its first line, so that:
- rotation by rename is followed: the renamed file is read to its end and delivered before it
  is let go, while the new file at the path is read from its start;
- truncation (copytruncate) is seen when the file shrinks below what was read, or when its first
  line changed: what was read before is delivered, then reading starts over at 0;
- an inode reused by another file is not mistaken for the old one.

Read offsets are kept in a JSON file (`{"<dev>:<ino>": {"path", "fingerprint", "offset"}}`),
replaced atomically only after the records before the offset are durable in the pipeline, so a
restart resumes exactly after the last delivered record: nothing lost, nothing repeated. A
record still open (its continuation lines may be coming) is never delivered before it is
complete, so it is read again after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import glob
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ingest_gateway.normalize.file_lines import SOURCE, MultilineJoiner, file_record
from ingest_gateway.pipeline import IngestPipeline
from loginsight.bus import BusUnavailable
from loginsight.model import LogRecord
from loginsight.settings import FileTailSettings

log = logging.getLogger(__name__)

FINGERPRINT_BYTES = 1024  # the first line, up to this much, names a file's content
CHUNKS_PER_POLL = 16  # a file with a backlog is read this many chunks per poll at most
MAX_BACKOFF_POLLS = 10  # while the bus is down, polls slow down to 1/10 of the rate at most


def _key(stat: os.stat_result) -> str:
    return f"{stat.st_dev}:{stat.st_ino}"


def fingerprint(fd: int) -> str | None:
    """Hash of the file's first line; None until that line is complete (or long enough)."""
    head = os.pread(fd, FINGERPRINT_BYTES, 0)
    newline = head.find(b"\n")
    if newline < 0 and len(head) < FINGERPRINT_BYTES:
        return None
    line = head if newline < 0 else head[: newline + 1]
    return hashlib.sha256(line).hexdigest()[:32]


class OffsetStore:
    """The read offset of every followed file, on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict[str, str | int | None]] = {}
        if path.exists():
            try:
                loaded = json.loads(path.read_text())
                self.entries = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                log.warning("file tail: offsets file %s unreadable, starting over", path)

    def save(self) -> None:
        """Write-then-rename: a crash leaves the old file or the new one, never half of one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w") as out:
            json.dump(self.entries, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)


@dataclass
class TailedFile:
    """One open file: `offset` is delivered up to; `pending` holds the bytes read past it."""

    path: str
    key: str
    fd: int
    offset: int
    fingerprint: str | None
    pending: bytearray = field(default_factory=bytearray)
    rotated: bool = False  # renamed away or deleted: read to the end, then let go
    discard_line: bool = False  # the rest of a line cut at the size limit
    last_growth: float = field(default_factory=time.monotonic)

    @property
    def read_position(self) -> int:
        return self.offset + len(self.pending)


class FileTailer:
    """The synchronous tailing engine: one `poll()` discovers, reads and delivers."""

    def __init__(
        self,
        settings: FileTailSettings,
        offsets_path: Path,
        deliver: Callable[[Sequence[LogRecord]], object],
    ) -> None:
        self.settings = settings
        self.deliver = deliver
        self.store = OffsetStore(offsets_path)
        self.joiner = MultilineJoiner(
            settings.multiline_start, settings.multiline_max_lines, settings.max_record_bytes
        )
        self.host = socket.gethostname()
        self.files: dict[str, TailedFile] = {}
        self._first_scan = True

    def poll(self) -> None:
        """One round over every file; raises BusUnavailable (after saving what was delivered)."""
        found = self._discover()
        if self._first_scan:
            self._adopt_rotated_while_down(found)
            self._first_scan = False
        for key, tailed in list(self.files.items()):
            if key not in found:
                tailed.rotated = True
        for key, (path, stat) in found.items():
            known = self.files.get(key)
            if known is None:
                self._open(path, stat)
            elif not known.rotated:
                known.path = path
                self._check_truncation(known, stat)
        for tailed in list(self.files.values()):
            self._read_and_deliver(tailed)
            # An application writes on into its renamed file until it reopens: wait for that.
            if tailed.rotated and not tailed.pending and self._quiet(tailed, "rotate_wait_s"):
                self._forget(tailed)

    def close(self) -> None:
        for tailed in self.files.values():
            os.close(tailed.fd)
        self.files.clear()

    # ---- discovery --------------------------------------------------------------------------

    def _discover(self) -> dict[str, tuple[str, os.stat_result]]:
        found: dict[str, tuple[str, os.stat_result]] = {}
        for pattern in self.settings.paths:
            for path in sorted(glob.glob(os.path.expanduser(pattern), recursive=True)):
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
                if os.path.isfile(path):
                    found.setdefault(_key(stat), (os.path.abspath(path), stat))
        return found

    def _adopt_rotated_while_down(self, found: dict[str, tuple[str, os.stat_result]]) -> None:
        """A file renamed while the gateway was down (app.log -> app.log.1) still has lines
        past its saved offset: find it by inode next to its old path and finish it."""
        for key, entry in list(self.store.entries.items()):
            if key not in found:
                path = self._renamed_file(key, str(entry.get("path", "")), entry.get("fingerprint"))
                tailed = self._open(path, os.stat(path)) if path else None
                if tailed is not None:
                    tailed.rotated = True
                else:
                    del self.store.entries[key]

    @staticmethod
    def _renamed_file(key: str, old_path: str, saved_fingerprint: object) -> str | None:
        """The file next to `old_path` with identity `key` and the same first line, if any."""
        with contextlib.suppress(OSError), os.scandir(os.path.dirname(old_path) or ".") as entries:
            for candidate in entries:
                if candidate.is_file() and _key(candidate.stat()) == key:
                    fd = os.open(candidate.path, os.O_RDONLY)
                    try:
                        same = fingerprint(fd) == saved_fingerprint
                    finally:
                        os.close(fd)
                    return candidate.path if same else None
        return None

    def _open(self, path: str, stat: os.stat_result) -> TailedFile | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            log.warning("file tail: cannot open %s: %s", path, exc)
            return None
        key, current = _key(os.fstat(fd)), fingerprint(fd)
        saved = self.store.entries.get(key)
        if saved is not None and saved.get("fingerprint") in (None, current):
            offset = int(saved.get("offset") or 0)
            offset = offset if offset <= stat.st_size else 0  # truncated while we were away
        elif self._first_scan and not self.settings.read_from_head:
            offset = stat.st_size
        else:
            offset = 0
        tailed = TailedFile(path=path, key=key, fd=fd, offset=offset, fingerprint=current)
        self.files[key] = tailed
        log.info("file tail: following %s from offset %d", path, offset)
        return tailed

    def _check_truncation(self, tailed: TailedFile, stat: os.stat_result) -> None:
        current = fingerprint(tailed.fd)
        rewritten = tailed.fingerprint is not None and current != tailed.fingerprint
        if stat.st_size >= tailed.read_position and not rewritten:
            if tailed.fingerprint is None:
                tailed.fingerprint = current
            return
        log.info("file tail: %s was truncated, reading it from the start", tailed.path)
        self._deliver_bytes(tailed, complete=True)  # what was read before the truncation
        tailed.pending.clear()
        tailed.offset, tailed.fingerprint, tailed.discard_line = 0, current, False
        self._save(tailed)

    def _forget(self, tailed: TailedFile) -> None:
        os.close(tailed.fd)
        del self.files[tailed.key]
        self.store.entries.pop(tailed.key, None)
        self.store.save()
        log.info("file tail: finished rotated file %s", tailed.path)

    # ---- reading ----------------------------------------------------------------------------

    def _read_and_deliver(self, tailed: TailedFile) -> None:
        chunk = self.settings.read_chunk_bytes
        for _ in range(CHUNKS_PER_POLL):
            data = b""
            if len(tailed.pending) < chunk:
                data = os.pread(tailed.fd, chunk - len(tailed.pending), tailed.read_position)
                if data:
                    tailed.pending += data
                    tailed.last_growth = time.monotonic()
            if tailed.discard_line:
                self._discard_rest_of_line(tailed)
            at_end = len(data) == 0 or len(tailed.pending) < chunk
            full = len(tailed.pending) >= chunk
            # A quiet file's last record is complete; its unterminated last line is too once
            # the file is rotated away (nobody finishes it) or fills a whole chunk.
            complete = full or (at_end and self._quiet(tailed, "multiline_flush_s"))
            whole_lines = not (full or tailed.rotated)
            cut_line = full and not tailed.rotated and not tailed.pending.endswith(b"\n")
            delivered = self._deliver_bytes(tailed, complete=complete, whole_lines=whole_lines)
            if delivered and cut_line and not tailed.pending:
                tailed.discard_line = True  # the line goes on in the file; its rest is dropped
            if at_end:
                return

    def _discard_rest_of_line(self, tailed: TailedFile) -> None:
        newline = tailed.pending.find(b"\n")
        cut = len(tailed.pending) if newline < 0 else newline + 1
        tailed.discard_line = newline < 0
        if cut:
            del tailed.pending[:cut]
            tailed.offset += cut
            self._save(tailed)

    def _quiet(self, tailed: TailedFile, setting: str) -> bool:
        waited: float = getattr(self.settings, setting)
        return time.monotonic() - tailed.last_growth >= waited

    def _deliver_bytes(
        self, tailed: TailedFile, *, complete: bool, whole_lines: bool = False
    ) -> bool:
        """Deliver the complete records in `pending`, then move the offset past them;
        `whole_lines` leaves an unterminated last line for later."""
        data = bytes(tailed.pending)
        if whole_lines:
            data = data[: data.rfind(b"\n") + 1]
        joined, consumed = self.joiner.split(data, complete=complete)
        if consumed == 0:
            return False
        received = datetime.now(UTC)
        service = self._service_of(tailed.path)
        records = [
            file_record(
                item,
                path=tailed.path,
                service=service,
                host=self.host,
                received=received,
                max_bytes=self.settings.max_record_bytes,
            )
            for item in joined
        ]
        if records:
            self.deliver(records)  # BusUnavailable: nothing moves, the bytes are read again
        del tailed.pending[:consumed]
        tailed.offset += consumed
        self._save(tailed)
        return True

    def _save(self, tailed: TailedFile) -> None:
        self.store.entries[tailed.key] = {
            "path": tailed.path,
            "fingerprint": tailed.fingerprint,
            "offset": tailed.offset,
        }
        self.store.save()

    def _service_of(self, path: str) -> str:
        for pattern, service in self.settings.services.items():
            if fnmatch.fnmatch(path, os.path.expanduser(pattern)):
                return service
        return os.path.basename(path).split(".")[0] or "unknown"


class FileTailSource:
    """The tailer as a background source: polls in a worker thread until stopped; a poll in
    progress always finishes, so its offsets match what it delivered."""

    name = SOURCE

    def __init__(
        self, settings: FileTailSettings, offsets_path: Path, pipeline: IngestPipeline
    ) -> None:
        self.settings = settings
        self.tailer = FileTailer(settings, offsets_path, pipeline.ingest)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        log.info("file tail: watching %s", ", ".join(self.settings.paths))

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        self.tailer.close()

    async def _run(self) -> None:
        slowdown = 1
        while not self._stopping.is_set():
            try:
                await asyncio.to_thread(self.tailer.poll)
                slowdown = 1
            except BusUnavailable as exc:
                slowdown = min(slowdown * 2, MAX_BACKOFF_POLLS)
                log.warning("file tail: bus unavailable (%s); retrying", exc)
            except Exception:  # one bad poll must not end tailing
                log.exception("file tail: poll failed")
            with contextlib.suppress(TimeoutError):
                interval = self.settings.poll_interval_s * slowdown
                await asyncio.wait_for(self._stopping.wait(), interval)
