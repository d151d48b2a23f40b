"""The replays' reader through real Kafka: it reads the partitions it is told from their positions, goes on where a
partition is read on and starts over where it is not, and its positions reach the end of a partition whose last
offset holds no record for it (a transaction's commit marker: Kafka Connect's exactly-once source writes so). A
topic deleted, or deleted and created again, under a replay stops it with ReadFailed: librdkafka itself waits."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.consumer.fetcher import ConsumerRecord

from runsearch import clients
from runsearch.indexer.offsets import Offsets
from runsearch.indexer.topic_reader import ReadFailed, TopicReader
from runsearch.settings import Settings

pytestmark = [pytest.mark.integration]

POLLS = 200  # at most, to read a few records: a reader that never gets there fails instead of hanging


def _delete(settings: Settings, topic: str) -> None:
    admin = KafkaAdminClient(**clients.kafka(settings))
    admin.delete_topics([topic])
    admin.close()


def _topic(settings: Settings, records: int, transactional: bool) -> tuple[TopicPartition, TopicPartition]:
    """A topic of two partitions, each with `records` records (keys `p<partition>-<n>`), written in one transaction
    per partition when `transactional`."""
    topic = f"{settings.topic_prefix}.reader"
    admin = KafkaAdminClient(**clients.kafka(settings))
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    admin.close()
    extra = {"transactional_id": f"{topic}-tx"} if transactional else {}
    producer = KafkaProducer(**clients.kafka(settings), **extra)
    if transactional:
        producer.init_transactions()
    for partition in (0, 1):
        if transactional:
            producer.begin_transaction()
        for n in range(records):
            producer.send(topic, key=f"p{partition}-{n}".encode(), value=b"{}", partition=partition)
        if transactional:
            producer.commit_transaction()
    producer.flush()
    producer.close()
    return TopicPartition(topic, 0), TopicPartition(topic, 1)


def _read_to(reader: TopicReader, ends: Offsets) -> list[ConsumerRecord]:
    out: list[ConsumerRecord] = []
    for _ in range(POLLS):
        if all(reader.position(tp) >= end for tp, end in ends.items()):
            return out
        out += reader.poll(100)
    raise AssertionError(f"positions {[reader.position(tp) for tp in ends]} never reached {list(ends.values())}")


@pytest.mark.secure
def test_a_reader_reads_from_its_positions_past_a_transaction_marker(settings: Settings) -> None:
    first, second = _topic(settings, 20, transactional=True)
    with TopicReader(settings, 1024 * 1024) as reader:
        assert reader.beginning_offsets([first, second]) == {first: 0, second: 0}
        reader.read_from({first: 0, second: 15})
        read = _read_to(reader, {first: 21, second: 21})  # 20 records, then the commit marker
    assert [(r.partition, r.offset, r.key) for r in read if r.partition == 0] == [
        (0, n, f"p0-{n}".encode()) for n in range(20)]
    assert [r.offset for r in read if r.partition == 1] == list(range(15, 20))
    assert {r.value for r in read} == {b"{}"} and all(r.serialized_value_size == 2 for r in read)


def test_a_partition_read_on_goes_on_and_one_read_anew_starts_over(settings: Settings) -> None:
    first, second = _topic(settings, 50, transactional=False)
    with TopicReader(settings, 1024 * 1024) as reader:
        reader.read_from({first: 0})
        read = _read_to(reader, {first: 10})
        assert read and all(r.partition == 0 for r in read)
        # On from where it stands, beside a partition started from 40: nothing read twice, nothing missed.
        reader.read_from({first: reader.position(first), second: 40})
        read += _read_to(reader, {first: 50, second: 50})
        assert sorted(r.offset for r in read if r.partition == 0) == list(range(50))
        assert sorted(r.offset for r in read if r.partition == 1) == list(range(40, 50))
        reader.read_from({second: 45})  # back to an earlier offset: read again from there, the other one stops
        again = _read_to(reader, {second: 50})
        assert [(r.partition, r.offset) for r in again] == [(1, n) for n in range(45, 50)]


def test_a_topic_deleted_under_a_replay_stops_it_naming_its_partitions(settings: Settings) -> None:
    settings = settings.model_copy(update={"replay_stall_seconds": 2.0})
    first, second = _topic(settings, 20, transactional=False)
    with TopicReader(settings, 1024 * 1024) as reader:
        reader.read_from({first: 0, second: 0})
        _read_to(reader, {first: 20, second: 20})
        _delete(settings, first.topic)
        # Deleted and created again with fewer records: the positions stand past all it holds, and nothing comes.
        _topic(settings, 3, transactional=False)
        reader.read_from({first: 20, second: 20})
        began = time.monotonic()
        with pytest.raises(ReadFailed, match=rf"gave nothing of {first.topic} \[0\], {first.topic} \[1\] for 2 s"):
            _read_to(reader, {first: 25, second: 25})  # the old cut, after more records had arrived
        assert time.monotonic() - began < 10
        _delete(settings, first.topic)
        # Deleted: a replay that has not read it yet fails at once, at its beginning.
        with pytest.raises(ReadFailed, match=rf"failed a read of {first.topic} \[0\], {first.topic} \[1\]: "):
            reader.beginning_offsets([first, second])
