"""Property: random row histories, encoded as a Debezium connector sends them and delivered as Kafka delivers
them, in batches of any size, converge to exactly what the model computes from the final rows.

What Kafka guarantees, and nothing more: each partition is first delivered in order; any message can be
delivered again later (a restart replays from the committed offset, a connector re-sends), anywhere after
its first delivery; partitions interleave freely. On top of that, what a real connector sends: deletes seen
only as their tombstone (compacted away), placeholders for unchanged large values (REPLICA IDENTITY DEFAULT),
whole before images (FULL), both JSON-converter forms. Two writers of one index (a rebuild beside the live
indexer, or a partition moving between group members) reorder across partitions too: the second property.

The pipeline runs against an in-memory store with OpenSearch's versioning rules; the same convergence
against the real servers is in tests/integration/test_indexer.py and test_cdc.py.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.consumer.fetcher import ConsumerRecord

from runsearch.demo.dataset import History, final_rows
from runsearch.demo.events import Encoder
from runsearch.indexer import document
from runsearch.indexer.decode import Change, decode
from runsearch.indexer.memory_store import MemoryStore
from runsearch.indexer.pipeline import Pipeline
from runsearch.indexer.ports import Versioned, Writes
from runsearch.indexer.tables import TABLES
from runsearch.mappings import Names
from tests.model import assert_documents_match, expected
from tests.unit.indexer.events import RUN, change, record

RUNS, WORKFLOWS, PARAMS, TASKS = ["r0", "r1", "r2"], ["w0", "w1"], ["p0", "p1", "p2"], ["t0", "t1", "t2"]
TEXT = st.sampled_from(["Login", "login url", "ÉCOLE", "a\\b", "50%_x", "*", "", "prod"])
NULLABLE = st.one_of(st.none(), TEXT)
PARTITIONS = 3


def run_row(draw, rid: str) -> dict:
    return {"workflow_run_id": rid, "workflow_id": draw(st.sampled_from(WORKFLOWS)), "workflow_permanent_id": "wp",
            "organization_id": draw(st.sampled_from(["o1", "o2"])),
            "status": draw(st.sampled_from(["failed", "running", "a_status_added_later"])),
            "parent_workflow_run_id": draw(st.sampled_from([None, None, "r0"])),
            "copilot_session_id": draw(st.sampled_from([None, None, "cs"])),
            "extra_http_headers": draw(st.sampled_from([None, '{"X-A": "Login"}', '{"k": "a\\\\b"}'])),
            "failure_reason": draw(NULLABLE),
            "created_at": draw(st.sampled_from([0, 1, 3, 9223372036825200000, -9223372036832400000])), "modified_at": 0}


@st.composite
def histories(draw) -> History:
    h = History()
    for _ in range(draw(st.integers(1, 40))):
        table = draw(st.sampled_from(["workflow_runs", "workflows", "workflow_parameters", "workflow_run_parameters", "tasks"]))
        op = draw(st.sampled_from(["c", "c", "u", "u", "d"]))
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
            row = {"task_id": draw(st.sampled_from(TASKS)), "workflow_run_id": draw(st.sampled_from([*RUNS, None])),
                   "errors": json.dumps([{"error_code": c} for c in codes])}
        h.add(table, op, row)
    return h


def partitions(history: History, encoder: Encoder) -> dict[tuple[str, int], list[ConsumerRecord]]:
    """Every message of the history in the order of its topic partition (keys hashed to partitions), on a topic
    named as its table."""
    streams: dict[tuple[str, int], list[ConsumerRecord]] = {}
    for row in history.changes:
        key = ":".join(str(row.row[c]) for c in TABLES[row.table].key)
        partition = zlib.crc32(key.encode()) % PARTITIONS
        stream = streams.setdefault((row.table, partition), [])
        for k, v in encoder.messages(row):
            stream.append(record(row.table, k, v, partition, len(stream)))
    return streams


def interleaved(data: st.DataObject, streams: list[list[ConsumerRecord]]) -> list[ConsumerRecord]:
    """The streams merged in a random order that keeps each stream's own order."""
    tagged = [(data.draw(st.integers(0, 10**6), label="time"), i) for i, stream in enumerate(streams) for _ in stream]
    times: dict[int, list[int]] = {}
    for time, i in tagged:
        times.setdefault(i, []).append(time)
    merged = [(t, i, n) for i, ts in times.items() for n, t in enumerate(sorted(ts))]
    return [streams[i][n] for _, i, n in sorted(merged)]


