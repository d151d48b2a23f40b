"""A run document: its own rows merged, tasks and definitions embedded, the searched fields derived."""

from __future__ import annotations

import base64

import orjson

from runsearch.indexer import document, records
from runsearch.indexer.decode import PLACEHOLDER
from tests.unit.indexer.events import RUN, change


def test_a_placeholder_keeps_the_value_held_and_says_where_it_came_from() -> None:
    doc = document.new_document("wr_1")
    document.apply(doc, change("workflow_runs", RUN, 10))
    unchanged = change("workflow_runs", {**RUN, "extra_http_headers": PLACEHOLDER, "failure_reason": PLACEHOLDER,
                                         "status": "completed"}, 20, op="u")
    assert unchanged.unavailable == {"extra_http_headers", "failure_reason"}
    assert document.apply(doc, unchanged) == "applied"
    run = orjson.loads(doc["run"])
    assert (run["status"], run["extra_http_headers"], run["failure_reason"]) == ("completed", {"X-A": "a"}, "first")
    assert doc["state"]["headers_text"] == RUN["extra_http_headers"]
    assert doc["state"]["run"]["carried"] == {"extra_http_headers": 10, "failure_reason": 10}


def test_a_placeholder_with_nothing_held_is_unknown_until_an_older_or_newer_event_gives_it() -> None:
    doc = document.new_document("wr_1")
    partial = change("workflow_runs", {**RUN, "extra_http_headers": PLACEHOLDER, "status": "completed"}, 20, op="u")
    assert document.apply(doc, partial) == "incomplete"
    assert orjson.loads(doc["run"])["extra_http_headers"] is None
    assert doc["state"]["run"]["carried"] == {"extra_http_headers": -1}
    assert document.apply(doc, change("workflow_runs", RUN, 10)) == "applied"  # older: repairs, does not replace
    run = orjson.loads(doc["run"])
    assert (run["status"], run["extra_http_headers"]) == ("completed", {"X-A": "a"})
    assert doc["state"]["run"]["carried"] == {"extra_http_headers": 10} and doc["state"]["run"]["lsn"] == 20
    assert document.apply(doc, change("workflow_runs", RUN, 10)) == "stale"  # nothing more to give


def test_a_task_that_moves_leaves_a_tombstone_in_the_run_it_left() -> None:
    task = {"task_id": "t", "workflow_run_id": "wr_1", "errors": '[{"error_code": "E"}]'}
    first = records.merge(None, change("tasks", task, 10))
    doc = document.new_document("wr_1")
    document.embed_task(doc, "t", first)
    moved = records.merge(first, change("tasks", {**task, "workflow_run_id": "wr_2"}, 20, op="u"))
    assert moved is not None and moved["run_ids"] == ["wr_1", "wr_2"]
    assert document.embed_task(doc, "t", moved)
    assert document.finalize(doc)["error_codes"] == []


def test_the_searched_fields_come_from_live_rows_only() -> None:
    doc = document.new_document("wr_1")
    document.apply(doc, change("workflow_runs", {**RUN, "parent_workflow_run_id": None}, 1))
    for pid, value in (("p1", "kept value"), ("p2", "gone value")):
        document.apply(doc, change("workflow_run_parameters", {"workflow_run_id": "wr_1", "workflow_parameter_id": pid,
                                                                "value": value}, 2))
    document.apply(doc, change("workflow_run_parameters", {"workflow_run_id": "wr_1", "workflow_parameter_id": "p2"}, 3, op="d"))
    live_def = records.merge(None, change("workflow_parameters", {"workflow_parameter_id": "p1", "key": "Login",
                                                                  "description": "the url"}, 4))
    assert live_def is not None and document.embed_definition(doc, "p1", live_def)
    finalized = document.finalize(doc)
    assert finalized["param_ids"] == ["p1"] and finalized["listed"] and finalized["status"] == "running"
    assert sorted(finalized["search_text"]) == sorted(["wr_1", "Login", "the url", "kept value", RUN["extra_http_headers"]])
    soft_deleted = records.merge(live_def, change("workflow_parameters", {"workflow_parameter_id": "p1", "key": "Login",
                                                                          "description": "the url", "deleted_at": 9}, 5, op="u"))
    assert soft_deleted is not None and document.embed_definition(doc, "p1", soft_deleted)
    assert "Login" not in document.finalize(doc)["search_text"]
    assert orjson.loads(doc["run"])["workflow_title"] is None


def test_a_run_document_goes_to_opensearch_with_its_response_as_doc_values_and_nothing_else_does() -> None:
    doc = document.new_document("wr_1")
    document.apply(doc, change("workflow_runs", RUN, 10))
    sent = document.indexed(document.finalize(doc))
    assert base64.b64decode(sent["response"]).decode() == doc["run"]
    assert {k: v for k, v in sent.items() if k != "response"} == doc  # the merged document is left as it was
    record = {"table": "tasks", "lsn": 3, "deleted": False, "run_ids": ["wr_1"], "codes": []}
    unknown = document.new_document("wr_2")  # only tasks seen so far: no response yet
    assert document.indexed(record) is record and document.indexed(unknown) == unknown
    # Read back in real time, a document may hold the doc values it was written with: they follow `run` alone.
    assert document.indexed({**sent, "run": '{"a":1}'})["response"] == base64.b64encode(b'{"a":1}').decode()
    assert "response" not in document.indexed({**sent, "run": None})
