"""Hostile text made safe to carry: invalid UTF-8 replaced, never refused; messages over the
line-length bound truncated and marked, never dropped."""

from __future__ import annotations

import re

# Attributes set on a record whose message was cut to the line-length bound.
TRUNCATED_ATTRIBUTE = "truncated"
ORIGINAL_BYTES_ATTRIBUTE = "original_bytes"
_SURROGATE = re.compile("[\ud800-\udfff]")


def decode_replacing(data: bytes) -> str:
    """UTF-8 text, invalid sequences replaced by U+FFFD: hostile bytes never refuse a log."""
    return data.decode("utf-8", errors="replace")


def truncate_utf8(text: str, max_bytes: int) -> tuple[str, int | None]:
    """`text` cut to at most `max_bytes` of UTF-8 on a character boundary, and its original size
    in bytes when it was cut (None when it fits)."""
    if len(text) * 4 <= max_bytes:  # fast path: cannot exceed the bound
        return text, None
    encoded = text.encode("utf-8", errors="surrogatepass")
    if len(encoded) <= max_bytes:
        return text, None
    cut = encoded[:max_bytes].decode("utf-8", errors="ignore")
    return cut, len(encoded)


def truncation_marks(original_bytes: int | None) -> dict[str, str]:
    """The attributes that say a message was truncated, empty when it was not."""
    if original_bytes is None:
        return {}
    return {TRUNCATED_ATTRIBUTE: "true", ORIGINAL_BYTES_ATTRIBUTE: str(original_bytes)}


def scrub_surrogates(text: str) -> str:
    """Replace lone surrogates (JSON allows `"\\ud800"`) that UTF-8 cannot encode downstream."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)  # one replacement character per surrogate
    return text
