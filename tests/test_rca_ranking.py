"""Root-cause ranking: the evidence a person uses puts the right line first."""

from __future__ import annotations

from rca.analyzer import LocalAnalyzer, group_incidents
from rca.signatures import cause_line, is_chained, service_aliases, signature
from tests.test_rca_grouping import db_outage, line, routine_noise

JAVA_CHAIN = (
    "Request processing failed: org.springframework.dao.DataAccessResourceFailureException: "
    "Unable to acquire JDBC Connection\n\tat org.hibernate.Foo.bar(Foo.java:1)\n"
    "Caused by: org.hibernate.exception.JDBCConnectionException: Unable to open JDBC Connection\n"
    "\tat org.hibernate.Baz.qux(Baz.java:2)\n"
    "Caused by: java.net.UnknownHostException: ledger-pg.db.internal: Name or service not known"
)
PYTHON_CHAIN = (
    'Traceback (most recent call last):\n  File "a.py", line 3, in load\n'
    "KeyError: 'PRICING_RULES_URL'\n\n"
    "The above exception was the direct cause of the following exception:\n\n"
    'Traceback (most recent call last):\n  File "b.py", line 9, in boot\n'
    "RuntimeError: configuration could not be loaded"
)


def top(records: list) -> object:
    [incident] = [i for i in group_incidents(records) if i.kind == "incident"]
    return incident


def test_the_callee_that_fails_first_and_is_named_by_callers_ranks_first() -> None:
    incident = top(db_outage(300) + routine_noise(20))

    first = incident.candidates[0]
    assert first.service == "payments-db"
    assert "too many connections" in first.example
    assert any("named by payments-api" in reason for reason in first.reasons)
    assert [c.service for c in incident.candidates[:3]].count("payments-db") == 1
    assert incident.confidence >= 0.6
    assert incident.evidence[0].service == "payments-db"


def test_time_order_alone_decides_between_two_plain_failures() -> None:
    # Neither line says anything the knowledge base knows: the earlier one is the root cause.
    records = [line(100 + n, "alpha", f"job {n} failed with code E17") for n in range(12)]
    records += [line(130 + n, "beta", f"worker {n} gave up waiting on alpha") for n in range(12)]

    assert top(records).service == "alpha"


def test_innermost_exception_of_a_java_chain_is_the_cause_line() -> None:
    assert cause_line(JAVA_CHAIN).startswith("java.net.UnknownHostException")
    assert is_chained(JAVA_CHAIN)
    records = [line(10 + 3 * n, "ledger-svc", JAVA_CHAIN) for n in range(15)]
    records += [
        line(12 + 3 * n, "accounts-api", "balance lookup failed: 500 from ledger-svc")
        for n in range(15)
    ]

    incident = top(records)
    assert incident.service == "ledger-svc"
    assert incident.candidates[0].kind == "dns"
    assert incident.candidates[0].cause_line.startswith("java.net.UnknownHostException")


def test_innermost_exception_of_a_python_chain_is_the_first_one() -> None:
    assert cause_line(PYTHON_CHAIN) == "KeyError: 'PRICING_RULES_URL'"
    assert is_chained(PYTHON_CHAIN)
    plain = 'Traceback (most recent call last):\n  File "x.py"\nValueError: bad'
    assert cause_line(plain) == "ValueError: bad" and not is_chained(plain)


def test_resource_exhaustion_outranks_an_earlier_symptom() -> None:
    # The caller's timeouts are logged a few seconds before the callee's own OOM line reaches
    # the logs: what the lines say beats a small head start.
    records = [
        line(100 + 2 * n, "web", f"request to search timed out after {n}ms") for n in range(15)
    ]
    records += [
        line(103 + 2 * n, "search", "java.lang.OutOfMemoryError: Java heap space")
        for n in range(15)
    ]

    incident = top(records)
    assert incident.service == "search"
    assert incident.candidates[0].kind == "out_of_memory"
    [insight] = [i for i in LocalAnalyzer().analyze([incident], "b")]
    assert insight.root_cause_service == "search"
    assert any("heap" in step or "memory" in step for step in insight.next_steps)


def test_a_plausible_precursor_just_before_the_burst_joins_and_can_lead() -> None:
    # One permission error, then a minute later the flood it causes.
    records = [
        line(0, "renderer", "Failed to reload signing key: Permission denied: /keys/tls.key")
    ]
    records += [
        line(65 + 2 * n, "renderer", f"render {n} failed: signing key unavailable")
        for n in range(20)
    ]
    records += [
        line(70 + 3 * n, "billing", f"finalize {n} failed: 500 from renderer") for n in range(10)
    ]

    incident = top(records)
    assert incident.count == 31
    assert incident.candidates[0].cause_line.startswith("Failed to reload signing key")
    assert incident.candidates[0].kind == "permission_denied"


def test_service_names_in_other_lines_are_found_by_distinctive_parts() -> None:
    aliases = service_aliases(["invoice-renderer", "billing-api", "billing-db"])
    from rca.signatures import named_services

    text = "at com.acme.billing.render.RendererClient.render(RendererClient.java:38)"
    assert named_services(text, aliases, exclude="billing-api") == {"invoice-renderer"}
    # "billing" is shared by two services, so it names neither.
    assert named_services("billing run failed", aliases, exclude="x") == set()


def test_signature_masks_ids_and_paths() -> None:
    a = signature('open() "/srv/www/wp-login.php" failed, request: "GET /wp-login.php HTTP/1.1"')
    b = signature('open() "/srv/www/.env" failed, request: "GET /.env HTTP/1.1"')
    assert a == b
    assert signature("charge ch_9f2c1ab0e4 failed") == signature("charge ch_00aa11bb22 failed")
