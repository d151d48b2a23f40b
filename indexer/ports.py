"""What the pipeline needs of a document store, and what flows through it. Neither OpenSearch nor Prometheus is
imported here: the pipeline runs against OpenSearch (`store.OpenSearchStore`) or memory (`memory_store`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson

if TYPE_CHECKING:
    from runsearch.indexer.decode import Change
    from runsearch.indexer.pipeline import Outcome


@dataclass(frozen=True)
class Versioned:
    """A document as read, with the version a conditional write must name."""

    source: dict[str, Any]
    seq_no: int
    primary_term: int
    size: int | None = None  # bytes of the source as JSON, when the store read it as such (SQLite, memory)

    def weight(self) -> int:
        """Bytes of the source as JSON: what holding it weighs. Serialized again only where the store did not know,
        when it is weighed at all (OpenSearch's client hands back parsed sources; most are never weighed)."""
        return self.size if self.size is not None else len(orjson.dumps(self.source))


Writes = dict[str, tuple[dict[str, Any], Versioned | None]]  # id -> (new source, the version it replaces)
Version = tuple[int, int]  # (seq_no, primary_term): the same pair, the same document


class Applier(Protocol):
    """What the Kafka shell applies batches with (`writer.Writer`: every generation written)."""

    def prepare(self) -> None:
        """Make sure there is somewhere to write, before the first batch."""
        ...

    def apply(self, changes: list[Change]) -> Outcome: ...

    def heartbeat(self, group: str, fields: dict[str, Any]) -> None:
        """Say where this indexer of consumer group `group` stands, where operators read it (with each progress
        line)."""
        ...


class Store(Protocol):
    def mget(self, index: str, ids: Iterable[str]) -> dict[str, Versioned]:
        """The documents that exist among `ids`, as acknowledged writes left them (refreshed or not)."""
        ...

    def versions(self, index: str, ids: Iterable[str]) -> dict[str, Version]:
        """The versions of the documents that exist among `ids`, as `mget` would read them, without their sources."""
        ...

    def write(self, index: str, docs: Writes) -> set[str]:
        """Write each document only if it is still the version read (or still absent); returns the ids
        that lost a race (409), for the caller to read again and merge anew."""
        ...

    def matching(self, index: str, query: dict[str, Any]) -> tuple[int, Iterator[str]]:
        """How many documents match `query` once every acknowledged write is visible, and their ids, read lazily."""
        ...
