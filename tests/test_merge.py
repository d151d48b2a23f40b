"""The merge rules, case by case (the convergence property covers them at random): versions, tombstones and
their positions, placeholders carried from what is held and repaired by older events, task and definition
records embedded in run documents."""

from __future__ import annotations

import orjson

from demo.dataset import RowChange
from demo.events import envelope
from indexer import document, records, rows
from indexer.decode import PLACEHOLDER, Change, decode
from indexer.versions import supersedes

RUN = {"workflow_run_id": "wr_1", "workflow_id": "w", "workflow_permanent_id": "wp", "organization_id": "o",
       "status": "running", "extra_http_headers": '{"X-A": "a"}', "failure_reason": "first", "created_at": 1,
       "modified_at": 1}


def change(table: str, row: dict, lsn: int, op: str = "c", at: int | None = None) -> Change:
    key = orjson.dumps({c: row[c] for c in rows.PRIMARY_KEYS[table]})
    return decode(table, key, orjson.dumps(envelope(RowChange(table, op, row, lsn))),
                  position=None if at is None else (0, at))


def tombstone(table: str, key: dict, at: int | None = None) -> Change:
    return decode(table, orjson.dumps(key), None, position=None if at is None else (0, at))


def test_a_tombstone_deletes_what_an_earlier_event_produced_at_its_version() -> None:
    created = change("workflow_runs", RUN, 10, at=1)
    slot = {"lsn": 10, "deleted": False, "at": [0, 1]}
    dead = tombstone("workflow_runs", {"workflow_run_id": "wr_1"}, at=2)
    assert supersedes(dead, slot) and not supersedes(dead, None) and not supersedes(dead, {**slot, "deleted": True})
    doc = document.new_document("wr_1")
    assert document.apply(doc, created) == "applied"
    assert document.apply(doc, dead) == "applied"
    assert doc["run"] is None and doc["state"]["run"] == {"lsn": 10, "deleted": True, "workflow_id": None, "at": [0, 2]}
    assert document.apply(doc, created) == "stale"  # the create it deleted, delivered again
    assert document.apply(doc, change("workflow_runs", {**RUN, "status": "completed"}, 30, at=3)) == "applied"  # re-created
    assert document.apply(doc, dead) == "stale"  # the tombstone again, after the re-create: it came before it
    assert orjson.loads(doc["run"])["status"] == "completed"


def test_a_tombstone_from_another_partition_or_without_position_deletes_the_newest_version() -> None:
    slot = {"lsn": 30, "deleted": False, "at": [1, 50]}
    assert supersedes(tombstone("workflow_runs", {"workflow_run_id": "wr_1"}, at=2), slot)  # repartitioned topic
    assert supersedes(tombstone("workflow_runs", {"workflow_run_id": "wr_1"}), slot)


def test_records_take_tombstones_and_ignore_ones_for_rows_never_seen() -> None:
    token = {"id": "k", "organization_id": "o", "token_type": "api", "token": "secret", "valid": True}
    record = records.merge(None, change("organization_auth_tokens", token, 5, at=1))
    gone = tombstone("organization_auth_tokens", {"id": "k"}, at=2)
    deleted = records.merge(record, gone)
    assert deleted is not None and deleted["deleted"] and deleted["lsn"] == 5 and records.is_current(gone, deleted)
    assert records.merge(None, gone) is None and records.merge(deleted, gone) is None


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


def test_the_newest_older_version_wins_a_repair() -> None:
    """Versions 10 (a), 15 (b) and 20 (placeholder) arrive 20, 15, 10: the value is b's, as in the source."""
    held = {"headers_text": None, "response": {"extra_http_headers": None}, "carried": {"extra_http_headers": -1}}
    for lsn, value in ((15, '{"b": "b"}'), (10, '{"a": "a"}')):
        data = change("workflow_runs", {**RUN, "extra_http_headers": value}, lsn).data
        held = rows.repair("workflow_runs", held, lsn, data, frozenset()) or held
    assert held["headers_text"] == '{"b": "b"}' and held["carried"] == {"extra_http_headers": 15}


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


def test_a_task_that_moves_leaves_a_tombstone_in_the_run_it_left() -> None:
    task = {"task_id": "t", "workflow_run_id": "wr_1", "errors": '[{"error_code": "E"}]'}
    first = records.merge(None, change("tasks", task, 10))
    doc = document.new_document("wr_1")
    document.embed_task(doc, "t", first)
    moved = records.merge(first, change("tasks", {**task, "workflow_run_id": "wr_2"}, 20, op="u"))
    assert moved is not None and moved["run_ids"] == ["wr_1", "wr_2"]
    assert document.embed_task(doc, "t", moved)
    assert document.finalize(doc)["error_codes"] == []


def test_a_record_whose_placeholder_has_no_value_held_is_counted_incomplete() -> None:
    from indexer.memory_store import MemoryStore
    from indexer.pipeline import Pipeline
    from mappings import Names

    pipeline = Pipeline(MemoryStore(), Names("p").generation(1))
    partial = change("workflow_parameters", {"workflow_parameter_id": "p1", "key": "k", "description": PLACEHOLDER}, 20, op="u")
    assert pipeline.apply([partial]).incomplete["workflow_parameters"] == 1
    complete = change("workflow_parameters", {"workflow_parameter_id": "p1", "key": "k", "description": "d"}, 30, op="u")
    outcome = pipeline.apply([complete])
    assert outcome.incomplete["workflow_parameters"] == 0 and outcome.applied["workflow_parameters"] == 1
