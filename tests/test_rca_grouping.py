"""Incident grouping: bursts across services are one incident, separate bursts are separate,
routine errors stay background, and a recurring incident keeps its fingerprint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loginsight.model import Level, LogRecord
from rca.analyzer import LocalAnalyzer, group_incidents

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def line(seconds: float, service: str, message: str, level: Level = Level.ERROR) -> LogRecord:
    return LogRecord(
        event_time=T0 + timedelta(seconds=seconds),
        source="http",
        service=service,
        level=level,
        severity_number=level.severity_number,
        message=message,
    )


def db_outage(start: float) -> list[LogRecord]:
    """payments-db runs out of connections; payments-api, then checkout, fail after it."""
    lines = [
        line(start + 2 * n, "payments-db", f"FATAL: too many connections for role app ({n})")
        for n in range(20)
    ]
    lines += [
        line(start + 5 + 2 * n, "payments-api", f"upstream payments-db timed out after {n}ms")
        for n in range(15)
    ]
    lines += [
        line(start + 8 + 3 * n, "checkout", f"payment step failed for order {n}: 503 from api")
        for n in range(10)
    ]
    return lines


def routine_noise(minutes: int) -> list[LogRecord]:
    """A scanner's 404s every ~70 s and a client abort every ~2.5 min, all along."""
    lines = [
        line(
            70 * n + 13, "edge", f'[error] open() "/srv/www/probe{n}.php" failed (2: No such file)'
        )
        for n in range(minutes * 60 // 70)
    ]
    lines += [
        line(150 * n + 40, "orders", f"ERROR client aborted request {n} (broken pipe)")
        for n in range(minutes * 60 // 150)
    ]
    return lines


def incidents_only(records: list[LogRecord]) -> list:
    return [i for i in group_incidents(records) if i.kind == "incident"]


def test_a_burst_across_services_is_one_incident() -> None:
    [incident] = incidents_only(db_outage(300) + routine_noise(20))

    assert incident.blast_radius == {"payments-db": 20, "payments-api": 15, "checkout": 10}
    assert incident.count == 45
    assert incident.service == "payments-db"
    assert incident.first_seen == T0 + timedelta(seconds=300)
    assert {t.service for t in incident.templates} == {"payments-db", "payments-api", "checkout"}


def test_routine_errors_are_background_not_incidents() -> None:
    found = group_incidents(routine_noise(20))

    assert found and all(i.kind == "background" for i in found)
    assert sum(i.count for i in found) == len(routine_noise(20))  # every line is kept, once


def test_every_error_line_lands_in_exactly_one_group() -> None:
    records = db_outage(300) + routine_noise(20)

    assert sum(i.count for i in group_incidents(records)) == len(records)


def test_bursts_far_apart_are_separate_incidents_with_one_fingerprint() -> None:
    first, second = incidents_only(db_outage(60) + db_outage(900) + routine_noise(20))

    assert first.fingerprint == second.fingerprint  # a recurring incident is recognised
    assert {first.first_seen, second.first_seen} == {
        T0 + timedelta(seconds=60),
        T0 + timedelta(seconds=900),
    }
    # In one batch, the two bursts become one insight that counts both occurrences.
    [insight] = [
        i
        for i in LocalAnalyzer().analyze(group_incidents(db_outage(60) + db_outage(900)), "b")
        if i.kind == "incident"
    ]
    assert insight.occurrences == 2 and insight.count == 90


def test_the_same_incident_in_another_batch_has_the_same_fingerprint() -> None:
    [monday] = incidents_only(db_outage(300))
    [tuesday] = incidents_only(
        [
            r.model_copy(update={"event_time": r.event_time + timedelta(days=1)})
            for r in db_outage(0)
        ]
    )

    assert monday.fingerprint == tuesday.fingerprint


def test_overlapping_unrelated_bursts_that_start_apart_are_two_incidents() -> None:
    disk = [
        line(480 + 4 * n, "search", f"index shard {n} write failed: No space left on device")
        for n in range(25)
    ]
    incidents = incidents_only(db_outage(300) + disk + routine_noise(20))

    assert sorted(i.service for i in incidents) == ["payments-db", "search"]


def test_a_few_lines_are_not_an_incident() -> None:
    few = [line(n, "auth", "login failed for user <redacted>") for n in range(3)]

    [group] = group_incidents(few)
    assert group.kind == "background" and group.count == 3


def test_no_records_no_incidents() -> None:
    assert group_incidents([]) == []
