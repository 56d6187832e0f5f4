"""The knowledge base: failure kinds a person recognises in a log line, what each usually means,
and what to check next.

Each entry names a failure kind, the phrases that reveal it (case-insensitive regular
expressions), whether it is usually a *cause* or a *symptom* of something else, and the first
steps an on-call engineer would take. The ranking uses `role` and `weight`: a resource running out
or a permission being refused is where an outage usually starts; a timeout or a refused connection
is usually what the callers of a broken component see.

To add a kind, append a `Knowledge` entry; more specific entries go before general ones, because
the first entry that matches a line names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["cause", "symptom", "change", "neutral"]


@dataclass(frozen=True)
class Knowledge:
    kind: str
    meaning: str
    patterns: tuple[str, ...]
    role: Role
    weight: float  # 0..1: how strongly a line of this kind points at the root cause
    next_steps: tuple[str, ...]
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        joined = "|".join(f"(?:{pattern})" for pattern in self.patterns)
        object.__setattr__(self, "_compiled", re.compile(joined, re.IGNORECASE))

    def matches(self, text: str) -> bool:
        return self._compiled.search(text) is not None


KNOWLEDGE: tuple[Knowledge, ...] = (
    Knowledge(
        "out_of_memory",
        "the process ran out of memory",
        (
            r"out ?of ?memory",
            r"\bOOM",
            r"OutOfMemoryError",
            r"cannot allocate memory",
            r"memory limit exceeded",
            r"heap (?:space|out of memory)",
            r"MemoryError",
            r"oomkilled",
        ),
        "cause",
        1.0,
        (
            "Check the container's memory limit against its recent usage (kubectl top / "
            "cgroup memory.max) and whether it was OOM-killed (kubectl describe pod).",
            "Look for a leak or an unbounded cache: compare heap size before and after the "
            "last deploy.",
            "Raise the limit only as a stopgap; capture a heap dump on the next occurrence.",
        ),
    ),
    Knowledge(
        "disk_full",
        "a disk or volume is full",
        (r"no space left on device", r"disk (?:is )?full", r"ENOSPC", r"disk quota exceeded"),
        "cause",
        1.0,
        (
            "Check free space and inodes on the volume (df -h, df -i).",
            "Find what grew (du -x --max-depth=2): logs, WAL/binlogs, temp files, core dumps.",
            "Free space or extend the volume, then fix retention so it does not recur.",
        ),
    ),
    Knowledge(
        "file_descriptors",
        "the process ran out of file descriptors",
        (r"too many open files", r"EMFILE", r"file descriptors?", r"ulimit"),
        "cause",
        1.0,
        (
            "Compare open descriptors with the limit (ls /proc/<pid>/fd | wc -l, ulimit -n).",
            "Look for leaked sockets or files: connections not closed, keep-alive pools that grow.",
            "Raise the nofile limit as a stopgap and restart the affected instances.",
        ),
    ),
    Knowledge(
        "pool_exhausted",
        "a connection pool or the server's connection limit is exhausted",
        (
            r"too many (?:client )?connections",
            r"too many clients",
            r"connection pool (?:is )?(?:exhausted|full)",
            r"pool exhausted",
            r"remaining connection slots",
            r"unable to acquire (?:a )?(?:jdbc )?connection",
            r"connection is not available, request timed out",
            r"max_connections",
        ),
        "cause",
        0.9,
        (
            "Compare active connections with the server's limit (e.g. pg_stat_activity, "
            "SHOW PROCESSLIST) and with each client's pool size times its replica count.",
            "Look for connections held by slow or stuck queries, or a leak after a deploy.",
            "Lower pool sizes or add a connection pooler (PgBouncer, ProxySQL).",
        ),
    ),
    Knowledge(
        "deadlock",
        "transactions deadlocked",
        (r"deadlock", r"lock wait timeout"),
        "cause",
        0.8,
        (
            "Read the database's deadlock report (SHOW ENGINE INNODB STATUS; Postgres logs the "
            "two statements).",
            "Make the transactions touch rows in the same order, keep them short, and retry "
            "deadlock victims.",
        ),
    ),
    Knowledge(
        "permission_denied",
        "a file, key or API refused access",
        (
            r"permission denied",
            r"EACCES",
            r"access denied",
            r"PermissionError",
            r"\bforbidden\b",
            r"\b403\b.*(?:forbidden|denied)",
            r"not authorized",
            r"unauthorized",
            r"AccessDenied",
            r"authentication failed",
        ),
        "cause",
        0.9,
        (
            "Check the owner and mode of the file or secret named in the line, and the user the "
            "process runs as (a rotated secret often comes back with other permissions).",
            "For an API or database: check that the credentials or role were not rotated, "
            "revoked or expired.",
        ),
    ),
    Knowledge(
        "tls_certificate",
        "a TLS certificate is invalid, expired or untrusted",
        (
            r"certificate (?:has )?expired",
            r"certificate verify failed",
            r"x509",
            r"CERTIFICATE_VERIFY_FAILED",
            r"unable to get local issuer certificate",
            r"self[- ]signed certificate",
            r"SSLHandshakeException",
            r"PKIX path",
        ),
        "cause",
        0.9,
        (
            "Inspect the certificate the server presents (openssl s_client -connect host:443 "
            "-servername host) for its expiry date and chain.",
            "Renew or re-issue it, and check the client's trust store and the intermediate chain.",
        ),
    ),
    Knowledge(
        "dns",
        "a host name did not resolve",
        (
            r"no such host",
            r"name or service not known",
            r"temporary failure in name resolution",
            r"NXDOMAIN",
            r"could not resolve host",
            r"UnknownHostException",
            r"getaddrinfo",
            r"EAI_AGAIN",
        ),
        "cause",
        0.8,
        (
            "Resolve the name from the failing host (dig / nslookup) and compare "
            "with a healthy one.",
            "Check the DNS server (CoreDNS pods, resolv.conf) and whether the service or record "
            "was renamed or deleted.",
        ),
    ),
    Knowledge(
        "config_error",
        "the application's configuration is invalid or missing",
        (
            r"invalid config",
            r"configuration (?:error|invalid)",
            r"missing (?:required )?(?:config|configuration|environment variable|setting)",
            r"could not load config",
            r"unknown (?:config|configuration) (?:key|option)",
            r"KeyError: '[A-Z_]+'",
        ),
        "cause",
        0.8,
        (
            "Diff the running configuration against the last known good one (config maps, env).",
            "Roll back the configuration change, then validate configs in CI before rollout.",
        ),
    ),
    Knowledge(
        "null_dereference",
        "a code defect dereferenced a null or undefined value",
        (
            r"NullPointerException",
            r"NoneType",
            r"undefined is not",
            r"cannot read propert(?:y|ies) of (?:undefined|null)",
            r"nil pointer dereference",
            r"null reference",
            r"segmentation fault",
            r"SIGSEGV",
            r"AttributeError",
            r"TypeError",
        ),
        "cause",
        0.8,
        (
            "Open the innermost frame of the stack trace: which value was null, and where it "
            "was meant to be set.",
            "Check whether the last deploy changed that code path or the data it reads; roll "
            "back if it did.",
        ),
    ),
    Knowledge(
        "rate_limited",
        "a dependency is rate limiting this service",
        (r"rate limit", r"too many requests", r"\b429\b", r"throttl", r"quota exceeded"),
        "cause",
        0.6,
        (
            "Find which client exceeds the quota and since when (traffic per caller).",
            "Back off with jitter, batch requests, or ask for a higher quota.",
        ),
    ),
    Knowledge(
        "crash",
        "a process crashed or panicked",
        (
            r"\bpanic\b",
            r"\bfatal\b",
            r"core dumped",
            r"unhandled exception",
            r"uncaught exception",
            r"exited with code [1-9]",
        ),
        "cause",
        0.6,
        (
            "Read the crash's stack trace and the lines just before it.",
            "Check restarts (kubectl get pods, RESTARTS column) and whether a deploy preceded it.",
        ),
    ),
    Knowledge(
        "deploy_or_restart",
        "a deploy, restart or configuration change",
        (
            r"\bdeploy(?:ed|ing|ment)\b",
            r"\brollout\b",
            r"\bstarting (?:up|server|application)\b",
            r"\bshutting down\b",
            r"\brestart(?:ed|ing)\b",
            r"SIGTERM",
            r"config(?:uration)? (?:reload|change)",
            r"\breload(?:ed|ing)\b",
            r"\bversion \d",
            r"\bmigration\b",
        ),
        "change",
        0.7,
        (
            "Compare the change's time with the first error: if it comes first, roll it back.",
            "Read the change's diff (release notes, config map history) for what touched the "
            "failing path.",
        ),
    ),
    Knowledge(
        "connection_refused",
        "a dependency refused connections (it is down or not listening)",
        (
            r"connection refused",
            r"ECONNREFUSED",
            r"no route to host",
            r"host is unreachable",
            r"\bunreachable\b",
            r"failed to connect",
            r"could not connect",
            r"unavailable",
        ),
        "symptom",
        0.3,
        (
            "Check whether the dependency named in the line is running and listening "
            "(pods ready, port open) and what it logged just before.",
            "Look for a restart loop or a failing health check on that dependency.",
        ),
    ),
    Knowledge(
        "timeout",
        "calls to a dependency timed out",
        (
            r"timed? ?out",
            r"timeout",
            r"deadline exceeded",
            r"ETIMEDOUT",
            r"\b504\b",
            r"gateway time-?out",
        ),
        "symptom",
        0.25,
        (
            "Find the dependency that is slow: its latency and saturation (CPU, connections, "
            "locks) around the first timeout.",
            "Check whether timeouts and retries multiply load on it (retry storms).",
        ),
    ),
    Knowledge(
        "upstream_error",
        "a dependency answered with an error",
        (
            r"\b50[0-3]\b",
            r"internal server error",
            r"bad gateway",
            r"service unavailable",
            r"upstream",
            r"connection reset",
            r"ECONNRESET",
            r"broken pipe",
            r"context canceled",
        ),
        "symptom",
        0.15,
        (
            "Follow the call to the dependency that answered with the error and read its logs "
            "at the same time.",
        ),
    ),
)

GENERIC_NEXT_STEPS: tuple[str, ...] = (
    "Read the first occurrences of the root-cause line and what the same service logged "
    "just before.",
    "Check recent deploys and configuration changes of the services involved.",
)

_BY_KIND = {entry.kind: entry for entry in KNOWLEDGE}


def classify(text: str) -> Knowledge | None:
    """The first knowledge entry whose patterns match `text`, or None."""
    for entry in KNOWLEDGE:
        if entry.matches(text):
            return entry
    return None


def classify_cause(cause_line: str, message: str) -> Knowledge | None:
    """The kind of a line, read from its innermost cause first, then from the whole message."""
    return classify(cause_line) or classify(message)


def knowledge_of(kind: str) -> Knowledge | None:
    return _BY_KIND.get(kind)


def next_steps_for(cause_line: str, message: str = "") -> list[str]:
    """Suggested next steps for a root-cause line: its kind's steps, or generic ones."""
    entry = classify_cause(cause_line, message)
    return list(entry.next_steps if entry else GENERIC_NEXT_STEPS)
