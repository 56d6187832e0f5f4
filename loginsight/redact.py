"""Secret redaction for log text that leaves the process (bus payloads, prompts, stored samples).

`redact(text)` applies the built-in patterns; a `Redactor` adds the operator's extra patterns
from settings (`LOGINSIGHT_REDACTION__EXTRA_PATTERNS`). Matches become a marker that keeps the
kind of thing removed (`[REDACTED]`, `[EMAIL]`, `[CARD]`), so an analyst still reads the line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

REDACTED = "[REDACTED]"
EMAIL = "[EMAIL]"
CARD = "[CARD]"

# Key names whose value is a secret. A prefix is allowed (`access_token`, `db_password`,
# `X-Api-Key`) but the name must end there, so `max_tokens=500` or `tokens: 3` stay. Keys start
# only at a token start and every quantifier over log text is bounded: a hostile line such as
# "a-a-a-a-..." must cost linear time, not quadratic.
_KEY_START = r"(?<![A-Za-z0-9_.-])"
_SECRET_KEY = (
    r"[A-Za-z0-9_.-]{0,40}?(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|"
    r"access[_-]?key|private[_-]?key|client[_-]?secret|authorization|credentials?|"
    r"session[_-]?id|cookie)[\"']?\s{0,8}[:=]\s{0,8}"
)

_Replacement = str | Callable[[re.Match[str]], str]

_SECRET_PATTERNS: list[tuple[re.Pattern[str], _Replacement]] = [
    # PEM private keys, possibly spanning lines.
    (
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        REDACTED,
    ),
    # Authorization schemes. The credential must look like one (a digit, or an upper-case letter
    # after a lower-case one), so "Basic Authentication" or "bearer tokens" stay readable.
    (
        re.compile(
            r"\b((?i:bearer|basic))\s+"
            r"(?=[\w.~+/=-]{0,80}?(?:\d|[a-z][\w.~+/=-]{0,80}?[A-Z]))[A-Za-z0-9._~+/=-]{8,}"
        ),
        rf"\1 {REDACTED}",
    ),
    # Credentials in URLs: scheme://user:password@host
    (re.compile(r"(://[^:/\s@]+:)[^@\s/]+@"), rf"\1{REDACTED}@"),
    # key="quoted value", possibly with spaces (JSON, logfmt, YAML)
    (
        re.compile(rf"(?i){_KEY_START}({_SECRET_KEY})\"(?:[^\"\\]|\\.)*\""),
        rf'\1"{REDACTED}"',
    ),
    (
        re.compile(rf"(?i){_KEY_START}({_SECRET_KEY})'[^']*'"),
        rf"\1'{REDACTED}'",
    ),
    # key=value, key: value (headers, query strings, logfmt); an auth scheme was handled above
    (
        re.compile(rf"(?i){_KEY_START}({_SECRET_KEY})(?![\"'])(?!(?i:bearer|basic)\s)[^\s\"',;&]+"),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),  # AWS access key ids
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), REDACTED),  # OpenAI / Anthropic style keys
    (re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b"), REDACTED),  # Stripe
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), REDACTED),  # GitHub tokens
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}\b"), REDACTED),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"), REDACTED),  # GitLab
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"), REDACTED),  # Slack
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), REDACTED),  # Google API keys
    (
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        REDACTED,
    ),  # JWT
]

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)

# 13-19 digits, optionally grouped by single spaces or dashes, not part of a longer number.
_CARD_CANDIDATE = re.compile(r"(?<![\d.-])\d(?:[ -]?\d){12,18}(?![\d-])")
# Issuer prefixes of Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro: with the
# Luhn check this keeps order ids, timestamps and byte counts out.
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[0689]|6(?:011|5|4[4-9]|2)|5[06-9])")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card_or_keep(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = re.sub(r"[ -]", "", text)
    separators = {char for char in text if not char.isdigit()}
    if len(separators) > 1:  # "1234-5678 9012..." is not how anyone writes a card
        return text
    if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and luhn_valid(digits):
        return CARD
    return text


class Redactor:
    """The built-in patterns plus extra regular expressions (each match becomes `[REDACTED]`)."""

    def __init__(self, extra_patterns: Sequence[str] = ()) -> None:
        self._extra = [re.compile(pattern) for pattern in extra_patterns]

    def __call__(self, text: str) -> str:
        for pattern, replacement in _SECRET_PATTERNS:
            text = pattern.sub(replacement, text)
        for extra in self._extra:
            text = extra.sub(REDACTED, text)
        text = _EMAIL.sub(EMAIL, text)
        return _CARD_CANDIDATE.sub(_card_or_keep, text)


_DEFAULT = Redactor()


def redact(text: str) -> str:
    """Replace secrets, emails and card numbers that log lines commonly carry with a marker."""
    return _DEFAULT(text)
