"""A fold split by run over processes: which part folds, sends and writes what, and, the property that matters, the
parts' documents together are exactly those of one fold, for any delivery a connector and Kafka can make."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from runsearch.demo.dataset import History
from runsearch.indexer.memory_store import MemoryStore
from runsearch.indexer.pipeline import Pipeline
from runsearch.indexer.split import WHOLE, Part
from runsearch.indexer.tables import TABLES
from runsearch.mappings import KINDS
from tests.unit.indexer.test_disk_store import TARGET, _documents
from tests.unit.indexer.test_pipeline import delivered, histories


def test_a_runs_own_rows_go_to_its_owner_and_everything_else_to_every_part() -> None:
    parts = [Part(i, 3) for i in range(3)]
    runs = [f"wr_{n}" for n in range(300)]
    owners = {run: [p.index for p in parts if p.owns(run)] for run in runs}
    assert all(len(found) == 1 for found in owners.values())  # exactly one owner each
    assert {found[0] for found in owners.values()} == {0, 1, 2}  # and every part owns some
    for table in ("workflow_runs", "workflow_run_parameters"):
        assert [p.index for p in parts if p.keeps(table, "wr_7")] == owners["wr_7"]
        assert [p.index for p in parts if p.keeps(table, None)] == [0]  # names no run: part 0 dead-letters it
    for table in ("workflows", "workflow_parameters", "tasks", "organization_auth_tokens"):
        assert all(p.keeps(table, None) and p.keeps(table, "wr_7") for p in parts)
    assert [p.index for p in parts if p.sends("tasks")] == [0] == [p.index for p in parts if p.sends(None)]
    assert all(p.sends("workflow_runs") for p in parts)  # only its owner ever holds such an event
    assert [p.index for p in parts if p.writes("lookup")] == [0] and all(p.writes("runs") for p in parts)
    assert WHOLE.owns("wr_7") and WHOLE.keeps("workflow_runs", None) and WHOLE.sends("tasks") and WHOLE.writes("keys")


@settings(max_examples=200, deadline=None)
@given(history=histories(), data=st.data())
def test_a_fold_split_by_run_makes_exactly_the_documents_of_one_fold(history: History, data: st.DataObject) -> None:
    """Each part gets the events `Part.keeps` gives it (in the delivered order) and folds them into a store of its
    own: the runs of all parts with part 0's shared records are one fold's documents, and every part holds the
    same shared records (so part 0 alone may write them)."""
    order = delivered(data, history)
    batch = data.draw(st.integers(1, 200), label="fold batch")
    count = data.draw(st.integers(2, 3), label="parts")
    parts = [Part(i, count) for i in range(count)]

    def folded(part: Part) -> MemoryStore:
        mine = [c for c in order if part.keeps(c.table, c.key[0] if TABLES[c.table].runs == "own" else None)]
        store = MemoryStore()
        pipeline = Pipeline(store, TARGET, shared=False, owns=part.owns)
        for start in range(0, len(mine), batch):
            pipeline.apply(mine[start:start + batch])
        return store

    whole, split = folded(WHOLE), [folded(part) for part in parts]
    runs: dict[str, dict] = {}
    for store in split:
        mine = _documents(store, "runs")
        assert not runs.keys() & mine.keys()  # no run made by two parts
        runs |= mine
    assert runs == _documents(whole, "runs")
    for kind in (k for k in KINDS if k != "runs"):
        assert all(_documents(store, kind) == _documents(whole, kind) for store in split), kind
