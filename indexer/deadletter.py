"""Dead-letter records: a message the indexer cannot apply, with the reason and where it came from."""

from __future__ import annotations

import base64
from typing import Any

import orjson

# Messages of these tables hold secrets; their dead letters point at the original instead of copying it.
SECRET_TABLES = {"organization_auth_tokens"}


def _text(data: bytes | None) -> dict[str, Any]:
    if data is None:
        return {"text": None}
    try:
        return {"text": data.decode()}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode()}


def record(reason: str, topic: str, table: str | None, partition: int, offset: int,
           key: bytes | None, value: bytes | None) -> bytes:
    entry: dict[str, Any] = {"reason": reason, "topic": topic, "partition": partition, "offset": offset}
    if table in SECRET_TABLES:
        entry["payload"] = "withheld: this table holds secrets; read it from the original topic/partition/offset"
    else:
        entry["key"] = _text(key)
        entry["value"] = _text(value)
    return orjson.dumps(entry)
