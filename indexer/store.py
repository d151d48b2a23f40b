"""Thin OpenSearch shell of the indexer: read versions, write with optimistic concurrency, find documents."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from opensearchpy import OpenSearch, helpers
from opensearchpy.exceptions import TransportError

from runsearch.errors import DataError, RunsearchError
from runsearch.indexer.document import indexed
from runsearch.indexer.metrics import BULK_SECONDS
from runsearch.indexer.ports import Version, Versioned, Writes

log = logging.getLogger(__name__)

CHUNK = 1000  # documents per mget / bulk request
BULK_MAX_BYTES = 10 * 1024 * 1024  # default byte budget of one bulk request (OpenSearch refuses over 100 MB)


class WriteError(RunsearchError):
    """OpenSearch could not take a write now (overloaded: 429, failing: 5xx, or the alias is missing); the batch
    is retried with back-off, never skipped."""


class Refused(DataError):
    """OpenSearch refused documents for what they hold (a mapping error, or a single document larger than a
    request may be): writing them again cannot succeed, so the events behind them become dead letters."""


def bulk_failure(result: dict[str, Any]) -> tuple[bool, str]:
    """A failed bulk item: whether writing it again later can succeed (OpenSearch overloaded: 429, failing: 5xx, the
    alias missing: 404, or the index closed to writes: 401, 403, a write block or a role without the permission), and
    how to name it in an error: its id, status and the error's type only (the error's reason can quote the document's
    content). A 403 is no fault of the document: made a dead letter, every event would be one until the block went.
    A request that got no answer (a timeout, no connection: the status is the client's word for it) can succeed too."""
    status = result.get("status", 500)
    error = result.get("error")
    # An item's error is OpenSearch's object; a whole request's failure (`helpers` then fails each of its items) is
    # the client's exception, whose text can quote the request: only its type is named.
    kind = type(result["exception"]).__name__ if "exception" in result else \
        error.get("type") if isinstance(error, dict) else error
    if not isinstance(status, int):  # no answer at all (a timeout, no connection): the status is the client's word
        return True, f"{result.get('_id')}: {status} {kind}"
    return status in (401, 403, 404, 429) or status >= 500, f"{result.get('_id')}: {status} {kind}"


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


@dataclass(frozen=True)
class OpenSearchStore:
    os: OpenSearch
    bulk_max_bytes: int = BULK_MAX_BYTES

    def mget(self, index: str, ids: Iterable[str]) -> dict[str, Versioned]:
        """Real-time reads (they see every acknowledged write, refreshed or not)."""
        return {doc["_id"]: Versioned(doc["_source"], doc["_seq_no"], doc["_primary_term"])
                for doc in self._found(index, ids, {})}

    def versions(self, index: str, ids: Iterable[str]) -> dict[str, Version]:
        """Real-time too; with no source (nor any stored field) asked for, OpenSearch loads none."""
        return {doc["_id"]: (doc["_seq_no"], doc["_primary_term"]) for doc in self._found(index, ids, {"_source": "false"})}

    def _found(self, index: str, ids: Iterable[str], params: dict[str, str]) -> Iterator[dict[str, Any]]:
        """The documents that exist among `ids`, as real-time mgets of CHUNK ids answer them."""
        for chunk in _chunks(sorted(set(ids))):
            response = self.os.mget(index=index, body={"ids": chunk}, params={"realtime": "true", **params})
            yield from (doc for doc in response["docs"] if doc.get("found"))

    def write(self, index: str, docs: Writes) -> set[str]:
        conflicts: set[str] = set()
        for request in self._requests(index, docs):
            conflicts |= self._bulk(request)
        return conflicts

    def _requests(self, index: str, docs: Writes) -> Iterator[list[tuple[str, bytes]]]:
        """The bulk lines of every document, grouped into requests of at most CHUNK documents and
        `bulk_max_bytes` bytes (a document larger than that goes alone)."""
        request: list[tuple[str, bytes]] = []
        size = 0
        for doc_id, (source, seen) in docs.items():
            meta: dict[str, Any] = {"_index": index, "_id": doc_id}
            if seen is not None:
                meta.update(if_seq_no=seen.seq_no, if_primary_term=seen.primary_term)
            lines = orjson.dumps({"create" if seen is None else "index": meta}) + b"\n" + \
                orjson.dumps(indexed(source)) + b"\n"
            if request and (len(request) == CHUNK or size + len(lines) > self.bulk_max_bytes):
                yield request
                request, size = [], 0
            request.append((doc_id, lines))
            size += len(lines)
        if request:
            yield request

    def _bulk(self, request: list[tuple[str, bytes]]) -> set[str]:
        try:
            with BULK_SECONDS.time():
                # Writes name aliases only: a missing one fails the write (404: retried) instead of creating an
                # index with a dynamic mapping.
                response = self.os.bulk(body=b"".join(lines for _, lines in request), params={"require_alias": "true"})
        except TransportError as err:
            if err.status_code != 413:
                raise
            if len(request) == 1:
                raise Refused(f"OpenSearch refused document {request[0][0]}: larger than a request may be (413)") from None
            half = len(request) // 2  # over OpenSearch's http.max_content_length: halves go through
            log.warning("bulk request over OpenSearch's size limit, split (lower RUNSEARCH_BULK_MAX_BYTES)",
                        extra={"fields": {"documents": len(request), "bytes": sum(len(lines) for _, lines in request)}})
            return self._bulk(request[:half]) | self._bulk(request[half:])
        conflicts: set[str] = set()
        refused: list[str] = []
        for item in response["items"]:
            result = next(iter(item.values()))
            status = result.get("status", 500)
            if status == 409:
                conflicts.add(result["_id"])
            elif status >= 300:
                transient, described = bulk_failure(result)
                if transient:
                    raise WriteError(f"OpenSearch cannot take document {described} now")
                refused.append(described)
        if refused:
            raise Refused(f"OpenSearch refused document {', '.join(refused[:5])}")
        return conflicts

    def matching(self, index: str, query: dict[str, Any]) -> tuple[int, Iterator[str]]:
        self.os.indices.refresh(index=index)
        total = self.os.count(index=index, body={"query": query})["count"]
        hits = helpers.scan(self.os, index=index, query={"query": query, "_source": False}, size=CHUNK, scroll="5m")
        return total, (hit["_id"] for hit in hits)
