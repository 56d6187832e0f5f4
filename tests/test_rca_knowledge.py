"""The knowledge base names failure kinds and suggests next steps for them."""

from __future__ import annotations

import pytest

from rca.knowledge import GENERIC_NEXT_STEPS, KNOWLEDGE, classify, classify_cause, next_steps_for


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("java.lang.OutOfMemoryError: Java heap space", "out_of_memory"),
        ("OSError: [Errno 28] No space left on device: '/data/x'", "disk_full"),
        ("accept4: too many open files; retrying in 5ms", "file_descriptors"),
        ("FATAL: sorry, too many clients already", "pool_exhausted"),
        (
            "HikariPool-1 - Connection is not available, request timed out after 30000ms",
            "pool_exhausted",
        ),
        ("ERROR: deadlock detected", "deadlock"),
        ("PermissionError: [Errno 13] Permission denied: '/keys/tls.key'", "permission_denied"),
        ("x509: certificate has expired or is not yet valid", "tls_certificate"),
        ("socket.gaierror: [Errno -3] Temporary failure in name resolution", "dns"),
        ("HTTP 429 Too Many Requests (rate limit 100/min exceeded)", "rate_limited"),
        ("TypeError: Cannot read properties of undefined (reading 'amount')", "null_dereference"),
        (
            "panic: runtime error: invalid memory address or nil pointer dereference",
            "null_dereference",
        ),
        ("dial tcp 10.0.0.1:8080: connect: connection refused", "connection_refused"),
        ("upstream timed out (110: Connection timed out)", "timeout"),
        ("Invalid configuration: missing required setting RULES_URL", "config_error"),
    ],
)
def test_lines_are_classified(line: str, kind: str) -> None:
    entry = classify(line)
    assert entry is not None and entry.kind == kind


def test_causes_weigh_more_than_symptoms() -> None:
    causes = [k for k in KNOWLEDGE if k.role == "cause"]
    symptoms = [k for k in KNOWLEDGE if k.role == "symptom"]
    assert causes and symptoms
    assert min(k.weight for k in causes) > max(k.weight for k in symptoms)
    assert all(k.next_steps for k in KNOWLEDGE)


def test_the_innermost_cause_is_read_before_the_wrapper() -> None:
    wrapper = "Unable to acquire JDBC Connection\nCaused by: java.net.UnknownHostException: db"
    entry = classify_cause("java.net.UnknownHostException: db", wrapper)
    assert entry is not None and entry.kind == "dns"


def test_next_steps_come_from_the_matching_kind_or_are_generic() -> None:
    steps = next_steps_for("OSError: [Errno 28] No space left on device")
    assert any("df -h" in step for step in steps)
    assert next_steps_for("the frobnicator is sad") == list(GENERIC_NEXT_STEPS)
