"""Records of rows many runs share (and task owners, API keys): versions, tombstones, repaired placeholders."""

from __future__ import annotations

from runsearch.indexer import document, records
from runsearch.indexer.decode import PLACEHOLDER
from runsearch.indexer.memory_store import MemoryStore
from runsearch.indexer.pipeline import Pipeline
from runsearch.mappings import Names
from tests.unit.indexer.events import change, tombstone


def test_records_take_tombstones_and_ignore_ones_for_rows_never_seen() -> None:
    token = {"id": "k", "organization_id": "o", "token_type": "api", "token": "secret", "valid": True}
    record = records.merge(None, change("organization_auth_tokens", token, 5, at=1))
    gone = tombstone("organization_auth_tokens", {"id": "k"}, at=2)
    deleted = records.merge(record, gone)
    assert deleted is not None and deleted["deleted"] and deleted["lsn"] == 5 and records.is_current(gone, deleted)
    assert records.merge(None, gone) is None and records.merge(deleted, gone) is None


def test_a_repaired_record_reaches_the_documents_that_embed_it() -> None:
    task = {"task_id": "t", "workflow_run_id": "wr_1", "errors": '[{"error_code": "E_OLD"}]'}
    partial = records.merge(None, change("tasks", {**task, "errors": PLACEHOLDER}, 20, op="u"))
    assert partial is not None and partial["codes"] == [] and partial["carried"] == {"errors": -1}
    doc = document.new_document("wr_1")
    assert document.embed_task(doc, "t", partial)
    repaired = records.merge(partial, change("tasks", task, 10))
    assert repaired is not None and repaired["codes"] == ["E_OLD"] and repaired["lsn"] == 20
    assert records.is_current(change("tasks", task, 10), repaired)
    assert document.embed_task(doc, "t", repaired) and not document.embed_task(doc, "t", repaired)
    assert document.finalize(doc)["error_codes"] == ["E_OLD"]


def test_a_record_whose_placeholder_has_no_value_held_is_counted_incomplete() -> None:
    pipeline = Pipeline(MemoryStore(), Names("p").generation(1))
    partial = change("workflow_parameters", {"workflow_parameter_id": "p1", "key": "k", "description": PLACEHOLDER}, 20, op="u")
    assert pipeline.apply([partial]).incomplete["workflow_parameters"] == 1
    complete = change("workflow_parameters", {"workflow_parameter_id": "p1", "key": "k", "description": "d"}, 30, op="u")
    outcome = pipeline.apply([complete])
    assert outcome.incomplete["workflow_parameters"] == 0 and outcome.applied["workflow_parameters"] == 1


def test_a_stale_task_event_still_teaches_which_run_it_belonged_to() -> None:
    task = {"task_id": "t", "workflow_run_id": "wr_1", "errors": "[]"}
    record = records.merge(None, change("tasks", task, 20))
    taught = records.merge(record, change("tasks", {**task, "workflow_run_id": "wr_0"}, 10))
    assert taught is not None and taught["run_ids"] == ["wr_0", "wr_1"] and taught["lsn"] == 20 and taught["run_id"] == "wr_1"
    assert records.merge(taught, change("tasks", task, 20)) is None  # nothing more to learn from a duplicate
