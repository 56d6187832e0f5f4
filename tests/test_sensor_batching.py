"""Pure tests of the bus batch sensor's decisions: plan_batch, BatchCursor and run_key_of."""

from __future__ import annotations

from sensors.bus_batch_sensor import BatchCursor, BatchPolicy, plan_batch, run_key_of

TOPIC = "logs.to.analyze"
POLICY = BatchPolicy(max_records=100, max_age_s=30.0)
T = 1_700_000_000.0


def test_no_messages_no_batch() -> None:
    plan = plan_batch(BatchCursor(), {0: 0, 1: 0}, POLICY, now=T)
    assert plan.end is None
    assert plan.lag == 0
    assert plan.reason == "no new messages"
    assert plan.cursor.pending_since is None

    caught_up = BatchCursor(offsets={"0": 7})
    plan = plan_batch(caught_up, {0: 7}, POLICY, now=T)
    assert plan.end is None and plan.lag == 0
    assert plan.cursor.offsets == {"0": 7}


def test_empty_topic_has_no_partitions() -> None:
    plan = plan_batch(BatchCursor(), {}, POLICY, now=T)
    assert plan.end is None and plan.lag == 0


def test_pending_below_max_waits_until_max_age_then_closes() -> None:
    end = {0: 5}
    first = plan_batch(BatchCursor(), end, POLICY, now=T)
    assert first.end is None
    assert first.lag == 5
    assert first.cursor.pending_since == T
    assert first.cursor.offsets == {}
    assert "5 message(s) pending" in first.reason

    # Still young: the cursor keeps the original pending_since, not the tick's time.
    second = plan_batch(first.cursor, {0: 8}, POLICY, now=T + 29.9)
    assert second.end is None
    assert second.lag == 8
    assert second.cursor.pending_since == T

    # Survives a round trip through the stored cursor text.
    restored = BatchCursor.parse(second.cursor.dump())
    third = plan_batch(restored, {0: 8}, POLICY, now=T + 30.0)
    assert third.end == {0: 8}
    assert third.start == {0: 0}
    assert third.reason == "batch closed"
    assert third.cursor.offsets == {"0": 8}
    assert third.cursor.pending_since is None  # nothing left pending

    after = plan_batch(third.cursor, {0: 8}, POLICY, now=T + 31)
    assert after.end is None and after.lag == 0


def test_at_max_records_closes_immediately() -> None:
    plan = plan_batch(BatchCursor(), {0: 100}, POLICY, now=T)
    assert plan.end == {0: 100}
    assert plan.start == {0: 0}
    assert plan.cursor.offsets == {"0": 100}
    assert plan.cursor.pending_since is None

    just_below = plan_batch(BatchCursor(), {0: 99}, POLICY, now=T)
    assert just_below.end is None


def test_batches_capped_at_max_records_per_partition() -> None:
    plan = plan_batch(BatchCursor(offsets={"0": 10}), {0: 260}, POLICY, now=T)
    assert plan.start == {0: 10}
    assert plan.end == {0: 110}
    assert plan.lag == 250
    assert plan.cursor.offsets == {"0": 110}
    assert plan.cursor.pending_since == T  # the rest is pending from now

    nxt = plan_batch(plan.cursor, {0: 260}, POLICY, now=T + 1)
    assert (nxt.start, nxt.end) == ({0: 110}, {0: 210})
    assert nxt.cursor.pending_since == T + 1

    # 50 left: below max_records, so it waits for max_age counted from when it became pending.
    tail = plan_batch(nxt.cursor, {0: 260}, POLICY, now=T + 2)
    assert tail.end is None and tail.lag == 50
    assert tail.cursor.pending_since == T + 1
    closed = plan_batch(tail.cursor, {0: 260}, POLICY, now=T + 31)
    assert (closed.start, closed.end) == ({0: 210}, {0: 260})
    assert closed.cursor.pending_since is None


