"""The replays' reader of the topics (a rebuild's fold, verification): partitions assigned by hand, read from where
it is told, no consumer group, no commits.

confluent-kafka (librdkafka, in C) rather than kafka-python, which the live indexer uses for its consumer group: a
replay reads every event of every topic, and kafka-python parses each record in Python. Read alone, 7,804,967 events
took kafka-python 122 s and confluent-kafka 27 s on one core; every fold part and every verification reads
them all. The records are handed on as kafka-python's `ConsumerRecord`, which the decoder takes from either.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from confluent_kafka import TopicPartition as Assigned
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from runsearch import clients
from runsearch.errors import RunsearchError
from runsearch.indexer.offsets import Offsets
from runsearch.settings import Settings

log = logging.getLogger(__name__)
POLL_SECONDS = 0.1  # a poll returns once it has its records or after this long, with what it has


def record(message: Message) -> ConsumerRecord:
    """The message as kafka-python's consumer gives it (the fields the indexer reads; no headers)."""
    timestamp_type, timestamp = message.timestamp()
    key, value = message.key(), message.value()
    return ConsumerRecord(message.topic(), message.partition(), -1, message.offset(), timestamp, timestamp_type,
                          key, value, [], None, -1 if key is None else len(key), -1 if value is None else len(value),
                          -1)


class ReadFailed(RunsearchError):
    """Kafka reported an error other than a partition's end, or gave nothing for too long. A RunsearchError, not
    librdkafka's KafkaException: a fold part's failure crosses processes (which cannot pickle that one), and the
    command shows it as one line."""


def _named(partitions: list[tuple[str, int]]) -> str:
    shown = ", ".join(f"{topic} [{partition}]" for topic, partition in sorted(partitions)[:4])
    return shown + (f" and {len(partitions) - 4} more" if len(partitions) > 4 else "")


class TopicReader:
    def __init__(self, settings: Settings, fetch_max_bytes: int) -> None:
        self.settings = settings
        self.consumer = Consumer({
            **clients.librdkafka(settings), "logger": log,
            # librdkafka's consumer needs a group id, but a consumer that only assigns never joins or commits to it.
            "group.id": "runsearch-replay", "enable.auto.commit": False, "enable.auto.offset.store": False,
            # A position below the topic's start (its records deleted since) reads on from the start: nothing that
            # still exists is skipped.
            "auto.offset.reset": "earliest",
            # The end of a partition is reported, so that a position moves past records compaction removed there.
            "enable.partition.eof": True,
            "fetch.max.bytes": fetch_max_bytes,
            # A fetch waits at most 10 ms for data: librdkafka's 500 ms stalled a replay each time it moved on to other
            # partitions (28.9 s of a 53.9 s fold part).
            "fetch.wait.max.ms": 10, "fetch.queue.backoff.ms": 10,
        })
        # Per partition read from, as (topic, partition): the next offset to read. A plain tuple, which a
        # TopicPartition equals, rather than a TopicPartition made for each record.
        self.next: dict[tuple[str, int], int] = {}
        # Seconds spent in polls since a position last moved: time spent elsewhere (merging what was read) is not
        # waiting on Kafka.
        self.waited = 0.0

    def _failed(self, what: str) -> ReadFailed:
        return ReadFailed(f"Kafka at {self.settings.kafka_bootstrap} (RUNSEARCH_KAFKA_BOOTSTRAP) {what}")

    def _error(self, where: str, error: KafkaError) -> ReadFailed:
        return self._failed(f"failed a read of {where}: {error.name()}: {error.str()}")

    def __enter__(self) -> TopicReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.consumer.close()

    def beginning_offsets(self, partitions: list[TopicPartition]) -> Offsets:
        timeout = self.settings.kafka_connect_timeout_seconds
        try:
            return {tp: self.consumer.get_watermark_offsets(Assigned(tp.topic, tp.partition), timeout)[0]
                    for tp in partitions}
        except KafkaException as failed:  # e.g. a partition of a topic deleted since the cut was taken
            raise self._error(_named([(tp.topic, tp.partition) for tp in partitions]), failed.args[0]) from None

    def read_from(self, positions: Offsets) -> None:
        """Read these partitions only, each from its position. A partition read already, and at that position, goes
        on with what was fetched ahead of it; the others start over (what was fetched ahead of them is dropped)."""
        going_on = {tp for tp, offset in positions.items() if self.next.get(tp) == offset}
        if stopped := [tp for tp in self.next if tp not in going_on]:
            self.consumer.incremental_unassign([Assigned(topic, partition) for topic, partition in stopped])
        if started := [tp for tp in positions if tp not in going_on]:
            self.consumer.incremental_assign([Assigned(tp.topic, tp.partition, positions[tp]) for tp in started])
            self.waited = 0.0
        self.next = {(tp.topic, tp.partition): offset for tp, offset in positions.items()}

    def poll(self, max_records: int) -> list[ConsumerRecord]:
        """Up to `max_records` records, as soon as there is one (none after POLL_SECONDS). Raises ReadFailed once
        polls have moved no position for RUNSEARCH_REPLAY_STALL_SECONDS: librdkafka waits without an error for a
        partition that is gone (its topic deleted during a rebuild), and a replay is only told to read partitions
        that hold more below its cut."""
        began = time.monotonic()
        first = self.consumer.poll(POLL_SECONDS)
        messages = [] if first is None else [first, *self.consumer.consume(max_records - 1, 0)]
        out, moved = [], False
        for message in messages:
            if (error := message.error()) is not None and error.code() != KafkaError._PARTITION_EOF:
                raise self._error(f"{message.topic()} [{message.partition()}]" if message.topic() else "the topics",
                                  error)
            tp, offset = (message.topic(), message.partition()), message.offset()
            # Only what follows a position (a partition no longer read may have a fetch still on its way).
            if offset is None or tp not in self.next or offset < self.next[tp]:
                continue
            following = offset if error is not None else offset + 1  # a partition's end: nothing left below it
            moved = moved or following > self.next[tp]
            self.next[tp] = following
            if error is None:
                out.append(record(message))
        self.waited = 0.0 if moved else self.waited + time.monotonic() - began
        if self.waited > self.settings.replay_stall_seconds:
            raise self._failed(f"gave nothing of {_named(list(self.next))} for {self.waited:.0f} s "
                               "(RUNSEARCH_REPLAY_STALL_SECONDS): a topic deleted or recreated during the replay, a "
                               "partition without a leader, or a transaction left open (a replay reads committed "
                               "records only)")
        return out

    def position(self, tp: TopicPartition) -> int:
        """The next offset to read from a partition read from."""
        return self.next[tp]
