"""Debezium message (key bytes, value bytes) -> `Change`, or `Poison` with the reason.

Pure: no I/O. Accepts both JSON-converter forms (plain envelope, or `{"schema", "payload"}`).
A tombstone (value null) is a delete of its message key: on compacted topics a lagging consumer
can find it without the delete event it followed. A text column holding the unavailable-value
placeholder (an unchanged TOASTed value) is left out of the change: the merge keeps what it held.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import ValidationError

from runsearch.errors import DataError
from runsearch.indexer.rows import MAX_KEYWORD_BYTES, ContractError, describe, too_long
from runsearch.indexer.tables import TABLES
from runsearch.indexer.unavailable import stand_in

Kind = Literal["upsert", "delete", "tombstone"]
OPS: dict[str, Kind] = {"c": "upsert", "u": "upsert", "r": "upsert", "d": "delete"}
PLACEHOLDER = "__debezium_unavailable_value"  # Debezium's default `unavailable.value.placeholder`
MAX_LSN = 2**63 - 1  # versions are OpenSearch `long`s; PostgreSQL's LSN is unsigned but never gets near
NONE_UNAVAILABLE: frozenset[str] = frozenset()  # one shared empty set: `frozenset[str]()` costs 1 µs an event


class Poison(DataError):
    """A message that cannot be decoded or breaks the event contract; its text is the reason."""


@dataclass(frozen=True)
class Change:
    table: str
    key: tuple[str, ...]
    kind: Kind
    lsn: int  # 0 for a tombstone: it deletes at the newest version known (indexer.versions)
    data: dict[str, Any] | None  # what the index keeps of the after image (Row.data); None for a delete
    ts_ms: int | None  # when the source committed it, for freshness metrics
    unavailable: frozenset[str] = NONE_UNAVAILABLE  # columns sent as the placeholder
    position: tuple[int, int] | None = None  # (partition, offset) of the message, when it came from Kafka


def _json(data: bytes, what: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raise Poison(f"{what} is not valid JSON (UTF-8): {err.msg}") from None


def _unwrapped(document: Any) -> Any:
    """The payload of the schemas.enable=true form, or the document itself."""
    if isinstance(document, dict) and "payload" in document and "schema" in document:
        return document["payload"]
    return document


def _primary_key(table: str, image: Any, what: str) -> tuple[str, ...]:
    if not isinstance(image, dict):
        raise Poison(f"{what} is not a JSON object")
    key = []
    for column in TABLES[table].key:
        value = image.get(column)
        if not isinstance(value, str) or not value:
            raise Poison(f"{what} lacks primary-key column {column!r} as a non-empty string")
        if too_long(value):
            raise Poison(f"{what} primary-key column {column!r} is longer than {MAX_KEYWORD_BYTES} bytes")
        key.append(value)
    return tuple(key)


def key_of(table: str, key: bytes) -> tuple[str, ...]:
    """The primary key a message key names."""
    return _primary_key(table, _unwrapped(_json(key, "key")), "key")


def version(value: bytes | None) -> tuple[Kind, int] | None:
    """What a message does and its lsn, without decoding its row; None when it does not say (a tombstone, or a
    value `decode` refuses for its envelope)."""
    try:
        envelope = None if value is None else _unwrapped(_json(value, "value"))
    except Poison:
        return None
    source = envelope.get("source") if isinstance(envelope, dict) else None
    lsn = source.get("lsn") if isinstance(source, dict) else None
    op = envelope.get("op") if isinstance(envelope, dict) else None
    if op not in OPS or not isinstance(lsn, int) or isinstance(lsn, bool):
        return None
    return OPS[op], lsn


def decode(table: str, key: bytes | None, value: bytes | None, placeholder: str = PLACEHOLDER,
           position: tuple[int, int] | None = None) -> Change:
    if table not in TABLES:
        raise Poison(f"unknown table {table!r}")
    message_key = None if key is None else key_of(table, key)
    envelope = None if value is None else _unwrapped(_json(value, "value"))
    if envelope is None:
        if message_key is None:
            raise Poison("tombstone without a message key: nothing says which row it deletes")
        return Change(table, message_key, "tombstone", 0, None, None, position=position)
    if not isinstance(envelope, dict):
        raise Poison("value is not a Debezium envelope object")
    op = envelope.get("op")
    if op == "t":  # sent only where the connector's `skipped.operations` lets truncates through (not by default)
        raise Poison(f"a TRUNCATE of {table} (op 't'): it names no row, so the rows it removed stay indexed; "
                     "README, 'Failure modes', says how to rebuild from a new snapshot")
    if op not in OPS:
        raise Poison(f"unknown op {op!r}")
    source = envelope.get("source")
    if not isinstance(source, dict):
        raise Poison("source.lsn is missing or not a non-negative integer")
    named = source.get("table")
    if named is not None and named != table:
        # A topic routed wrongly upstream: its rows would be read with another table's columns.
        raise Poison(f"event of table {named!r} on the topic of table {table!r}")
    lsn = source.get("lsn")
    if not isinstance(lsn, int) or isinstance(lsn, bool) or lsn < 0:
        raise Poison("source.lsn is missing or not a non-negative integer")
    if lsn > MAX_LSN:
        raise Poison(f"source.lsn is beyond {MAX_LSN} (a signed 64-bit long)")
    ts_ms = source.get("ts_ms")
    kind = OPS[op]
    which = "after" if kind == "upsert" else "before"
    image = envelope.get(which)
    if not isinstance(image, dict):
        raise Poison(f"{which} is not a JSON object")
    pk = _primary_key(table, image, which)
    if message_key is not None and message_key != pk:
        raise Poison("message key does not match the row's primary key")
    data: dict[str, Any] | None = None
    unavailable = NONE_UNAVAILABLE
    if kind == "upsert":
        model = TABLES[table].row
        if placeholder in image.values():  # rarely: most events send every column
            unavailable = frozenset(c for c in model.FEEDS if image.get(c) == placeholder)
            image = {**image, **{c: stand_in(table, c) for c in unavailable}}
        try:
            data = model.model_validate(image).data()
        except ValidationError as err:
            raise Poison(f"{table} row breaks the contract: {describe(err)}") from None
        except ContractError as err:
            raise Poison(f"{table} row breaks the contract: {err}") from None
    return Change(table, pk, kind, lsn, data, ts_ms if isinstance(ts_ms, int) else None, unavailable, position)