def delivered_records(data: st.DataObject, history: History) -> list[ConsumerRecord]:
    deletes = [c.lsn for c in history.changes if c.op == "d"]
    compacted = data.draw(st.sets(st.sampled_from(deletes)) if deletes else st.just(set()), label="tombstone only")
    encoder = Encoder(schemas=data.draw(st.booleans(), label="schemas"),
                      identity=data.draw(st.sampled_from(["default", "full"]), label="identity"),
                      toast_bytes=data.draw(st.sampled_from([None, 0, 4]), label="toast bytes"),
                      tombstone_only=lambda c: c.lsn in compacted)
    order = interleaved(data, list(partitions(history, encoder).values()))
    # Redeliveries, each anywhere after its first delivery.
    for _ in range(data.draw(st.integers(0, len(order)), label="redeliveries")):
        first = data.draw(st.integers(0, len(order) - 1), label="redelivered")
        order.insert(data.draw(st.integers(first + 1, len(order)), label="at"), order[first])
    return order


def delivered(data: st.DataObject, history: History) -> list[Change]:
    """`delivered_records`, decoded."""
    return [decode(r.topic, r.key, r.value, position=(r.partition, r.offset)) for r in delivered_records(data, history)]


def converged(history: History, changes: list[Change], batch: int) -> None:
    store, target = MemoryStore(), Names("p").generation(1)
    pipeline = Pipeline(store, target)
    for start in range(0, len(changes), batch):
        pipeline.apply(changes[start:start + batch])
    docs = {rid: v.source for rid, v in store.indices.get(target.write_alias("runs"), {}).items()}
    assert_documents_match(docs, expected(final_rows(history.changes)))


@settings(max_examples=300, deadline=None)
@given(history=histories(), data=st.data())
def test_any_delivery_converges_to_the_model(history: History, data: st.DataObject) -> None:
    converged(history, delivered(data, history), data.draw(st.integers(1, 10), label="batch size"))


@settings(max_examples=200, deadline=None)
@given(history=histories(), data=st.data())
def test_two_writers_of_one_index_converge(history: History, data: st.DataObject) -> None:
    """A rebuild replaying from the start while the live indexer applies the newest events to the same index:
    the live writer's suffix lands first, then the rebuild's whole replay (updates with placeholders meet older
    states first, and are completed by the versions before them when those arrive)."""
    order = delivered(data, history)
    split = data.draw(st.integers(0, len(order)), label="live writer from")
    converged(history, order[split:] + order, data.draw(st.integers(1, 10), label="batch size"))


