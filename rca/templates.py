"""Message templates: a log line with its variable parts masked, so lines of one kind group."""

from __future__ import annotations

import re

WILDCARD = "<*>"

# Order matters: specific shapes before the generic number mask.
_MASKS: list[re.Pattern[str]] = [
    re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
    re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"),  # IPv4[:port]
    re.compile(r"\b0x[0-9a-fA-F]+\b"),
    re.compile(r"\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{12,}\b"),  # hashes, long hex ids
    re.compile(r"(?<![A-Za-z])[-+]?\d+(?:\.\d+)?(?:ms|s|MB|KB|GB|B)?\b"),
]
_SPACES = re.compile(r"\s+")
MAX_TEMPLATE_CHARS = 300


def first_line(message: str) -> str:
    """The line that names a possibly multi-line message: the first line, except for a Python
    traceback, whose last line names the exception."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    if lines[0].startswith("Traceback (most recent call last)") and len(lines) > 1:
        return lines[-1]
    return lines[0]


def template_of(message: str) -> str:
    """Mask ids, numbers, addresses and times in the first line of a message."""
    text = first_line(message)[:2000]
    for mask in _MASKS:
        text = mask.sub(WILDCARD, text)
    return _SPACES.sub(" ", text).strip()[:MAX_TEMPLATE_CHARS]