def test_multiple_partitions() -> None:
    cursor = BatchCursor(offsets={"0": 5, "2": 40})
    end = {0: 5, 1: 150, 2: 60}
    plan = plan_batch(cursor, end, POLICY, now=T)
    # Lag sums partitions (0 + 150 + 20) and reaches max_records: the batch closes.
    assert plan.lag == 170
    assert plan.start == {0: 5, 1: 0, 2: 40}
    # A fair share of 50 each, then partition 2's unused 30 go to partition 1: 100 in all.
    assert plan.end == {0: 5, 1: 80, 2: 60}
    assert sum(plan.end[p] - plan.start[p] for p in end) == POLICY.max_records
    assert plan.cursor.offsets == {"0": 5, "1": 80, "2": 60}
    assert plan.cursor.pending_since == T  # 70 left in partition 1

    key = run_key_of(TOPIC, plan.start, plan.end)
    assert key == f"{TOPIC}@p1:0-80,p2:40-60"  # untouched partition 0 is not named

    rest = plan_batch(plan.cursor, end, POLICY, now=T + 30)
    assert rest.start == {0: 5, 1: 80, 2: 60}
    assert rest.end == {0: 5, 1: 150, 2: 60}
    assert rest.cursor.pending_since is None


def test_cursor_keeps_partitions_the_topic_no_longer_reports() -> None:
    cursor = BatchCursor(offsets={"0": 3, "9": 12})
    plan = plan_batch(cursor, {0: 200}, POLICY, now=T)
    assert plan.cursor.offsets == {"0": 103, "9": 12}


def test_cursor_json_round_trip() -> None:
    cursor = BatchCursor(offsets={"0": 12, "3": 4}, pending_since=T + 0.25)
    text = cursor.dump()
    assert isinstance(text, str)
    back = BatchCursor.parse(text)
    assert back == cursor
    assert back.offsets == {"0": 12, "3": 4}
    assert back.pending_since == T + 0.25
    assert back.start({0: 50, 1: 50, 3: 50}) == {0: 12, 1: 0, 3: 4}
    assert back.lag({0: 50, 1: 50, 3: 50}) == 38 + 50 + 46


def test_cursor_parse_of_nothing_is_a_fresh_cursor() -> None:
    for raw in (None, ""):
        fresh = BatchCursor.parse(raw)
        assert fresh.offsets == {} and fresh.pending_since is None


def test_lag_never_negative() -> None:
    # A topic recreated with fewer messages than the cursor remembers.
    assert BatchCursor(offsets={"0": 50}).lag({0: 10}) == 0


def test_run_key_deterministic_and_distinct() -> None:
    start, end = {0: 0, 1: 10}, {0: 5, 1: 20}
    key = run_key_of(TOPIC, start, end)
    assert key == run_key_of(TOPIC, dict(start), dict(end))
    assert key == run_key_of(TOPIC, {1: 10, 0: 0}, {1: 20, 0: 5})  # dict order does not matter
    assert key == f"{TOPIC}@p0:0-5,p1:10-20"
    others = {
        run_key_of(TOPIC, start, {0: 6, 1: 20}),
        run_key_of(TOPIC, {0: 1, 1: 10}, end),
        run_key_of(TOPIC, start, {0: 5, 1: 21}),
        run_key_of("ai.insights.processed", start, end),
    }
    assert key not in others
    assert len(others) == 4


def test_replayed_tick_plans_the_same_run_key() -> None:
    cursor = BatchCursor(offsets={"0": 20})
    end = {0: 400, 1: 30}
    one = plan_batch(cursor, end, POLICY, now=T)
    two = plan_batch(BatchCursor.parse(cursor.dump()), end, POLICY, now=T + 100)
    assert one.end is not None and two.end is not None
    assert run_key_of(TOPIC, one.start, one.end) == run_key_of(TOPIC, two.start, two.end)
