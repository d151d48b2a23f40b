"""Operators' view of the dead-letter topic: list and show dead letters, and apply them again after a fix.

Re-applying is safe at any time and any number of times: every row is versioned, so an event older than
what the index holds changes nothing. A letter that carries only an excerpt or withholds its payload is
re-read from its original topic, partition and offset; one that is gone from there (retention or
compaction removed it) is reported, not guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from runsearch import clients
from runsearch.errors import DataError
from runsearch.indexer.deadletter import Letter
from runsearch.indexer.decode import Change, decode
from runsearch.indexer.isolation import apply_isolating
from runsearch.indexer.pipeline import Outcome
from runsearch.indexer.tables import topics
from runsearch.settings import Settings

POLL_MS = 1000


@dataclass(frozen=True)
class Entry:
    """A dead letter where it sits in the dead-letter topic."""

    partition: int
    offset: int
    timestamp_ms: int
    letter: Letter

    @property
    def ref(self) -> str:
        return f"{self.partition}:{self.offset}"


@dataclass
class Report:
    applied: list[Entry] = field(default_factory=list)
    failed: list[tuple[Entry, str]] = field(default_factory=list)  # still failing, and why
    outcome: Outcome = field(default_factory=Outcome)


def _drain(consumer: KafkaConsumer, ends: dict[TopicPartition, int]) -> Iterator[tuple[TopicPartition, ConsumerRecord]]:
    """Every record of the assigned partitions below `ends`."""
    while any(consumer.position(tp) < end for tp, end in ends.items()):
        for tp, records in consumer.poll(timeout_ms=POLL_MS).items():
            for record in records:
                if record.offset < ends[tp]:
                    yield tp, record


def entries(settings: Settings) -> Iterator[Entry]:
    """Every dead letter, oldest first per partition."""
    consumer = KafkaConsumer(**clients.kafka(settings), enable_auto_commit=False)
    try:
        parts = [TopicPartition(settings.deadletter_topic, p)
                 for p in sorted(consumer.partitions_for_topic(settings.deadletter_topic) or ())]
        if not parts:
            return
        consumer.assign(parts)
        consumer.seek_to_beginning()
        for tp, record in _drain(consumer, consumer.end_offsets(parts)):
            yield Entry(tp.partition, record.offset, record.timestamp,
                        Letter(record.key, record.value, [(k, v) for k, v in record.headers or ()]))
    finally:
        consumer.close()


def original(settings: Settings, entry: Entry) -> tuple[bytes | None, bytes | None] | None:
    """The original message's key and value, from the letter or from where it came from; None if gone."""
    if entry.letter.payload == "original":
        return entry.letter.key, entry.letter.value
    topic, partition, offset = entry.letter.origin
    consumer = KafkaConsumer(**clients.kafka(settings), enable_auto_commit=False)
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        end = consumer.end_offsets([tp])[tp]
        if offset >= end:
            return None
        for _, record in _drain(consumer, {tp: offset + 1}):
            return (record.key, record.value) if record.offset == offset else None
        return None  # the offset was compacted away or is below the log's start
    finally:
        consumer.close()


def reapply(settings: Settings, chosen: list[Entry], apply: Callable[[list[Change]], Outcome],
            transient: tuple[type[BaseException], ...], progress: Callable[[int], None]) -> Report:
    """Decode and apply the chosen dead letters again; report which applied and which still fail. `progress` is
    told how many letters are read so far."""
    report = Report()
    tables = topics(settings)
    decoded: list[tuple[Entry, Change]] = []
    for done, entry in enumerate(chosen, 1):
        topic, partition, offset = entry.letter.origin
        message = original(settings, entry)
        if message is None:
            report.failed.append((entry, f"the original at {topic}:{partition}:{offset} is gone (retention or compaction)"))
        else:
            try:
                decoded.append((entry, decode(tables.get(topic, ""), message[0], message[1],
                                              settings.unavailable_value_placeholder, (partition, offset))))
            except DataError as err:
                report.failed.append((entry, str(err)))
        progress(done)
    isolated = apply_isolating(apply, [change for _, change in decoded], transient)
    report.outcome = isolated.outcome
    for i, (entry, _) in enumerate(decoded):
        if i in isolated.failures:
            report.failed.append((entry, isolated.failures[i].reason))
        else:
            report.applied.append(entry)
    return report
