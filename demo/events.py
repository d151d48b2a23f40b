"""Row changes -> Kafka messages exactly as a Debezium PostgreSQL connector emits them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from demo.dataset import RowChange
from indexer.rows import PRIMARY_KEYS


def _key(table: str, row: dict[str, Any]) -> dict[str, Any]:
    return {c: row[c] for c in PRIMARY_KEYS[table]}


def envelope(change: RowChange, op: str | None = None, ts_ms: int = 0) -> dict[str, Any]:
    op = op or change.op
    if op == "d":
        # REPLICA IDENTITY DEFAULT: the before image of a delete holds the primary key only.
        before: dict[str, Any] | None = {c: (change.row[c] if c in PRIMARY_KEYS[change.table] else None) for c in change.row}
        after = None
    else:
        before, after = None, change.row
    return {"before": before, "after": after, "op": op, "ts_ms": ts_ms,
            "source": {"version": "2.7.0.Final", "connector": "postgresql", "name": "skyvern", "ts_ms": ts_ms,
                       "db": "skyvern", "schema": "public", "table": change.table, "txId": change.lsn // 3,
                       "lsn": change.lsn}}


def messages(change: RowChange, schemas: bool = False, ts_ms: int = 0, op: str | None = None
             ) -> Iterator[tuple[bytes, bytes | None]]:
    """(key, value) messages of one change; a delete is followed by its tombstone."""
    key: Any = _key(change.table, change.row)
    value: Any = envelope(change, op, ts_ms)
    if schemas:
        # The schemas.enable=true converter wraps both; the schema itself is irrelevant to consumers.
        key = {"schema": {"type": "struct", "optional": False}, "payload": key}
        value = {"schema": {"type": "struct", "optional": False}, "payload": value}
    yield orjson.dumps(key), orjson.dumps(value)
    if (op or change.op) == "d":
        yield orjson.dumps(key), None
