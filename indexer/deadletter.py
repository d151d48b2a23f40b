"""Dead letters: a message the indexer cannot apply, with the reason and where it came from. Pure.

The shape is Kafka Connect's dead-letter convention, so tools that read Connect's dead-letter topics read
these: the record's key and value are the original message's bytes, and `__connect.errors.*` headers say
where it came from (topic, partition, offset) and why it failed (stage, exception class, message).
runsearch adds `runsearch.errors.*` headers: the table, the original's size, and what the payload is:

- `original`: the key and value as they were;
- `excerpt`: the first bytes only, because the letter would not fit the topic's message size otherwise:
  re-applying reads the original from its topic, partition and offset;
- `withheld`: nothing (a table holding secrets, API keys): the original is read from where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from runsearch.indexer.tables import TABLES

CONNECT = "__connect.errors."
OWN = "runsearch.errors."
EXCERPT_BYTES = 1024
HEADROOM = 512  # a record's own framing, beside key, value and headers
Stage = Literal["VALUE_CONVERTER", "TASK_PUT"]  # Connect's names: decoding the message, writing it
Payload = Literal["original", "excerpt", "withheld"]


@dataclass(frozen=True)
class Letter:
    """One dead-letter record, as produced to (or read back from) the dead-letter topic."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    def header(self, name: str) -> str | None:
        return next((v.decode() for k, v in self.headers if k == name), None)

    @property
    def reason(self) -> str:
        return self.header(CONNECT + "exception.message") or ""

    @property
    def origin(self) -> tuple[str, int, int]:
        """The original's topic, partition and offset."""
        return (self.header(CONNECT + "topic") or "", int(self.header(CONNECT + "partition") or -1),
                int(self.header(CONNECT + "offset") or -1))

    @property
    def payload(self) -> Payload:
        kind = self.header(OWN + "payload")
        if kind == "excerpt":
            return "excerpt"
        if kind == "withheld":
            return "withheld"
        return "original"


def letter(reason: str, error: str, stage: Stage, origin: tuple[str, int, int], table: str | None,
           key: bytes | None, value: bytes | None, max_bytes: int) -> Letter:
    """The dead letter of one message: at most `max_bytes` however large the original was."""
    topic, partition, offset = origin
    headers = [(CONNECT + "topic", topic), (CONNECT + "partition", str(partition)), (CONNECT + "offset", str(offset)),
               (CONNECT + "connector.name", "runsearch-indexer"), (CONNECT + "task.id", "0"), (CONNECT + "stage", stage),
               (CONNECT + "class.name", "runsearch.indexer"), (CONNECT + "exception.class.name", error),
               (CONNECT + "exception.message", reason[:2000]), (OWN + "table", table or ""),
               (OWN + "original.bytes", str(len(key or b"") + len(value or b"")))]
    encoded = [(name, text.encode()) for name, text in headers]
    payload: Payload = "original"
    if table in TABLES and TABLES[table].secret:
        key, value, payload = None, None, "withheld"
    elif len(key or b"") + len(value or b"") + sum(len(n) + len(v) for n, v in encoded) + HEADROOM > max_bytes:
        key, value, payload = _excerpt(key), _excerpt(value), "excerpt"
    return Letter(key, value, [*encoded, (OWN + "payload", payload.encode())])


def _excerpt(data: bytes | None) -> bytes | None:
    return None if data is None else data[:EXCERPT_BYTES]
