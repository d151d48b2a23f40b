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
from opensearchpy.serializer import JSONSerializer

from runsearch.indexer.disk_store import DiskStore
from runsearch.operations import Refused, fold
from runsearch.settings import Settings

INDEX = "runs-v2-write"


class FakeOpenSearch:
    """Answers each document's n-th create with the n-th status `failures` gives it, then 201."""

    def __init__(self, failures: dict[str, list[int]]) -> None:
        self.failures, self.attempts = failures, Counter[str]()
        self.transport = SimpleNamespace(serializer=JSONSerializer())
        self.indices = SimpleNamespace(put_settings=lambda **_: None, refresh=lambda **_: None)

    def bulk(self, body: str, **_: Any) -> dict[str, Any]:
        items = []
        for meta in body.splitlines()[::2]:
            doc_id = json.loads(meta)["create"]["_id"]
            self.attempts[doc_id] += 1
            planned = self.failures.get(doc_id, [])
            status = planned[self.attempts[doc_id] - 1] if self.attempts[doc_id] <= len(planned) else 201
            error = {"error": {"type": "some_exception", "reason": "quotes the doc"}} if status >= 300 else {}
            items.append({"create": {"_id": doc_id, "status": status, **error}})
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
