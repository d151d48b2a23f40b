"""Helpers for integration tests: deliver histories to Kafka, drain an indexer, read documents back."""

from __future__ import annotations

import time
from collections.abc import Iterable

from kafka import KafkaProducer

from demo.dataset import RowChange
from demo.events import messages
from indexer.consumer import Indexer
from runsearch.settings import Settings
from stack import kafka as kafka_node


def produce(settings: Settings, changes: Iterable[RowChange], schemas: bool = False) -> int:
    kafka_node.create_topics(settings)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=20, acks="all")
    sent = 0
    for change in changes:
        for key, value in messages(change, schemas=schemas, ts_ms=int(time.time() * 1000)):
            producer.send(settings.topic(change.table), key=key, value=value)
            sent += 1
    producer.flush()
    producer.close()
    return sent


def drain(indexer: Indexer, timeout: float = 120.0) -> None:
    """Run the indexer until it has consumed everything published so far."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        indexer.run_once()
        assigned = indexer.consumer.assignment()
        if assigned:
            ends = indexer.consumer.end_offsets(list(assigned))
            if all(indexer.consumer.position(tp) >= end for tp, end in ends.items()) and len(assigned) == len(indexer.tables) * indexer.settings.topic_partitions:
                return
    raise AssertionError("indexer did not catch up in time")
