"""How a fold's documents are created, with a fake OpenSearch: what it cannot take now (429, 5xx, a missing alias) is
written again, what it refuses stops the rebuild naming the document and the error's type only. The whole fold
against real servers: tests/integration/test_generations.py."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from opensearchpy.exceptions import ConnectionError, ConnectionTimeout, TransportError
from opensearchpy.serializer import JSONSerializer

from runsearch.indexer.disk_store import DiskStore
from runsearch.operations import Refused, fold
from runsearch.settings import Settings

INDEX = "runs-v2-write"


class FakeOpenSearch:
    """Answers each document's n-th create with the n-th status `failures` gives it, then 201 (409 once created).
    `requests` plans whole requests by their number: "lost" creates its documents but answers with a timeout,
    "unreachable" creates nothing and fails to connect, "too large" is a 413, "bad" a 400 quoting the request."""

    def __init__(self, failures: dict[str, list[int]], requests: dict[int, str] | None = None) -> None:
        self.failures, self.attempts, self.created = failures, Counter[str](), set[str]()
        self.requests, self.sent = requests or {}, 0
        self.transport = SimpleNamespace(serializer=JSONSerializer())
        self.indices = SimpleNamespace(put_settings=lambda **_: None, refresh=lambda **_: None)

    def bulk(self, body: str, **_: Any) -> dict[str, Any]:
        self.sent += 1
        planned_request = self.requests.get(self.sent)
        if planned_request == "unreachable":
            raise ConnectionError("N/A", "connection refused", OSError())
        if planned_request == "too large":
            raise TransportError(413, "request entity too large")
        if planned_request == "bad":
            raise TransportError(400, "parse_exception", {"error": {"root_cause": [{"reason": "quotes the doc"}]}})
        items = []
        for meta in body.splitlines()[::2]:
            doc_id = json.loads(meta)["create"]["_id"]
            self.attempts[doc_id] += 1
            planned = self.failures.get(doc_id, [])
            status = planned[self.attempts[doc_id] - 1] if self.attempts[doc_id] <= len(planned) else \
                409 if doc_id in self.created else 201
            if status == 201:
                self.created.add(doc_id)
            error = {"error": {"type": "some_exception", "reason": "quotes the doc"}} if status >= 300 else {}
            items.append({"create": {"_id": doc_id, "status": status, **error}})
        if planned_request == "lost":
            raise ConnectionTimeout("TIMEOUT", "read timed out", OSError())
        return {"items": items, "errors": any("error" in item["create"] for item in items)}


@pytest.fixture
def store(tmp_path: Path) -> DiskStore:
    disk = DiskStore(tmp_path / "fold.sqlite")
    disk.write(INDEX, {f"wr_{i}": ({"workflow_run_id": f"wr_{i}"}, None) for i in range(5)})
    return disk


def write(store: DiskStore, client: FakeOpenSearch) -> int:
    return fold._write(Settings(), client, store, "runs", INDEX, "runs-v2-fold", lambda *_: None)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fold.time, "sleep", lambda _: None)


@pytest.mark.parametrize("status", [429, 503, 404])
def test_documents_opensearch_cannot_take_now_are_written_again(store: DiskStore, status: int) -> None:
    client = FakeOpenSearch({"wr_1": [status, status], "wr_3": [status]})
    assert write(store, client) == 5
    assert client.attempts == {"wr_0": 1, "wr_1": 3, "wr_2": 1, "wr_3": 2, "wr_4": 1}


def test_a_refused_document_stops_the_fold_naming_it_without_its_content(store: DiskStore) -> None:
    with pytest.raises(Refused) as refused:
        write(store, FakeOpenSearch({"wr_2": [400]}))
    assert "wr_2: 400 some_exception" in str(refused.value) and "quotes" not in str(refused.value)


def test_documents_still_not_taken_after_every_round_stop_the_fold(store: DiskStore) -> None:
    with pytest.raises(Refused, match="could not take 1 documents of the fold after 5 rounds"):
        write(store, FakeOpenSearch({"wr_4": [503] * (fold.RETRIES + 1)}))


@pytest.mark.parametrize("planned, sent", [("lost", 3500), ("unreachable", 2500)])
def test_a_request_whose_answer_was_lost_or_that_could_not_be_sent_is_written_again(
        tmp_path: Path, planned: str, sent: int) -> None:
    """A bulk request that timed out may have created its documents (sent again, they exist: 409, which counts as
    written) or not; one that could not connect created none. Neither stops the fold."""
    disk = DiskStore(tmp_path / "fold.sqlite")
    disk.write(INDEX, {f"wr_{i}": ({"workflow_run_id": f"wr_{i}"}, None) for i in range(2500)})  # 3 requests
    client = FakeOpenSearch({}, {2: planned})
    assert write(disk, client) == 2500
    assert client.created == {f"wr_{i}" for i in range(2500)} and client.sent == 4
    # the second request's 1,000 documents reached OpenSearch twice when the first time's answer was lost
    assert sum(client.attempts.values()) == sent
    disk.close()


def test_a_request_larger_than_opensearch_takes_stops_the_fold_saying_how_to_go_on(store: DiskStore) -> None:
    with pytest.raises(Refused, match=r"larger than OpenSearch takes in one request \(413\)"):
        write(store, FakeOpenSearch({}, {1: "too large"}))


def test_a_document_that_exists_before_it_was_ever_sent_is_refused(store: DiskStore) -> None:
    """409 counts as written only for a document sent before in this write: otherwise it is not the fold's."""
    client = FakeOpenSearch({"wr_2": [409]})
    with pytest.raises(Refused, match="wr_2: 409"):
        write(store, client)


def test_a_whole_request_refused_stops_the_fold_naming_the_error_type_only(store: DiskStore) -> None:
    with pytest.raises(Refused) as refused:
        write(store, FakeOpenSearch({}, {1: "bad"}))
    assert ": 400 TransportError" in str(refused.value) and "quotes" not in str(refused.value)


def test_run_documents_are_written_with_their_response_as_doc_values(tmp_path: Path) -> None:
    disk = DiskStore(tmp_path / "fold.sqlite")
    run = {"workflow_run_id": "wr_1", "run": '{"status":"failed"}', "state": {}}
    disk.write(INDEX, {"wr_1": (run, None)})
    client = Recording({})
    assert write(disk, client) == 1
    assert json.loads(client.bodies[0].splitlines()[1]) == {**run, "response": "eyJzdGF0dXMiOiJmYWlsZWQifQ=="}


class Recording(FakeOpenSearch):
    def __init__(self, failures: dict[str, list[int]]) -> None:
        super().__init__(failures)
        self.bodies: list[str] = []

    def bulk(self, body: str, **kwargs: Any) -> dict[str, Any]:
        self.bodies.append(body)
        return super().bulk(body, **kwargs)
