"""Secret redaction for log text that leaves the process (bus payloads, prompts, stored samples)."""

from __future__ import annotations

import re

REDACTED = "[REDACTED]"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {REDACTED}"),
    # key=value and key: value pairs whose key names a secret
    (
        re.compile(
            r"(?i)\b((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|"
            r"private[_-]?key|client[_-]?secret|authorization)\b[\"']?\s*[:=]\s*[\"']?)"
            r"([^\s\"',;&]+)"
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),  # AWS access key ids
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}\b"), REDACTED),  # OpenAI-style keys
    (
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b"),
        REDACTED,
    ),  # JWT
    (re.compile(r"(://[^:/\s@]+:)[^@\s/]+@"), rf"\1{REDACTED}@"),  # credentials in URLs
]


def redact(text: str) -> str:
    """Replace secrets that log lines commonly carry with a marker."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
