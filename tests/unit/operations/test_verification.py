"""Verification's comparisons: a run differs, is missing, is extra, or has moved on past the replay (the live
indexer wrote a newer version of one of its rows). Against real servers: tests/integration/test_generations.py."""

from __future__ import annotations

from typing import Any

from runsearch.indexer import document
from runsearch.operations.verification import _ahead, _compare
from tests.unit.indexer.events import RUN, change


class FakeSearch:
    def __init__(self, docs: dict[str, dict[str, Any]]) -> None:
        self.docs = docs

    def mget(self, index: str, body: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        return {"docs": [{"_id": i, "found": i in self.docs, "_source": self.docs.get(i)} for i in body["ids"]]}


def built(*changes: Any) -> dict[str, Any]:
    doc = document.new_document("wr_1")
    for c in changes:
        document.apply(doc, c)
    return document.finalize(doc)


def test_a_document_holding_a_newer_row_version_has_moved_on() -> None:
    replayed = built(change("workflow_runs", RUN, 10))
    newer = built(change("workflow_runs", {**RUN, "status": "failed"}, 20))
    assert _ahead(newer, replayed) and not _ahead(replayed, newer) and not _ahead(replayed, replayed)
    assert _ahead(replayed, None)  # a run no replayed event knows: created after the cut
    assert not _ahead({"workflow_run_id": "wr_bogus", "listed": True}, None)  # no versions: made up


def test_compare_tells_differences_from_runs_that_moved_on() -> None:
    replayed = {"wr_1": built(change("workflow_runs", RUN, 10)),
                "wr_2": {**built(change("workflow_runs", RUN, 10)), "workflow_run_id": "wr_2"}}
    index = {"wr_1": {**replayed["wr_1"], "status": "exploded"},  # same versions, other content: a difference
             "wr_2": built(change("workflow_runs", {**RUN, "status": "failed"}, 20)),  # moved on
             "wr_3": {"workflow_run_id": "wr_3", "listed": True}}  # no topic holds it
    problems, moved = _compare(FakeSearch(index), "runs", ["wr_1", "wr_2", "wr_3", "wr_4"],  # type: ignore[arg-type]
                               {**replayed, "wr_4": replayed["wr_1"]}, lambda *_: None)
    assert problems == ["wr_1: differs in status", "wr_3: in the index, not in the topics", "wr_4: missing from the index"]
    assert moved == ["wr_2"]
