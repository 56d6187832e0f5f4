"""A streaming, persistent log template miner with stable template ids.

Public API (the only names other modules should use)::

    from rca.template_miner import TemplateMiner, TemplateMinerConfig, TemplateMatch

    miner = TemplateMiner()                      # or TemplateMiner(TemplateMinerConfig(...))
    hit = miner.add("Connection to 10.0.0.7:5432 timed out after 30s")
    hit.template_id   # "t3f9a0c2e5b7d1a64": stable across restarts, machines and line order
    hit.template      # "Connection to <*> timed out after <*>"
    hit.is_new        # True the first time this template is seen by this miner
    miner.match(line) # TemplateMatch | None, never changes the miner (is_new is always False)
    miner.templates() # list[TemplateStats]: id, template, count (lines added), newest first seen
    miner.save(path); TemplateMiner.load(path)   # JSON, written atomically

How grouping works: a message's first line (the last line of a Python traceback, as in
`rca.templates.first_line`) is masked by `rca.masking.mask_message` (URLs, paths, MAC/IPv6,
UUIDs, hex, every digit-bearing run with its unit, adjacent wildcards collapsed), and messages
with the same masked text share a template. There is no similarity merge: on the Loghub samples
every Drain-like merge rule we tried grouped keywords that name different events (GET/POST,
Paused/Started, TASK_ABORT/JOB_SETUP) and lowered accuracy; see docs/benchmarks.md.

Why the id is stable: because a template is its masked text and templates never generalize
after creation, the id is a hash of that text (``"t" + blake2b(template, 8 bytes).hex()``). It is
fixed when the template is created, survives `save`/`load`, and two miners that saw the same
template in any order agree on its id, so incident fingerprints built on it recur across
restarts and processes. If generalization is ever added, the id must stay the one assigned at
creation (the persisted state keeps it; it must not be recomputed from the new text).

Why it is fast: the common case never runs a regex. A message is keyed by its UTF-8 bytes with
the digits deleted (`bytes.translate`, C speed); lines of one template that differ only in
numbers share that key, and a bounded dict maps the key to the template. Only a new key pays
for masking. Masking replaces every digit-bearing run, so this cache changes nothing except for
two lines that differ only by digits inside a word that masking would keep (`en` vs `en0`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rca.masking import mask_message
from rca.templates import first_line

STATE_VERSION = 1
DEFAULT_MAX_MESSAGE_CHARS = 2000
DEFAULT_KEY_CACHE_SIZE = 100_000
_DIGIT_BYTES = b"0123456789"


@dataclass(frozen=True, slots=True)
class TemplateMatch:
    """The template a message belongs to."""

    template_id: str
    template: str
    is_new: bool


@dataclass(frozen=True, slots=True)
class TemplateStats:
    """One template with how many lines this miner has added to it."""

    template_id: str
    template: str
    count: int


@dataclass(frozen=True)
class TemplateMinerConfig:
    """One configuration for every system; the defaults are the benchmarked ones."""

    # Longer messages are cut before masking, as rca.templates does: a template is a name.
    max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS
    # Entries in the digit-free-key cache; cleared when full (it is only a shortcut).
    key_cache_size: int = DEFAULT_KEY_CACHE_SIZE


class _Template:
    __slots__ = ("count", "hit", "template", "template_id")

    def __init__(self, template: str, count: int = 0) -> None:
        self.template = template
        self.template_id = template_id_of(template)
        self.count = count
        # Shared result for every later line of this template: no allocation on the hot path.
        self.hit = TemplateMatch(self.template_id, template, is_new=False)


def template_id_of(template: str) -> str:
    """The stable id of a masked template text."""
    digest = hashlib.blake2b(template.encode("utf-8", "surrogatepass"), digest_size=8)
    return "t" + digest.hexdigest()


class TemplateMiner:
    """Streaming template miner: `add` learns, `match` only looks."""

    def __init__(self, config: TemplateMinerConfig | None = None) -> None:
        self.config = config or TemplateMinerConfig()
        self._by_template: dict[str, _Template] = {}
        self._by_key: dict[bytes, _Template] = {}

    def add(self, message: str) -> TemplateMatch:
        """Assign the message to its template, creating the template if it is new."""
        # The hot path, inlined: a digit-free byte key and one dict lookup.
        if "\n" in message or "\r" in message or len(message) > self.config.max_message_chars:
            key = self._key(message)
        else:
            key = message.encode("utf-8", "surrogatepass").translate(None, _DIGIT_BYTES)
        known = self._by_key.get(key)
        if known is not None:
            known.count += 1
            return known.hit
        masked = self._mask(message)
        template = self._by_template.get(masked)
        is_new = template is None
        if template is None:
            template = _Template(masked)
            self._by_template[masked] = template
        self._remember(key, template)
        template.count += 1
        return (
            TemplateMatch(template.template_id, template.template, is_new)
            if is_new
            else template.hit
        )

    def match(self, message: str) -> TemplateMatch | None:
        """The known template of the message, or None; never changes the miner."""
        known = self._by_key.get(self._key(message))
        if known is None:
            known = self._by_template.get(self._mask(message))
        return None if known is None else known.hit

    def templates(self) -> list[TemplateStats]:
        """Every template with its line count, in the order they were first seen."""
        return [
            TemplateStats(t.template_id, t.template, t.count) for t in self._by_template.values()
        ]

    def __len__(self) -> int:
        return len(self._by_template)

    def save(self, path: str | Path) -> None:
        """Write the state as JSON, atomically (a temp file in the same folder, then rename)."""
        target = Path(path)
        state = {
            "version": STATE_VERSION,
            "templates": [
                {"id": t.template_id, "template": t.template, "count": t.count}
                for t in self._by_template.values()
            ],
        }
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(state, out, ensure_ascii=False)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | Path, config: TemplateMinerConfig | None = None) -> TemplateMiner:
        """A miner with the state `save` wrote; ids and counts are kept as stored."""
        state = json.loads(Path(path).read_text(encoding="utf-8"))
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported template miner state version: {state.get('version')!r}")
        miner = cls(config)
        for row in state["templates"]:
            template = _Template(str(row["template"]), int(row["count"]))
            # The stored id wins: it is the one handed out, whatever hashing does later.
            template.template_id = str(row["id"])
            template.hit = TemplateMatch(template.template_id, template.template, is_new=False)
            miner._by_template[template.template] = template
        return miner

    def _first_line(self, message: str) -> str:
        if "\n" in message or "\r" in message:
            message = first_line(message)
        return message[: self.config.max_message_chars]

    def _key(self, message: str) -> bytes:
        line = self._first_line(message)
        return line.encode("utf-8", "surrogatepass").translate(None, _DIGIT_BYTES)

    def _mask(self, message: str) -> str:
        return mask_message(self._first_line(message))

    def _remember(self, key: bytes, template: _Template) -> None:
        if len(self._by_key) >= self.config.key_cache_size:
            self._by_key.clear()
        self._by_key[key] = template
