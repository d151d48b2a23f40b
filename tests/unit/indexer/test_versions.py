"""Which version of a row wins: lsn and deletes, tombstones and the partition positions that keep a replayed
tombstone from deleting a re-created row."""

from __future__ import annotations

import orjson

from runsearch.indexer import document
from runsearch.indexer.versions import held, supersedes
from tests.unit.indexer.events import RUN, change, tombstone


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


def test_a_delete_beats_a_live_state_of_its_own_lsn_and_repairs_rank_what_was_held() -> None:
    assert supersedes(change("workflow_runs", RUN, 10, op="d"), {"lsn": 10, "deleted": False})
    assert not supersedes(change("workflow_runs", RUN, 10), {"lsn": 10, "deleted": True})
    repaired, before = {"a": 3, "b": -1}, {"a": 1, "b": -1}
    assert held({"lsn": 5, "deleted": False, "carried": repaired}) > held({"lsn": 5, "deleted": False, "carried": before})