class CountingStore(MemoryStore):
    """Writes down the size of every read; can lose one race per document, to a writer that adds a change first."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[str, int]] = []  # (index, ids asked for)
        self.rival: dict[str, Any] = {}  # run id -> a change another writer applies just before our write

    def mget(self, index: str, ids: Any) -> dict[str, Versioned]:
        ids = list(ids)
        self.reads.append((index, len(ids)))
        return super().mget(index, ids)

    def write(self, index: str, docs: Writes) -> set[str]:
        for rid in [r for r in docs if r in self.rival]:
            change = self.rival.pop(rid)
            seen = super().mget(index, [rid]).get(rid)
            doc = orjson.loads(orjson.dumps(seen.source)) if seen else document.new_document(rid)
            document.apply(doc, change)
            super().write(index, {rid: (document.finalize(doc), seen)})
        return super().write(index, docs)


TARGET = Names("p").generation(1)


def runs_of_one_workflow(store: MemoryStore, n: int, header_bytes: int) -> Pipeline:
    pipeline = Pipeline(store, TARGET)
    pipeline.apply([change("workflows", {"workflow_id": "w", "title": "first"}, 1)] +
                   [change("workflow_runs", {**RUN, "workflow_run_id": f"wr_{i:03d}", "extra_http_headers":
                                             orjson.dumps({"X": "h" * header_bytes}).decode()}, 10 + i) for i in range(n)])
    return pipeline


def test_steps_read_about_the_memory_budget_of_documents_at_a_time() -> None:
    store = CountingStore()
    pipeline = runs_of_one_workflow(store, 120, 10_000)  # documents of about 30 KB
    store.reads.clear()
    pipeline.memory_budget = 200_000
    outcome = pipeline.apply([change("workflows", {"workflow_id": "w", "title": "renamed"}, 1_000, op="u")])
    run_reads = [n for index, n in store.reads if index == TARGET.write_alias("runs")]
    assert outcome.fanned_out == 120 and sum(run_reads) >= 120
    assert max(run_reads) <= 200_000 // 30_000 + 1  # sized by the documents the indexer read before


def test_a_fan_out_reports_its_progress_slice_by_slice() -> None:
    reports: list[tuple[int, int]] = []
    pipeline = runs_of_one_workflow(MemoryStore(), 12, 10)
    pipeline.fan_out_slice, pipeline.progress = 5, lambda done, total: reports.append((done, total))
    pipeline.apply([change("workflows", {"workflow_id": "w", "title": "renamed"}, 1_000, op="u")])
    assert reports == [(5, 12), (10, 12), (12, 12)]


def test_a_lost_race_is_merged_again_with_what_the_winner_wrote() -> None:
    store = CountingStore()
    pipeline = Pipeline(store, TARGET)
    pipeline.apply([change("workflow_runs", RUN, 10)])
    store.rival["wr_1"] = change("workflow_run_parameters", {"workflow_run_id": "wr_1", "workflow_parameter_id": "p",
                                                              "value": "the rival's"}, 11)
    pipeline.apply([change("workflow_runs", {**RUN, "status": "failed"}, 12, op="u")])
    doc = store.indices[TARGET.write_alias("runs")]["wr_1"].source
    assert doc["status"] == "failed" and "the rival's" in doc["search_text"]


@settings(max_examples=200, deadline=None)
@given(history=histories(), data=st.data())
def test_two_indexers_of_one_group_converge(history: History, data: st.DataObject) -> None:
    """Two processes, each with the definitions and workflows it read before (`Lookups`), apply the partitions
    each is assigned in turns: what one holds goes stale when the other changes a record, and the check after each
    write finds it."""
    encoder = Encoder(toast_bytes=data.draw(st.sampled_from([None, 0]), label="toast bytes"))
    streams = list(partitions(history, encoder).values())
    owners = [data.draw(st.integers(0, 1), label="member") for _ in streams]
    order = interleaved(data, streams)
    member_of = {id(rec): owner for stream, owner in zip(streams, owners, strict=True) for rec in stream}
    store, target = MemoryStore(), Names("p").generation(1)
    members = [Pipeline(store, target), Pipeline(store, target)]
    queues = [[decode(r.topic, r.key, r.value, position=(r.partition, r.offset)) for r in order if member_of[id(r)] == m]
              for m in (0, 1)]
    while queues[0] or queues[1]:
        m = data.draw(st.integers(0, 1), label="turn")
        size = data.draw(st.integers(1, 5), label="batch size")
        batch, queues[m] = queues[m][:size], queues[m][size:]
        members[m].apply(batch)
    docs = {rid: v.source for rid, v in store.indices.get(target.write_alias("runs"), {}).items()}
    assert_documents_match(docs, expected(final_rows(history.changes)))


def test_the_records_runs_embed_are_read_once_then_checked_by_version() -> None:
    store = CountingStore()
    pipeline = runs_of_one_workflow(store, 3, 10)
    store.reads.clear()
    pipeline.apply([change("workflow_runs", {**RUN, "workflow_run_id": f"wr_{i:03d}", "status": "failed"}, 100 + i,
                           op="u") for i in range(3)])
    assert [index for index, _ in store.reads] == [TARGET.write_alias("runs")]  # the workflow as held
    assert all(doc.source["status"] == "failed" for doc in store.indices[TARGET.write_alias("runs")].values())


def test_a_record_the_pipeline_changes_itself_is_embedded_as_changed_without_the_check() -> None:
    """A fold's pipeline (`shared=False`) never checks after writing: what it holds of a record it wrote must go."""
    store = MemoryStore()
    pipeline = runs_of_one_workflow(store, 2, 10)
    pipeline.shared = False
    pipeline.apply([change("workflows", {"workflow_id": "w", "title": "renamed"}, 1_000, op="u")])
    titles = {doc.source["state"]["workflow"]["title"] for doc in store.indices[TARGET.write_alias("runs")].values()}
    assert titles == {"renamed"}
