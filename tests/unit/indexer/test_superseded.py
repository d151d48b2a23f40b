"""A replay's batch without the run rows a later event replaces: which events are left undecoded, and, the property
that matters, the same documents as the batch decoded whole, for any delivery (`test_pipeline.delivered_records`)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.consumer.fetcher import ConsumerRecord

from runsearch.demo.dataset import History, RowChange
from runsearch.demo.events import PLACEHOLDER, envelope
from runsearch.indexer import superseded
from runsearch.indexer.consumer import decode_batch
from runsearch.indexer.memory_store import MemoryStore
from runsearch.indexer.pipeline import Pipeline
from runsearch.indexer.tables import TABLES
from runsearch.mappings import KINDS, Names
from runsearch.settings import Settings
from tests.unit.indexer.events import RUN, record
from tests.unit.indexer.test_pipeline import delivered_records, histories

SETTINGS = Settings()
TABLE_OF = {table: table for table in TABLES}  # topics are named as their tables here
TARGET = Names("s").generation(1)


def message(table: str, row: dict[str, Any] | None, lsn: int, op: str = "u", key: dict[str, Any] | None = None
            ) -> ConsumerRecord:
    """A record of `row` (None: the tombstone of `key`)."""
    key_bytes = orjson.dumps(key or {c: row[c] for c in TABLES[table].key})  # type: ignore[index]
    return record(table, key_bytes, None if row is None else orjson.dumps(envelope(RowChange(table, op, row, lsn))))


def lsns(records: list[ConsumerRecord]) -> list[int | None]:
    """The lsn of every change decoded from the batch (None: a tombstone)."""
    return [change.lsn or None for _, change in superseded.decoded(records, TABLE_OF, SETTINGS).changes]


def test_a_run_row_changed_several_times_is_decoded_once() -> None:
    other = {**RUN, "workflow_run_id": "wr_2"}
    batch = [message("workflow_runs", RUN, 1, "c"), message("workflow_runs", other, 2, "c"),
             message("workflow_runs", {**RUN, "status": "queued"}, 3), message("workflow_runs", other, 4),
             message("workflow_runs", {**RUN, "status": "completed"}, 5)]
    assert lsns(batch) == [4, 5]
    param = {"workflow_run_id": "wr_1", "workflow_parameter_id": "p", "value": "v"}
    assert lsns([message("workflow_run_parameters", param, 1, "c"),
                 message("workflow_run_parameters", {**param, "value": "w"}, 2)]) == [2]


@pytest.mark.parametrize("last", [
    {**RUN, "failure_reason": PLACEHOLDER},  # a value it does not send: the earlier ones may hold it
    {**RUN, "created_at": "not a number"},  # invalid: the earlier ones stand
    {**RUN, "extra_http_headers": "[not json"},  # valid columns, but no response can be rendered
], ids=["placeholder", "invalid row", "unrenderable"])
def test_a_last_change_that_does_not_replace_them_keeps_every_earlier_one(last: dict[str, Any]) -> None:
    batch = [message("workflow_runs", RUN, 1, "c"), message("workflow_runs", {**RUN, "status": "queued"}, 2),
             message("workflow_runs", last, 3)]
    assert lsns(batch) == ([1, 2, 3] if last["failure_reason"] == PLACEHOLDER else [1, 2])


def test_deletes_older_versions_and_tasks_are_never_left_out() -> None:
    gone = message("workflow_runs", None, 0, key={"workflow_run_id": "wr_1"})
    assert lsns([message("workflow_runs", RUN, 1, "c"), gone, message("workflow_runs", RUN, 3)]) == [1, None, 3]
    delete = message("workflow_runs", {"workflow_run_id": "wr_1"}, 2, "d")
    assert lsns([message("workflow_runs", RUN, 1, "c"), delete, message("workflow_runs", RUN, 3)]) == [1, 2, 3]
    # Redelivered, or older than one before it: the last does not win over every earlier one.
    assert lsns([message("workflow_runs", RUN, 3), message("workflow_runs", RUN, 3)]) == [3, 3]
    assert lsns([message("workflow_runs", RUN, 5), message("workflow_runs", RUN, 6),
                 message("workflow_runs", RUN, 4)]) == [5, 6, 4]
    # A task's older change still names a run it belonged to.
    task = {"task_id": "t", "workflow_run_id": "wr_1", "errors": "[]"}
    assert lsns([message("tasks", task, 1, "c"), message("tasks", {**task, "workflow_run_id": "wr_2"}, 2)]) == [1, 2]


def _documents(records: list[ConsumerRecord], batch: int, skipping: bool) -> dict[str, dict[str, Any]]:
    store = MemoryStore()
    pipeline = Pipeline(store, TARGET, shared=False)
    for start in range(0, len(records), batch):
        chunk = records[start:start + batch]
        decoded = superseded.decoded(chunk, TABLE_OF, SETTINGS) if skipping else decode_batch(chunk, TABLE_OF, SETTINGS)
        pipeline.apply([change for _, change in decoded.changes])
    return {kind: {i: v.source for i, v in store.indices.get(TARGET.write_alias(kind), {}).items()} for kind in KINDS}


@settings(max_examples=300, deadline=None)
@given(history=histories(), data=st.data())
def test_the_documents_are_those_of_the_whole_batch_decoded(history: History, data: st.DataObject) -> None:
    """Interleaved partitions, redeliveries, tombstone-only deletes and placeholders included: every document of
    every index, whole (the versions each row left in it too)."""
    records = delivered_records(data, history)
    batch = data.draw(st.one_of(st.just(len(records) or 1), st.integers(1, 60)), label="batch")
    assert _documents(records, batch, skipping=True) == _documents(records, batch, skipping=False)
