"""Decoded changes and Kafka records for unit tests, built the way Debezium messages decode."""

from __future__ import annotations

import orjson
from kafka.consumer.fetcher import ConsumerRecord

from runsearch.demo.dataset import RowChange
from runsearch.demo.events import envelope
from runsearch.indexer.decode import Change, decode
from runsearch.indexer.tables import TABLES

RUN = {"workflow_run_id": "wr_1", "workflow_id": "w", "workflow_permanent_id": "wp", "organization_id": "o",
       "status": "running", "extra_http_headers": '{"X-A": "a"}', "failure_reason": "first", "created_at": 1,
       "modified_at": 1}


def change(table: str, row: dict, lsn: int, op: str = "c", at: int | None = None) -> Change:
    """A change of `row` at `lsn`, as its message decodes (from Kafka partition 0, offset `at`)."""
    key = orjson.dumps({c: row[c] for c in TABLES[table].key})
    return decode(table, key, orjson.dumps(envelope(RowChange(table, op, row, lsn))),
                  position=None if at is None else (0, at))


def tombstone(table: str, key: dict, at: int | None = None) -> Change:
    return decode(table, orjson.dumps(key), None, position=None if at is None else (0, at))


def record(topic: str, key: bytes, value: bytes | None, partition: int = 0, offset: int = 0) -> ConsumerRecord:
    """A message as kafka-python delivers it."""
    return ConsumerRecord(topic, partition, 0, offset, 0, 0, key, value, [], None, len(key), len(value or b""), 0)
