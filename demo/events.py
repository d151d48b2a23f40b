"""Row changes -> Kafka messages exactly as a Debezium PostgreSQL connector emits them.

`Encoder` keeps each row's previous version, because what the connector sends depends on it: under
`REPLICA IDENTITY DEFAULT` an update carries Debezium's unavailable-value placeholder instead of a large
(TOASTed) value it did not change, and a delete's `before` holds the primary key only; under `FULL`,
`before` is the whole old row. A delete is followed by its tombstone, and on a compacted topic a lagging
consumer may find the tombstone alone (`tombstone_only`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from runsearch.demo.dataset import RowChange
from runsearch.indexer.decode import PLACEHOLDER
from runsearch.indexer.tables import TABLES

# PostgreSQL moves a row's largest values out of line once the row passes about 2 KB (TOAST_TUPLE_THRESHOLD).
TOAST_BYTES = 2_000


def _key(table: str, row: dict[str, Any]) -> dict[str, Any]:
    return {c: row[c] for c in TABLES[table].key}


def envelope(change: RowChange, op: str | None = None, ts_ms: int = 0, before: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Debezium envelope of one change; `before` is the old image (None: REPLICA IDENTITY DEFAULT)."""
    op = op or change.op
    if op == "d":
        # REPLICA IDENTITY DEFAULT: the before image of a delete holds the primary key only.
        before = before or {c: (change.row[c] if c in TABLES[change.table].key else None) for c in change.row}
        after = None
    else:
        after = change.row
    return {"before": before, "after": after, "op": op, "ts_ms": ts_ms,
            "source": {"version": "2.7.0.Final", "connector": "postgresql", "name": "skyvern", "ts_ms": ts_ms,
                       "db": "skyvern", "schema": "public", "table": change.table, "txId": change.lsn // 3,
                       "lsn": change.lsn}}


def _never(_: RowChange) -> bool:
    return False


@dataclass
class Encoder:
    """Encodes a history in commit order, as one connector would."""

    schemas: bool = False  # the JSON converter's schemas.enable
    identity: Literal["default", "full"] = "default"
    toast_bytes: int | None = None  # placeholders for unchanged values longer than this (None: never)
    tombstone_only: Callable[[RowChange], bool] = _never  # deletes whose event compaction removed
    _rows: dict[tuple[str, tuple[Any, ...]], dict[str, Any]] = field(default_factory=dict)

    def messages(self, change: RowChange, ts_ms: int = 0) -> Iterator[tuple[bytes, bytes | None]]:
        """(key, value) messages of one change; a delete is followed by its tombstone."""
        pk = (change.table, tuple(change.row[c] for c in TABLES[change.table].key))
        previous = self._rows.get(pk)
        self._rows[pk] = change.row
        key: Any = _key(change.table, change.row)
        if change.op == "d":
            del self._rows[pk]
            if self.tombstone_only(change):
                yield self._wrap(key), None
                return
        row = change.row
        if change.op == "u" and previous is not None and self.toast_bytes is not None:
            limit = self.toast_bytes
            row = {c: PLACEHOLDER if _toasted(change.table, c, v, previous, limit) else v for c, v in row.items()}
        before = previous if self.identity == "full" and change.op != "c" else None
        yield self._wrap(key), self._wrap(envelope(RowChange(change.table, change.op, row, change.lsn), ts_ms=ts_ms,
                                                   before=before))
        if change.op == "d":
            yield self._wrap(key), None

    def _wrap(self, document: Any) -> bytes:
        # The schemas.enable=true converter wraps both; the schema itself is irrelevant to consumers.
        return orjson.dumps({"schema": {"type": "struct", "optional": False}, "payload": document} if self.schemas else document)


def _toasted(table: str, column: str, value: Any, previous: dict[str, Any], limit: int) -> bool:
    """Whether an update leaves `column` out: a text value it did not change, stored out of line."""
    return (column in TABLES[table].row.FEEDS and isinstance(value, str) and value == previous.get(column)
            and len(value.encode()) > limit)


def messages(change: RowChange, schemas: bool = False, ts_ms: int = 0) -> Iterator[tuple[bytes, bytes | None]]:
    """The messages of one change on its own (no previous version known: no placeholders)."""
    return Encoder(schemas=schemas).messages(change, ts_ms)
