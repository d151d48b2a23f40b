"""Thin OpenSearch shell of the indexer: create the first generation, read versions, write with OCC."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from opensearchpy import OpenSearch, helpers

import mappings
from indexer.metrics import BULK_SECONDS
from mappings import Names

CHUNK = 1000  # documents per mget / bulk request


class WriteError(RuntimeError):
    """OpenSearch refused a write for a reason other than a version conflict; the batch is retried."""


@dataclass(frozen=True)
class Versioned:
    source: dict[str, Any]
    seq_no: int
    primary_term: int


def client(url: str, timeout: float = 30.0) -> OpenSearch:
    return OpenSearch(hosts=[url], timeout=timeout, max_retries=0, http_compress=False)


def current_generation(os: OpenSearch, names: Names) -> int | None:
    """The generation the write aliases point at, or None before the first one exists."""
    alias = names.write_alias("runs")
    if not os.indices.exists_alias(name=alias):
        return None
    (index,) = os.indices.get_alias(name=alias)
    return int(index.rsplit("-v", 1)[1])


def create_generation(os: OpenSearch, names: Names, generation: int) -> None:
    for kind in mappings.KINDS:
        index = names.index(kind, generation)
        if not os.indices.exists(index=index):
            os.indices.create(index=index, body=mappings.body(kind))


def ensure_indices(os: OpenSearch, names: Names) -> None:
    """Create generation 1 with its read and write aliases, unless a generation already exists."""
    if current_generation(os, names) is not None:
        return
    create_generation(os, names, 1)
    actions = []
    for kind in mappings.KINDS:
        index = names.index(kind, 1)
        actions += [{"add": {"index": index, "alias": names.write_alias(kind)}},
                    {"add": {"index": index, "alias": names.read_alias(kind)}}]
    os.indices.update_aliases(body={"actions": actions})


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


Writes = dict[str, tuple[dict[str, Any], Versioned | None]]  # id -> (new source, the version it replaces)


class Store(Protocol):
    """What the pipeline needs of a document store (OpenSearch here; a dict in unit tests)."""

    def mget(self, index: str, ids: Iterable[str]) -> dict[str, Versioned]: ...

    def write(self, index: str, docs: Writes) -> set[str]:
        """Write each document only if it is still the version read (or still absent); returns the ids
        that lost a race (409), for the caller to read again and merge anew."""
        ...

    def ids_matching(self, index: str, query: dict[str, Any]) -> list[str]: ...


@dataclass(frozen=True)
class OpenSearchStore:
    os: OpenSearch
    through_aliases: bool = True  # writes must name an alias (never auto-create an index); a rebuild names indices

    def mget(self, index: str, ids: Iterable[str]) -> dict[str, Versioned]:
        """Real-time reads (they see every acknowledged write, refreshed or not)."""
        found: dict[str, Versioned] = {}
        for chunk in _chunks(sorted(set(ids))):
            response = self.os.mget(index=index, body={"ids": chunk}, params={"realtime": "true"})
            for doc in response["docs"]:
                if doc.get("found"):
                    found[doc["_id"]] = Versioned(doc["_source"], doc["_seq_no"], doc["_primary_term"])
        return found

    def write(self, index: str, docs: Writes) -> set[str]:
        conflicts: set[str] = set()
        items = list(docs.items())
        for start in range(0, len(items), CHUNK):
            lines: list[bytes] = []
            for doc_id, (source, seen) in items[start:start + CHUNK]:
                meta: dict[str, Any] = {"_index": index, "_id": doc_id}
                if seen is None:
                    lines.append(orjson.dumps({"create": meta}))
                else:
                    meta.update(if_seq_no=seen.seq_no, if_primary_term=seen.primary_term)
                    lines.append(orjson.dumps({"index": meta}))
                lines.append(orjson.dumps(source))
            with BULK_SECONDS.time():
                response = self.os.bulk(body=b"\n".join(lines) + b"\n", params={"require_alias": str(self.through_aliases).lower()})
            for item in response["items"]:
                result = next(iter(item.values()))
                if result.get("status") == 409:
                    conflicts.add(result["_id"])
                elif result.get("status", 500) >= 300:
                    # The error's type only: its reason can quote the document's content.
                    error = result.get("error")
                    kind = error.get("type") if isinstance(error, dict) else error
                    raise WriteError(f"OpenSearch refused document {result['_id']}: {kind}")
        return conflicts

    def ids_matching(self, index: str, query: dict[str, Any]) -> list[str]:
        """Every document id matching `query`, after a refresh so that all acknowledged writes are seen."""
        self.os.indices.refresh(index=index)
        hits = helpers.scan(self.os, index=index, query={"query": query, "_source": False}, size=CHUNK, scroll="2m")
        return [hit["_id"] for hit in hits]

