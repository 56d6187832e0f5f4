"""The production bus: Apache Kafka through confluent-kafka.

The producer is idempotent with acks=all, so a publish that returns is on every in-sync replica
and a retried send is never written twice. Reads assign partitions at explicit offsets and never
commit: the consumer's position lives in the Dagster sensor cursor.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from loginsight.bus.base import Bus, BusMessage, BusUnavailable, Offsets

DELIVERY_TIMEOUT_S = 30.0
METADATA_TIMEOUT_S = 10.0


class KafkaBus(Bus):
    max_message_bytes = 1_000_000  # librdkafka's message.max.bytes default, like the broker's

    def __init__(
        self,
        bootstrap_servers: str,
        partitions: int = 3,
        client_id: str = "loginsight",
        delivery_timeout_s: float = DELIVERY_TIMEOUT_S,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._delivery_timeout_s = delivery_timeout_s
        self._partitions = partitions
        self._client_id = client_id
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._lock = threading.Lock()

    # -- producing -----------------------------------------------------------------------

    def _get_producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(
                {
                    "bootstrap.servers": self._bootstrap,
                    "client.id": self._client_id,
                    "enable.idempotence": True,
                    "acks": "all",
                    # A request's matches leave as a few large compressed batches: lz4 costs
                    # little CPU on the hot path; one publish is one flush, never a wait per
                    # message, and delivery callbacks count what the broker confirmed.
                    "compression.type": "lz4",
                    "linger.ms": 5,
                    "batch.size": 1_000_000,
                    "batch.num.messages": 10_000,
                    "queue.buffering.max.messages": 1_000_000,
                    # Keyed by service, placed as Java clients place keys (murmur2), so every
                    # record of a service lands in one partition, in order.
                    "partitioner": "murmur2_random",
                    "delivery.timeout.ms": int(self._delivery_timeout_s * 1000),
                }
            )
        return self._producer

    def publish(self, topic: str, messages: Sequence[tuple[str | None, bytes]]) -> None:
        if not messages:
            return
        producer = self._get_producer()
        failures: list[str] = []
        delivered = 0

        def on_delivery(err: KafkaError | None, _msg: Any) -> None:
            nonlocal delivered
            if err is not None:
                failures.append(str(err))
            else:
                delivered += 1

        for key, value in messages:
            while True:
                try:
                    producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.1)  # local queue full: serve callbacks, then retry
        deadline = time.monotonic() + self._delivery_timeout_s
        while delivered + len(failures) < len(messages) and time.monotonic() < deadline:
            producer.flush(min(1.0, max(0.0, deadline - time.monotonic())))
        if failures or delivered < len(messages):
            reason = failures[0] if failures else "delivery not confirmed in time"
            raise BusUnavailable(f"kafka: {delivered}/{len(messages)} delivered: {reason}")

    # -- topics and offsets ----------------------------------------------------------------

    def ensure_topics(self, topics: Sequence[str]) -> None:
        admin = AdminClient({"bootstrap.servers": self._bootstrap})
        try:
            # Bounded by the delivery timeout too: a gateway with a spool starts without the bus.
            timeout = min(METADATA_TIMEOUT_S, self._delivery_timeout_s)
            existing = admin.list_topics(timeout=timeout).topics
        except KafkaException as exc:
            raise BusUnavailable(f"kafka: cannot list topics: {exc}") from exc
        wanted = [
            NewTopic(t, num_partitions=self._partitions, replication_factor=1)
            for t in topics
            if t not in existing
        ]
        if not wanted:
            return
        for topic, future in admin.create_topics(wanted).items():
            try:
                future.result(METADATA_TIMEOUT_S)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise BusUnavailable(f"kafka: cannot create topic {topic}: {exc}") from exc

    def _get_consumer(self) -> Consumer:
        if self._consumer is None:
            self._consumer = Consumer(
                {
                    "bootstrap.servers": self._bootstrap,
                    "client.id": self._client_id,
                    # A group id is required by librdkafka; offsets are never committed to it.
                    "group.id": f"loginsight-reader-{uuid.uuid4().hex[:8]}",
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                    # Short broker-side fetch waits: a range read ends as soon as it has its data.
                    "fetch.wait.max.ms": 100,
                    "auto.offset.reset": "earliest",
                }
            )
        return self._consumer

    def _partitions_of(self, consumer: Consumer, topic: str) -> list[int]:
        metadata = consumer.list_topics(topic, timeout=METADATA_TIMEOUT_S).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return []
        return sorted(metadata.partitions)

    def end_offsets(self, topic: str) -> Offsets:
        with self._lock:
            consumer = self._get_consumer()
            try:
                return {
                    p: consumer.get_watermark_offsets(
                        TopicPartition(topic, p), timeout=METADATA_TIMEOUT_S
                    )[1]
                    for p in self._partitions_of(consumer, topic)
                }
            except KafkaException as exc:
                raise BusUnavailable(f"kafka: cannot read offsets of {topic}: {exc}") from exc

    def read(
        self, topic: str, start: Offsets, end: Offsets, max_messages: int = 100_000
    ) -> list[BusMessage]:
        wanted = {p: (start.get(p, 0), stop) for p, stop in end.items() if stop > start.get(p, 0)}
        if not wanted:
            return []
        with self._lock:
            return self._read_assigned(topic, wanted, max_messages)

    def _read_assigned(
        self, topic: str, wanted: dict[int, tuple[int, int]], max_messages: int
    ) -> list[BusMessage]:
        consumer = self._get_consumer()
        consumer.assign([TopicPartition(topic, p, begin) for p, (begin, _) in wanted.items()])
        out: list[BusMessage] = []
        open_partitions = set(wanted)
        budget = min(max_messages, sum(stop - begin for begin, stop in wanted.values()))
        deadline = time.monotonic() + self._delivery_timeout_s
        try:
            while open_partitions and len(out) < max_messages:
                if time.monotonic() > deadline:
                    raise BusUnavailable(f"kafka: timed out reading {topic} {wanted}")
                # consume() returns when it has num_messages or at the timeout: ask for no more
                # than is still missing, or every read waits out the full timeout.
                batch = max(1, min(500, budget - len(out)))
                for msg in consumer.consume(num_messages=batch, timeout=1.0):
                    partition, offset = msg.partition(), msg.offset()
                    if partition not in open_partitions:
                        continue
                    err = msg.error()
                    if err is not None:
                        if err.code() != KafkaError._PARTITION_EOF:
                            raise BusUnavailable(f"kafka: {err}")
                        if offset is not None and offset >= wanted[partition][1]:
                            open_partitions.discard(partition)
                        continue
                    if offset is None:  # never for a fetched message; narrows the type
                        continue
                    if offset >= wanted[partition][1]:
                        open_partitions.discard(partition)
                        continue
                    key = msg.key()
                    out.append(
                        BusMessage(
                            topic,
                            partition,
                            offset,
                            key.decode() if key is not None else None,
                            msg.value() or b"",
                        )
                    )
                    if offset + 1 >= wanted[partition][1]:
                        open_partitions.discard(partition)
        finally:
            consumer.unassign()
        out.sort(key=lambda m: (m.partition, m.offset))
        return out[:max_messages]

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(self._delivery_timeout_s)
            self._producer = None
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
