"""The filter rules run over a whole column of messages at once.

Keyword rules are compiled once into one Hyperscan database (one expression per rule) and the
batch is scanned in a single pass over its bytes; level rules are one `is_in` over the level
column. Both are exact for ASCII messages, where Hyperscan's `[^a-z0-9]` boundary and caseless
matching mean the same as the Python pattern of `RuleConfig.pattern()`. Everything whose meaning
could differ is decided by the reference matcher, `RuleFilter.matches`, row by row:
messages with non-ASCII text (Unicode word characters and case folding), and regex rules (their
Python syntax is not Hyperscan's). bench.filter measured Hyperscan against RE2 (pyarrow.compute)
and Python `re` before this was chosen; see docs/benchmarks.md.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loginsight.model import Level

try:  # Hyperscan ships as a wheel for x86-64 Linux; elsewhere the Python engine runs alone.
    import hyperscan

    HYPERSCAN_AVAILABLE = True
except ImportError:  # pragma: no cover - exercised only where the wheel is missing
    HYPERSCAN_AVAILABLE = False

# The keyword boundary of RuleConfig.pattern() for ASCII text: `[^\W_]` is exactly [A-Za-z0-9].
_KEYWORD_EXPRESSION = "(?:^|[^a-z0-9])(?:{words})(?:[^a-z0-9]|$)"
_SEPARATOR = "\n"

RowMatcher = Callable[[str, Level], tuple[str, ...]]


def keyword_expression(keywords: Sequence[str]) -> str | None:
    """The Hyperscan expression of a keyword rule, or None when a keyword is not plain ASCII
    (then only the Python pattern knows its case folding)."""
    if not all(word.isascii() for word in keywords):
        return None
    return _KEYWORD_EXPRESSION.format(words="|".join(re.escape(word) for word in keywords))


class KeywordScanner:
    """One Hyperscan database of keyword rules; `scan` names, per rule, the rows it matches."""

    def __init__(self, expressions: dict[int, str]) -> None:
        self._database = hyperscan.Database()
        flags = hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_MULTILINE
        self._database.compile(
            expressions=[expression.encode() for expression in expressions.values()],
            ids=list(expressions),
            flags=[flags] * len(expressions),
        )
        self._scratch = threading.local()  # Hyperscan scratch space is per concurrent scan

    def _scratch_space(self) -> hyperscan.Scratch:
        scratch: hyperscan.Scratch | None = getattr(self._scratch, "space", None)
        if scratch is None:
            scratch = self._scratch.space = hyperscan.Scratch(self._database)
        return scratch

    def scan(self, messages: pa.StringArray) -> tuple[np.ndarray, np.ndarray]:
        """(rule index, row) of every match in `messages`, scanned as one newline-joined
        buffer; a match is placed by its end, which is never before its keyword's last byte."""
        joined = pc.binary_join_element_wise(messages, pa.scalar(""), _SEPARATOR)
        offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32)[
            joined.offset : joined.offset + len(joined) + 1
        ]
        data = joined.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]
        # Row i ends at its separator: ends[i] = offsets[i + 1] - 1 (relative to the buffer).
        ends = offsets[1:] - offsets[0] - 1
        rules: list[int] = []
        positions: list[int] = []

        def on_match(rule: int, _start: int, end: int, _flags: int, _context: object) -> None:
            rules.append(rule)
            positions.append(end - 1)

        self._database.scan(data, match_event_handler=on_match, scratch=self._scratch_space())
        rows = np.searchsorted(ends, np.asarray(positions, dtype=np.int64), side="left")
        return np.asarray(rules, dtype=np.int64), rows


class ColumnMatcher:
    """Names of the rules each row of a batch matches, in rule order, as a list column."""

    def __init__(
        self,
        names: Sequence[str],
        patterns: dict[int, re.Pattern[str]],
        keywords: dict[int, Sequence[str]],
        levels: dict[int, frozenset[Level]],
        row_matcher: RowMatcher,
    ) -> None:
        """`patterns`: the Python pattern of every keyword and regex rule, by rule index;
        `keywords`: the words of the keyword rules among them."""
        self._names = pa.array(list(names), pa.string())
        self._count = len(names)
        self._levels = {
            index: pa.array(sorted(level.value for level in members), pa.string())
            for index, members in levels.items()
        }
        self._row_matcher = row_matcher
        expressions = {
            index: expression
            for index, words in keywords.items()
            if (expression := keyword_expression(words)) is not None
        }
        if not HYPERSCAN_AVAILABLE:
            expressions = {}
        # Regex rules, and keyword rules Hyperscan cannot take exactly, run in Python.
        self._python_rules = {
            index: pattern for index, pattern in patterns.items() if index not in expressions
        }
        self._scanner = KeywordScanner(expressions) if expressions else None

    @property
    def engine(self) -> str:
        return "hyperscan" if self._scanner is not None else "python"

    def match(self, messages: pa.Array, levels: pa.Array) -> pa.ListArray:
        """list<string> of matched rule names per row; `levels` holds Level values."""
        messages = _plain(messages)
        levels = _plain(levels)
        rows = len(messages)
        hits = np.zeros((self._count, rows), dtype=bool)
        if rows:
            ascii_rows = pc.string_is_ascii(messages).to_numpy(zero_copy_only=False)
            self._match_ascii(messages, ascii_rows, hits)
            for index, members in self._levels.items():
                hits[index] = pc.is_in(levels, value_set=members).to_numpy(zero_copy_only=False)
            self._match_rows_in_python(messages, levels, ~ascii_rows, hits)
        return self._as_lists(hits)

    def _match_ascii(self, messages: pa.Array, ascii_rows: np.ndarray, hits: np.ndarray) -> None:
        if self._scanner is not None:
            rules, rows = self._scanner.scan(messages)
            hits[rules, rows] = True
        if self._python_rules and ascii_rows.any():
            where = np.flatnonzero(ascii_rows)
            texts = messages.take(pa.array(where)).to_pylist()
            for index, pattern in self._python_rules.items():
                found = [bool(pattern.search(text)) for text in texts]
                hits[index, where] = found

    def _match_rows_in_python(
        self, messages: pa.Array, levels: pa.Array, rows: np.ndarray, hits: np.ndarray
    ) -> None:
        """Non-ASCII rows, decided wholly by the reference matcher."""
        if not rows.any():
            return
        where = np.flatnonzero(rows)
        index_of = {name: i for i, name in enumerate(self._names.to_pylist())}
        taken = pa.array(where)
        texts = messages.take(taken).to_pylist()
        names_of_level = levels.take(taken).to_pylist()
        for row, text, level in zip(where, texts, names_of_level, strict=True):
            hits[:, row] = False
            for name in self._row_matcher(text, Level(level)):
                hits[index_of[name], row] = True

    def _as_lists(self, hits: np.ndarray) -> pa.ListArray:
        per_row = hits.sum(axis=0, dtype=np.int32)
        offsets = np.zeros(hits.shape[1] + 1, dtype=np.int32)
        np.cumsum(per_row, out=offsets[1:])
        _, rule_index = np.nonzero(hits.T)  # row-major: rows in order, rules in order
        values = self._names.take(pa.array(rule_index, pa.int64()))
        return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)


def _plain(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        return array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    return array
