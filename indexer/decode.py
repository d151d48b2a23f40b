"""Debezium message (key bytes, value bytes) -> `Change`, or `Poison` with the reason.

Pure: no I/O. Accepts both JSON-converter forms (plain envelope, or `{"schema", "payload"}`).
A tombstone (value null) decodes to None: it carries nothing to apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import ValidationError

from indexer.rows import MAX_ID_BYTES, PRIMARY_KEYS, ROW_MODELS, ContractError, describe

OPS = {"c": "upsert", "u": "upsert", "r": "upsert", "d": "delete"}


class Poison(ValueError):
    """A message that cannot be decoded or breaks the event contract; its text is the reason."""


@dataclass(frozen=True)
class Change:
    table: str
    key: tuple[str, ...]
    kind: Literal["upsert", "delete"]
    lsn: int
    data: dict[str, Any] | None  # what the index keeps of the after image (Row.data); None for a delete
    ts_ms: int | None  # when the source committed it, for freshness metrics


def _json(data: bytes, what: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raise Poison(f"{what} is not valid JSON (UTF-8): {err.msg}") from None


def _primary_key(table: str, image: Any, what: str) -> tuple[str, ...]:
    if not isinstance(image, dict):
        raise Poison(f"{what} is not a JSON object")
    key = []
    for column in PRIMARY_KEYS[table]:
        value = image.get(column)
        if not isinstance(value, str) or not value:
            raise Poison(f"{what} lacks primary-key column {column!r} as a non-empty string")
        if len(value.encode()) > MAX_ID_BYTES:
            raise Poison(f"{what} primary-key column {column!r} is longer than {MAX_ID_BYTES} bytes")
        key.append(value)
    return tuple(key)


def decode(table: str, key: bytes | None, value: bytes | None) -> Change | None:
    if table not in ROW_MODELS:
        raise Poison(f"unknown table {table!r}")
    if value is None:
        return None  # tombstone after a delete
    envelope = _json(value, "value")
    if isinstance(envelope, dict) and "payload" in envelope and "schema" in envelope:
        envelope = envelope["payload"]
        if envelope is None:
            return None  # tombstone in the schemas.enable=true form
    if not isinstance(envelope, dict):
        raise Poison("value is not a Debezium envelope object")
    op = envelope.get("op")
    if op not in OPS:
        raise Poison(f"unknown op {op!r}")
    source = envelope.get("source")
    named = source.get("table") if isinstance(source, dict) else None
    if named is not None and named != table:
        # A topic routed wrongly upstream: its rows would be read with another table's columns.
        raise Poison(f"event of table {named!r} on the topic of table {table!r}")
    lsn = source.get("lsn") if isinstance(source, dict) else None
    if not isinstance(lsn, int) or isinstance(lsn, bool) or lsn < 0:
        raise Poison("source.lsn is missing or not a non-negative integer")
    ts_ms = source.get("ts_ms")
    kind = OPS[op]
    image = envelope.get("after" if kind == "upsert" else "before")
    pk = _primary_key(table, image, "after" if kind == "upsert" else "before")
    if key is not None:
        message_key = _json(key, "key")
        if isinstance(message_key, dict) and "payload" in message_key and "schema" in message_key:
            message_key = message_key["payload"]
        if _primary_key(table, message_key, "key") != pk:
            raise Poison("message key does not match the row's primary key")
    data = None
    if kind == "upsert":
        try:
            data = ROW_MODELS[table].model_validate(image).data()
        except ValidationError as err:
            raise Poison(f"{table} row breaks the contract: {describe(err)}") from None
        except ContractError as err:
            raise Poison(f"{table} row breaks the contract: {err}") from None
    return Change(table, pk, kind, lsn, data, ts_ms if isinstance(ts_ms, int) else None)
