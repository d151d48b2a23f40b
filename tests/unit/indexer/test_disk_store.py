"""The fold's store on disk: OpenSearch's versioning rules, fan-out by index, and, the property that matters, the
pipeline over it makes exactly the documents of the event-by-event path (in memory, small batches) for any delivery
a connector and Kafka can make (`test_pipeline.delivered`), however large its batches."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runsearch.demo.dataset import History
from runsearch.indexer.decode import Change
from runsearch.indexer.disk_store import DiskStore, StoreFull
from runsearch.indexer.memory_store import MemoryStore
from runsearch.indexer.pipeline import Pipeline
from runsearch.indexer.ports import Store
from runsearch.mappings import KINDS, Names
from runsearch.operations.verification import SEARCHED
from tests.unit.indexer.test_pipeline import delivered, histories

TARGET = Names("f").generation(1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DiskStore]:
    opened = DiskStore(tmp_path / "fold.sqlite")
    yield opened
    opened.close()


def test_a_full_disk_is_one_line_naming_the_setting(store: DiskStore) -> None:
    """SQLite's page limit stands in for the disk: both end a write with SQLITE_FULL."""
    store.db.execute(f"PRAGMA max_page_count = {store.db.execute('PRAGMA page_count').fetchone()[0] + 4}")
    with pytest.raises(StoreFull, match=r"fold.sqlite filled its disk at [\d,]+ bytes: free space where RUNSEARCH_FOLD_DIR"):
        store.write("i", {f"r{i}": ({"blob": "x" * 4000}, None) for i in range(100)})  # 400 KB into 64 KiB


def test_a_write_names_the_version_it_replaces_or_loses(store: DiskStore) -> None:
    assert store.write("i", {"a": ({"n": 1}, None)}) == set()
    seen = store.mget("i", ["a", "b"])["a"]
    assert seen.source == {"n": 1} and store.write("i", {"a": ({"n": 0}, None)}) == {"a"}  # exists: lost
    assert store.write("i", {"a": ({"n": 2}, seen)}) == set()
    assert store.write("i", {"a": ({"n": 3}, seen)}) == {"a"}  # that version was replaced meanwhile
    assert store.mget("i", ["a"])["a"].source == {"n": 2} and store.mget("other", ["a"]) == {}


def test_runs_are_found_by_the_ids_they_hold_now(store: DiskStore) -> None:
    store.write("runs", {"r1": ({"param_ids": ["p1", "p2"], "workflow_id": "w1"}, None),
                         "r2": ({"param_ids": ["p2"], "workflow_id": "w2"}, None)})
    query = {"bool": {"should": [{"terms": {"param_ids": ["p2"]}}, {"terms": {"workflow_id": ["w1"]}}]}}
    total, ids = store.matching("runs", query)
    assert (total, list(ids)) == (2, ["r1", "r2"])
    seen = store.mget("runs", ["r1"])["r1"]
    store.write("runs", {"r1": ({"param_ids": ["p1"], "workflow_id": "w3"}, seen)})  # no longer holds p2 nor w1
    assert list(store.matching("runs", query)[1]) == ["r2"]


def test_documents_are_read_back_as_stored_json_in_id_order(store: DiskStore) -> None:
    store.write("i", {doc_id: ({"id": doc_id, "é": [1.5, None]}, None) for doc_id in ("c", "a", "b")})
    assert [(i, orjson.loads(s)) for i, s in store.documents("i")] == [(i, {"id": i, "é": [1.5, None]}) for i in "abc"]
    assert [i for i, _ in store.documents("i", ["c", "a", "zz"])] == ["a", "c"] and store.count("i") == 3


def _applied(store: Store, changes: list[Change], batch: int) -> Store:
    pipeline = Pipeline(store, TARGET)
    for start in range(0, len(changes), batch):
        pipeline.apply(changes[start:start + batch])
    return store


def _documents(store: Store, kind: str) -> dict[str, dict]:
    """Records whole; run documents as indexed and returned (their `state` keeps what batches happened to embed:
    a workflow embedded into a run that a later batch deletes stays there, one deleted in the same batch never is)."""
    ids = [i for i, _ in store.documents(TARGET.write_alias(kind))] if isinstance(store, DiskStore) else \
        list(store.indices.get(TARGET.write_alias(kind), {}))  # type: ignore[attr-defined]
    found = {i: v.source for i, v in store.mget(TARGET.write_alias(kind), ids).items()}
    return found if kind != "runs" else {i: {k: v for k, v in doc.items() if k in SEARCHED} for i, doc in found.items()}


@settings(max_examples=200, deadline=None)
@given(history=histories(), data=st.data())
def test_a_fold_makes_exactly_the_documents_of_the_event_by_event_path(history: History, data: st.DataObject) -> None:
    """Interleaved partitions, redeliveries, tombstone-only deletes and placeholders included (`delivered`); every
    index (runs, shared records, keys), every document, every field the API searches or returns."""
    order = delivered(data, history)
    event_by_event = _applied(MemoryStore(), order, data.draw(st.integers(1, 5), label="live batch"))
    with tempfile.TemporaryDirectory() as folder:
        disk = DiskStore(Path(folder) / "fold.sqlite")
        folded = _applied(disk, order, data.draw(st.integers(1, 200), label="fold batch"))
        for kind in KINDS:
            assert _documents(folded, kind) == _documents(event_by_event, kind), kind
        disk.close()
