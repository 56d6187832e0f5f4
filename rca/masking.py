"""Parameter masking: replace the variable parts of a log message with `<*>`.

Masking is the whole grouping rule of the template miner (`rca.template_miner`): two messages
whose masked texts are equal belong to one template. Every mask is generic, one set for all
systems, and runs in this order because the earlier shapes contain digits the last mask would
otherwise cut into pieces:

1. URLs (`scheme://...`) and filesystem paths (`/var/log/x.log`, `/v2/servers?all=True`)
2. MAC and IPv6 addresses
3. Any run of non-delimiter characters that contains a digit: numbers, ids (`blk_-69522`,
   `appattempt_14451_0020`), UUIDs, `0x` hex, hashes, IPv4, times, versions; a unit after a
   number goes with it (`12 ms`, `4.0 KB`, `3s`), so durations and sizes mask whole.
4. Neighbouring wildcards separated by spaces, commas or one colon collapse into one, so a list
   of values of varying length (`10.0.0.1,10.0.0.2` or `1 6 11`) or `host:port` is one variable.

Delimiters (where a digit run stops) are whitespace and ``= : , ; ( ) [ ] { } " ' < > |``: the
key in `port=8080` or `size:12` stays, the value goes.
"""

from __future__ import annotations

import re

WILDCARD = "<*>"

_DELIMS = r"\s=:,;()\[\]{}\"'<>|"
_TOKEN_CHAR = f"[^{_DELIMS}]"
_UNITS = r"(?:[KMGTP]i?B|B|bytes|ms|us|µs|ns|s|sec|secs|seconds|min|mins|minutes|h|hours)"

URL = re.compile(r"\b[a-zA-Z][\w+.-]*://[^\s\"'<>]+")
# A path starts with a slash that does not follow a word, a dot path or another path. The
# pattern starts with the literal slash (the lookbehind comes after it) so the regex engine can
# jump from slash to slash instead of trying every position: four times faster.
PATH = re.compile(r"/(?<![\w./]/)[^\s\"'<>,;()\[\]{}|/]+(?:/[^\s\"'<>,;()\[\]{}|/]+)*/?")
# MAC and IPv6 addresses (colons are delimiters below, so they would split into pieces).
COLON_HEX = re.compile(
    r"(?<![\w:])(?=[0-9a-fA-F:]*\d)(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{1,4}(?![\w:])"
)
# Every run holding a digit: UUIDs, 0x hex, hashes and numbers all have one, so no separate
# masks for them. Anchored at the start of a run (the lookbehind) so the engine never rescans
# inside a word.
DIGIT_RUN = re.compile(rf"(?<!{_TOKEN_CHAR}){_TOKEN_CHAR}*\d{_TOKEN_CHAR}*(?: ?{_UNITS}(?![\w.]))?")
ADJACENT_WILDCARDS = re.compile(r"<\*>(?:(?:[ ,]+|:)<\*>)+")

# (mask, a substring that must be present for it to apply): the cheap `in` test skips most
# regex scans, which is most of the cost of masking.
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (URL, "://"),
    (PATH, "/"),
    (COLON_HEX, ":"),
)
_DIGITS = frozenset("0123456789")


def mask_message(text: str) -> str:
    """The message with every variable part replaced by `<*>` and whitespace normalized."""
    for mask, trigger in _MASKS:
        if trigger in text:
            text = mask.sub(WILDCARD, text)
    if not _DIGITS.isdisjoint(text):
        text = DIGIT_RUN.sub(WILDCARD, text)
    if WILDCARD in text:
        text = ADJACENT_WILDCARDS.sub(WILDCARD, text)
    return " ".join(text.split())
