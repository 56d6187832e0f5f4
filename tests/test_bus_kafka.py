"""The Kafka bus against the real broker of `scripts/services.sh up`."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka.admin import AdminClient

from loginsight.bus import BusUnavailable
from loginsight.bus.kafka import KafkaBus

pytestmark = pytest.mark.kafka

KEYS = [f"service-{i}" for i in range(12)]


@pytest.fixture
def bus(kafka_bootstrap: str) -> Iterator[KafkaBus]:
    kafka_bus = KafkaBus(kafka_bootstrap, partitions=3, client_id="loginsight-tests")
    yield kafka_bus
    kafka_bus.close()


def _partition_count(bootstrap: str, topic: str) -> int:
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    topic_metadata = metadata.topics[topic]
    assert topic_metadata.error is None, topic_metadata.error
    return len(topic_metadata.partitions)


def _publish_keyed(bus: KafkaBus, topic: str, per_key: int) -> list[tuple[str, bytes]]:
    messages = [
        (key, f"{key}#{n}".encode()) for n in range(per_key) for key in KEYS
    ]  # interleaved keys, so every partition gets messages from several publish positions
    bus.publish(topic, messages)
    return messages


def test_ensure_topics_creates_three_partitions_and_is_idempotent(
    bus: KafkaBus, kafka_bootstrap: str, unique_topic: Callable[[str], str]
) -> None:
    first, second = unique_topic("ensure"), unique_topic("ensure")

    bus.ensure_topics([first, second])
    assert _partition_count(kafka_bootstrap, first) == 3
    assert _partition_count(kafka_bootstrap, second) == 3
    assert bus.end_offsets(first) == {0: 0, 1: 0, 2: 0}

    bus.ensure_topics([first, second])  # both exist now: nothing to do, no error
    bus.ensure_topics([first])
    assert _partition_count(kafka_bootstrap, first) == 3


def test_end_offsets_of_a_missing_topic_is_empty(
    bus: KafkaBus, unique_topic: Callable[[str], str]
) -> None:
    assert bus.end_offsets(unique_topic("missing")) == {}


def test_publish_then_read_back_every_partition(
    bus: KafkaBus, unique_topic: Callable[[str], str]
) -> None:
    topic = unique_topic("roundtrip")
    bus.ensure_topics([topic])
    published = _publish_keyed(bus, topic, per_key=5)

    end = bus.end_offsets(topic)
    assert set(end) == {0, 1, 2}
    assert sum(end.values()) == len(published)

    messages = bus.read(topic, dict.fromkeys(end, 0), end)
    assert len(messages) == len(published)
    by_partition: dict[int, list[int]] = defaultdict(list)
    for m in messages:
        assert m.topic == topic
        by_partition[m.partition].append(m.offset)
    # Dense offsets 0..end-1 in every partition, in order.
    assert {p: offsets for p, offsets in by_partition.items()} == {
        p: list(range(stop)) for p, stop in end.items() if stop > 0
    }

    # The same key always lands on the same partition ...
    partitions_of_key: dict[str, set[int]] = defaultdict(set)
    for m in messages:
        assert m.key is not None
        partitions_of_key[m.key].add(m.partition)
    assert all(len(parts) == 1 for parts in partitions_of_key.values())
    assert set(partitions_of_key) == set(KEYS)
    assert len({next(iter(parts)) for parts in partitions_of_key.values()}) > 1  # keys spread
    # ... and within a partition the messages keep the order they were published in.
    for p in end:
        got = [m.value for m in messages if m.partition == p]
        want = [value for key, value in published if partitions_of_key[key] == {p}]
        assert got == want


def test_read_exact_ranges_per_partition(bus: KafkaBus, unique_topic: Callable[[str], str]) -> None:
    topic = unique_topic("ranges")
    bus.ensure_topics([topic])
    _publish_keyed(bus, topic, per_key=4)
    end = bus.end_offsets(topic)
    everything = bus.read(topic, dict.fromkeys(end, 0), end)
    at = {(m.partition, m.offset): m for m in everything}

    for p, stop in end.items():
        if stop < 3:
            continue
        # Only partition p, offsets [1, stop - 1).
        got = bus.read(topic, {p: 1}, {p: stop - 1})
        assert [(m.partition, m.offset) for m in got] == [(p, o) for o in range(1, stop - 1)]
        assert got == [at[(p, o)] for o in range(1, stop - 1)]
        # A single message.
        assert bus.read(topic, {p: stop - 1}, {p: stop}) == [at[(p, stop - 1)]]

    # Different ranges in different partitions at once; empty ranges are ignored.
    start = {p: stop // 2 for p, stop in end.items()}
    start[0] = end[0]  # partition 0: nothing wanted
    got = bus.read(topic, start, end)
    want = sorted(
        (m for m in everything if m.offset >= start[m.partition]),
        key=lambda m: (m.partition, m.offset),
    )
    assert got == want

    # Continuing from a cursor after a second publish sees exactly the new messages.
    _publish_keyed(bus, topic, per_key=1)
    new_end = bus.end_offsets(topic)
    assert sum(new_end.values()) == sum(end.values()) + len(KEYS)
    fresh = bus.read(topic, end, new_end)
    assert len(fresh) == len(KEYS)
    assert sorted(m.value for m in fresh) == sorted(f"{k}#0".encode() for k in KEYS)
    assert all(end[m.partition] <= m.offset < new_end[m.partition] for m in fresh)


def test_max_messages_caps_a_read_to_a_prefix_of_each_partition(
    bus: KafkaBus, unique_topic: Callable[[str], str]
) -> None:
    topic = unique_topic("max")
    bus.ensure_topics([topic])
    _publish_keyed(bus, topic, per_key=3)
    end = bus.end_offsets(topic)

    got = bus.read(topic, dict.fromkeys(end, 0), end, max_messages=5)
    assert len(got) == 5
    for p in {m.partition for m in got}:
        offsets = [m.offset for m in got if m.partition == p]
        assert offsets == list(range(len(offsets)))  # no holes: a cursor can resume after it


def test_publish_creates_a_missing_topic_with_three_partitions(
    bus: KafkaBus, kafka_bootstrap: str, unique_topic: Callable[[str], str]
) -> None:
    topic = unique_topic("autocreate")
    bus.publish(topic, [(key, b"x") for key in KEYS])
    assert _partition_count(kafka_bootstrap, topic) == 3
    assert sum(bus.end_offsets(topic).values()) == len(KEYS)


def test_publish_to_an_unreachable_broker_raises_bus_unavailable() -> None:
    bus = KafkaBus("127.0.0.1:1", delivery_timeout_s=2.0)
    started = time.monotonic()
    try:
        with pytest.raises(BusUnavailable, match="0/2 delivered"):
            bus.publish("logs.to.analyze", [("k", b"v1"), (None, b"v2")])
    finally:
        bus.close()
    assert time.monotonic() - started < 15
