"""Property: random row histories, delivered in any interleaving with duplicates and replays, in batches
of any size, converge to exactly what the model computes from the final rows.

The pipeline runs against an in-memory store with OpenSearch's versioning rules; the same
convergence against the real servers is in test_indexer_integration.py.
"""

from __future__ import annotations

import json

from hypothesis import given, settings, strategies as st

from demo.dataset import History, final_rows
from demo.events import messages
from indexer.decode import decode
from indexer.pipeline import Pipeline
from mappings import Names
from indexer.memory_store import MemoryStore
from tests.model import assert_documents_match, expected

RUNS, WORKFLOWS, PARAMS, TASKS = ["r0", "r1", "r2"], ["w0", "w1"], ["p0", "p1", "p2"], ["t0", "t1", "t2"]
TEXT = st.sampled_from(["Login", "login url", "ÉCOLE", "a\\b", "50%_x", "*", "", "prod"])
NULLABLE = st.one_of(st.none(), TEXT)


def run_row(draw, rid: str) -> dict:
    return {"workflow_run_id": rid, "workflow_id": draw(st.sampled_from(WORKFLOWS)), "workflow_permanent_id": "wp",
            "organization_id": draw(st.sampled_from(["o1", "o2"])), "status": draw(st.sampled_from(["failed", "running"])),
            "parent_workflow_run_id": draw(st.sampled_from([None, None, "r0"])),
            "copilot_session_id": draw(st.sampled_from([None, None, "cs"])),
            "extra_http_headers": draw(st.sampled_from([None, '{"X-A": "Login"}', '{"k": "a\\\\b"}'])),
            "created_at": draw(st.integers(0, 3)), "modified_at": 0}


@st.composite
def histories(draw) -> History:
    h = History()
    for _ in range(draw(st.integers(1, 40))):
        table = draw(st.sampled_from(["workflow_runs", "workflows", "workflow_parameters", "workflow_run_parameters", "tasks"]))
        op = draw(st.sampled_from(["c", "c", "u", "d"]))
        if table == "workflow_runs":
            row = run_row(draw, draw(st.sampled_from(RUNS)))
        elif table == "workflows":
            row = {"workflow_id": draw(st.sampled_from(WORKFLOWS)), "title": draw(NULLABLE)}
        elif table == "workflow_parameters":
            row = {"workflow_parameter_id": draw(st.sampled_from(PARAMS)), "key": draw(TEXT), "description": draw(NULLABLE),
                   "deleted_at": draw(st.sampled_from([None, None, 5]))}  # soft deletes
        elif table == "workflow_run_parameters":
            row = {"workflow_run_id": draw(st.sampled_from(RUNS)), "workflow_parameter_id": draw(st.sampled_from(PARAMS)),
                   "value": draw(NULLABLE)}
        else:
            codes = draw(st.lists(st.sampled_from(["E1", "E2", "e1"]), max_size=2))
            row = {"task_id": draw(st.sampled_from(TASKS)), "workflow_run_id": draw(st.sampled_from(RUNS + [None])),
                   "errors": json.dumps([{"error_code": c} for c in codes])}
        h.add(table, op, row)
    return h


@settings(max_examples=300, deadline=None)
@given(history=histories(), data=st.data())
def test_any_delivery_converges_to_the_model(history: History, data: st.DataObject) -> None:
    delivered = list(history.changes)
    delivered += data.draw(st.lists(st.sampled_from(delivered), max_size=len(delivered)), label="redeliveries")
    delivered = data.draw(st.permutations(delivered), label="order")
    decoded = [decode(c.table, k, v) for c in delivered for k, v in messages(c, schemas=data.draw(st.booleans()))]
    changes = [c for c in decoded if c is not None]
    store, names = MemoryStore(), Names("p")
    pipeline = Pipeline(store, names)
    batch = data.draw(st.integers(1, 10), label="batch size")
    for start in range(0, len(changes), batch):
        pipeline.apply(changes[start:start + batch])
    docs = {rid: v.source for rid, v in store.indices.get(names.write_alias("runs"), {}).items()}
    assert_documents_match(docs, expected(final_rows(history.changes)))
