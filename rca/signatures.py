"""What a log message says, reduced for the RCA: its template (the kind of line), the line that
names its innermost cause (for chained stack traces), and the services it names."""

from __future__ import annotations

import re
from collections.abc import Iterable

from rca.templates import WILDCARD, template_of

# Paths and URL paths vary per request ("/media/ab12/large.jpg"), so lines differing only in
# them are one kind of line for incident grouping.
_PATH = re.compile(r"(?<![\w<>*])(?:[A-Za-z][A-Za-z0-9+.-]*://[^\s\"']+|/[^\s\"',;)]+)")
# Identifiers mixing letters and digits ("ch_9f2c1ab0e4", "req-3f9a1c", "a1b2c3@host").
_MIXED_ID = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{6,}(?![\w-])")
_MULTI_WILDCARD = re.compile(r"(?:<\*>[\s/.:_-]*){2,}")

_JAVA_CAUSED_BY = re.compile(r"^\s*Caused by:\s*(.+)$", re.MULTILINE)
_NODE_CAUSE = re.compile(r"^\s*\[cause\]:\s*(.+)$", re.MULTILINE)
_PY_CHAIN_SEPARATORS = (
    "The above exception was the direct cause of the following exception:",
    "During handling of the above exception, another exception occurred:",
)
_PY_TRACEBACK = "Traceback (most recent call last):"
# The line a Python traceback ends with: "ValueError: ...", "pkg.mod.SomeError: ...".
_PY_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)\b.*")

# Name parts too common to tell services apart ("payments-api" is named by "payments", not "api").
_GENERIC_NAME_PARTS = frozenset(
    [
        "api",
        "app",
        "web",
        "www",
        "svc",
        "service",
        "server",
        "worker",
        "workers",
        "db",
        "database",
        "proxy",
        "gateway",
        "edge",
        "frontend",
        "backend",
        "front",
        "back",
        "core",
        "main",
        "internal",
        "public",
        "private",
        "http",
        "https",
        "grpc",
        "cache",
        "queue",
        "job",
        "jobs",
        "cron",
        "node",
        "pod",
        "prod",
        "production",
        "staging",
        "dev",
        "east",
        "west",
        "north",
        "south",
        "primary",
        "replica",
    ]
)


def signature(message: str) -> str:
    """The template of a message with paths and mixed letter-digit ids masked too: the key that
    lines are grouped by."""
    template = _MIXED_ID.sub(WILDCARD, _PATH.sub(WILDCARD, template_of(message)))
    return _MULTI_WILDCARD.sub(WILDCARD + " ", template).strip()


def cause_line(message: str) -> str:
    """The line naming the innermost cause of a possibly multi-line message: the last `Caused by:`
    of a Java trace, the first exception of a chained Python traceback (Python prints the original
    cause first), the last line of a plain Python traceback, else the first line."""
    java = _JAVA_CAUSED_BY.findall(message)
    if java:
        return str(java[-1]).strip()
    node = _NODE_CAUSE.findall(message)
    if node:
        return str(node[-1]).strip()
    if _PY_TRACEBACK in message:
        return _python_innermost(message)
    for line in message.splitlines():
        if line.strip():
            return line.strip()
    return ""


def is_chained(message: str) -> bool:
    """Whether the message carries a chain of exceptions (a cause inside an effect)."""
    return (
        bool(_JAVA_CAUSED_BY.search(message))
        or bool(_NODE_CAUSE.search(message))
        or any(separator in message for separator in _PY_CHAIN_SEPARATORS)
    )


def _python_innermost(message: str) -> str:
    first_block = message
    for separator in _PY_CHAIN_SEPARATORS:
        if separator in first_block:
            first_block = first_block.split(separator, 1)[0]
    lines = [line.strip() for line in first_block.splitlines() if line.strip()]
    for line in reversed(lines):
        if _PY_EXCEPTION_LINE.match(line):
            return line
    return lines[-1] if lines else ""


def service_aliases(services: Iterable[str]) -> dict[str, list[re.Pattern[str]]]:
    """For each service, the words that name it in another service's log line: its full name,
    and each distinctive part of its name that no other service shares ("renderer" names
    "invoice-renderer" in "RendererClient.render")."""
    names = sorted(set(services))
    parts = {name: _name_parts(name) for name in names}
    owners: dict[str, int] = {}
    for name in names:
        for part in parts[name]:
            owners[part] = owners.get(part, 0) + 1
    aliases: dict[str, list[re.Pattern[str]]] = {}
    for name in names:
        words = [re.escape(name)] + [
            re.escape(part) for part in parts[name] if owners[part] == 1 and part != name.lower()
        ]
        # Word-like boundaries, but CamelCase joins count: "RendererClient" names "renderer".
        aliases[name] = [
            re.compile(rf"(?<![A-Za-z0-9])(?i:{word})(?![a-z0-9])") for word in words if word
        ]
    return aliases


def _name_parts(name: str) -> set[str]:
    return {
        part
        for part in re.split(r"[-_.\s]+", name.lower())
        if len(part) >= 4 and part not in _GENERIC_NAME_PARTS and not part.isdigit()
    }


def named_services(
    text: str, aliases: dict[str, list[re.Pattern[str]]], *, exclude: str
) -> set[str]:
    """Services (other than `exclude`) that `text` names."""
    return {
        service
        for service, patterns in aliases.items()
        if service != exclude and any(pattern.search(text) for pattern in patterns)
    }
