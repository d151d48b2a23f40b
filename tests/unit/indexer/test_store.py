"""The OpenSearch shell's bulk writes, with a fake client: requests bounded in bytes and documents, a 413 split in
halves, transient item errors retried, refusals raised without the documents' content. The same against the real
server: test_cdc.py (a real 413 split) and test_indexer_integration.py."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from opensearchpy.exceptions import TransportError

from runsearch.indexer.ports import Versioned
from runsearch.indexer.store import CHUNK, OpenSearchStore, Refused, WriteError


class FakeClient:
    """Answers bulk requests: 413 over `limit` bytes, else each item with the status `statuses` gives its id."""

    def __init__(self, limit: int = 10**9, statuses: dict[str, tuple[int, str]] | None = None) -> None:
        self.limit, self.statuses, self.requests = limit, statuses or {}, []

    def bulk(self, body: bytes, params: dict[str, str]) -> dict[str, Any]:
        assert params == {"require_alias": "true"}
        if len(body) > self.limit:
            raise TransportError(413, "")
        lines = body.splitlines()
        ids = [orjson.loads(meta)[next(iter(orjson.loads(meta)))]["_id"] for meta in lines[::2]]
        self.requests.append((len(body), ids))
        items = []
        for doc_id in ids:
            status, kind = self.statuses.get(doc_id, (201, ""))
            error = {"error": {"type": kind, "reason": "quotes the doc"}} if kind else {}
            items.append({"index": {"_id": doc_id, "status": status, **error}})
        return {"items": items}


def docs(n: int, size: int) -> dict[str, tuple[dict[str, Any], Versioned | None]]:
    return {f"d{i}": ({"blob": "x" * size}, None if i % 2 else Versioned({}, 3, 1)) for i in range(n)}


def test_requests_stay_under_the_byte_budget_and_the_document_count() -> None:
    client = FakeClient()
    OpenSearchStore(client, bulk_max_bytes=100_000).write("runs-write", docs(30, 20_000))  # type: ignore[arg-type]
    assert all(size <= 100_000 for size, _ in client.requests) and len(client.requests) == 8
    client = FakeClient()
    OpenSearchStore(client).write("runs-write", docs(2_500, 10))  # type: ignore[arg-type]
    assert [len(ids) for _, ids in client.requests] == [CHUNK, CHUNK, 500]


def test_a_request_over_the_servers_limit_is_split_and_nothing_is_lost() -> None:
    client = FakeClient(limit=50_000)
    OpenSearchStore(client, bulk_max_bytes=10**9).write("runs-write", docs(40, 5_000))  # type: ignore[arg-type]
    assert sorted(i for _, ids in client.requests for i in ids) == sorted(f"d{i}" for i in range(40))
    assert all(size <= 50_000 for size, _ in client.requests)


def test_a_single_document_over_the_limit_is_refused_for_what_it_is() -> None:
    with pytest.raises(Refused, match="d0: larger than a request may be"):
        OpenSearchStore(FakeClient(limit=1_000)).write("runs-write", docs(1, 5_000))  # type: ignore[arg-type]


@pytest.mark.parametrize("status, kind", [(429, "es_rejected_execution_exception"), (503, "unavailable_shards_exception"),
                                          (404, "index_not_found_exception"), (403, "cluster_block_exception"),
                                          (403, "security_exception"), (401, "security_exception")])
def test_items_the_server_cannot_take_now_are_retried_later(status: int, kind: str) -> None:
    store = OpenSearchStore(FakeClient(statuses={"d1": (status, kind)}))  # type: ignore[arg-type]
    with pytest.raises(WriteError, match=f"d1: {status} {kind} now"):
        store.write("runs-write", docs(3, 10))


def test_refused_items_name_the_document_and_the_error_type_only() -> None:
    store = OpenSearchStore(FakeClient(statuses={"d2": (400, "mapper_parsing_exception")}))  # type: ignore[arg-type]
    with pytest.raises(Refused) as refused:
        store.write("runs-write", docs(3, 10))
    assert "d2: 400 mapper_parsing_exception" in str(refused.value) and "quotes" not in str(refused.value)


def test_conflicts_are_returned_for_the_caller_to_merge_again() -> None:
    store = OpenSearchStore(FakeClient(statuses={"d0": (409, "version_conflict_engine_exception")}))  # type: ignore[arg-type]
    assert store.write("runs-write", docs(3, 10)) == {"d0"}


def test_a_run_document_is_written_with_its_response_as_doc_values() -> None:
    """The mapping leaves the response's doc values out of `_source`, so the store adds them to every write."""
    client = FakeBodies()
    run = {"workflow_run_id": "wr_1", "run": '{"status":"failed"}', "state": {}}
    OpenSearchStore(client).write("runs-write", {"wr_1": (run, None), "tasks:t": ({"table": "tasks"}, None)})  # type: ignore[arg-type]
    sources = [orjson.loads(line) for line in client.body.splitlines()[1::2]]
    assert sources == [{**run, "response": "eyJzdGF0dXMiOiJmYWlsZWQifQ=="}, {"table": "tasks"}]


class FakeBodies(FakeClient):
    def bulk(self, body: bytes, params: dict[str, str]) -> dict[str, Any]:
        self.body = body
        return super().bulk(body, params)
