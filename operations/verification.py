"""Compare a generation's run documents with what the topics say they must be, in bounded memory.

The topics are replayed up to a cut (offsets below which every change is applied to the index) through the
same merge code, into memory (`MemoryStore`). With a sample of N, only N runs picked from the topics (a
reservoir sample over the runs topic) and N picked from the index (at random) are replayed, with the rows
many runs share: memory in proportion to N, not to the dataset. Without a sample, every run is.

The live indexer keeps writing while this runs, so a document can be newer than the replay: a run whose
document holds a newer version of any of its rows than the replay is not a difference but has moved on.
The replay then continues to where the live indexer has committed since, and those runs are compared
again, for up to three rounds; runs still moving are reported as such, not as differences.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord
from opensearchpy import OpenSearch, helpers

from runsearch import clients
from runsearch.indexer.consumer import decode_batch
from runsearch.indexer.memory_store import MemoryStore
from runsearch.indexer.offsets import Offsets, committed_offsets
from runsearch.indexer.pipeline import Pipeline
from runsearch.indexer.tables import TABLES, topics
from runsearch.indexer.versions import held
from runsearch.mappings import Names
from runsearch.settings import Settings

SEARCHED = ("workflow_run_id", "organization_id", "workflow_id", "status", "listed", "created_at_us", "param_ids",
            "error_codes", "search_text", "run")
ROUNDS = 3
COMPARE_CHUNK = 200
Progress = Callable[[str, int, int], None]  # phase, done, total


@dataclass
class Report:
    compared: int = 0
    differences: list[str] = field(default_factory=list)
    moved_on: list[str] = field(default_factory=list)  # still changing after every round: not compared
    replayed: int = 0  # events
    documents: int = 0  # run documents the replay built in memory (what its memory grows with)


def verify(settings: Settings, os: OpenSearch, index: str, cut: Offsets, sample: int | None,
           progress: Progress) -> Report:
    """Every difference between the run documents of `index` and the topics replayed up to `cut`, each naming its
    run id; with `sample`, for that many runs from the topics and as many from the index."""
    scope = None
    if sample is not None:
        scope = _sample_topics(settings, cut, sample, progress) | _sample_index(os, index, sample)
    report = Report()
    with Replay(settings, scope) as replay:
        report.replayed += replay.advance(cut, progress)
        ids = sorted(scope if scope is not None else set(replay.documents()) | set(_index_ids(os, index)))
        for round_ in range(ROUNDS):
            differences, moved = _compare(os, index, ids, replay.documents(), progress)
            report.compared += len(ids) - len(moved)
            report.differences += differences
            ids = moved
            if not ids or round_ == ROUNDS - 1:
                break
            # Where the live indexer stands now: every change below is in the index, too.
            cut = {tp: max(end, cut.get(tp, 0)) for tp, end in committed_offsets(settings, settings.consumer_group).items()}
            report.replayed += replay.advance(cut, progress)
        report.moved_on = ids
        report.documents = len(replay.documents())
    return report


def _run_id(table: str, rec: ConsumerRecord) -> str | None:
    """The run a message is about, from its key (and, for a task, its value), without decoding the event."""
    try:
        key = orjson.loads(rec.key) if rec.key is not None else None
        key = key.get("payload", key) if isinstance(key, dict) and "schema" in key else key
        if table in ("workflow_runs", "workflow_run_parameters") and isinstance(key, dict):
            return key.get("workflow_run_id")
        if table == "tasks" and rec.value is not None:
            value = orjson.loads(rec.value)
            value = value.get("payload", value) if isinstance(value, dict) and "schema" in value else value
            after = value.get("after") if isinstance(value, dict) else None
            return after.get("workflow_run_id") if isinstance(after, dict) else None
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return None


class Replay:
    """The topics consumed from their beginning into memory, through the merge code, up to a moving cut; with a
    scope, only the events of its runs (and of tasks that ever belonged to one) and the shared rows."""

    def __init__(self, settings: Settings, scope: set[str] | None) -> None:
        self.settings, self.scope = settings, scope
        self.tables = topics(settings)
        self.memory = MemoryStore()
        self.target = Names("verify").generation(0)
        self.pipeline = Pipeline(self.memory, self.target)
        self.consumer = KafkaConsumer(**clients.kafka(settings), enable_auto_commit=False)
        self.tasks: set[str] = set()  # tasks that belonged to a run in scope
        self.started = False

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *_: object) -> None:
        self.consumer.close()

    def _keep(self, rec: ConsumerRecord) -> bool:
        table = self.tables[rec.topic]
        if self.scope is None or TABLES[table].runs == "fan-out":  # rows many runs embed: replayed whole
            return TABLES[table].runs is not None
        if table == "tasks":
            task = _task_id(rec)
            if _run_id(table, rec) in self.scope and task is not None:
                self.tasks.add(task)
            return task in self.tasks
        return TABLES[table].runs is not None and _run_id(table, rec) in self.scope

    def advance(self, cut: Offsets, progress: Progress) -> int:
        """Apply every kept event below `cut`; returns how many events were read."""
        parts = [tp for tp, end in cut.items() if end > 0]
        if not self.started:
            self.consumer.assign(parts)
            self.consumer.seek_to_beginning()
            self.started = True
        start = {tp: self.consumer.position(tp) for tp in parts}
        total, read = sum(max(cut[tp] - start[tp], 0) for tp in parts), 0
        while any(self.consumer.position(tp) < cut[tp] for tp in parts):
            polled = self.consumer.poll(timeout_ms=500, max_records=5000)
            records = [r for tp, batch in polled.items() for r in batch if r.offset < cut[tp]]
            read += len(records)
            kept = [r for r in records if self._keep(r)]
            self.pipeline.apply([change for _, change in decode_batch(kept, self.tables, self.settings).changes])
            progress("replaying the topics", read, total)
        return read

    def documents(self) -> dict[str, dict[str, Any]]:
        return {rid: v.source for rid, v in self.memory.indices.get(self.target.write_alias("runs"), {}).items()}


def _task_id(rec: ConsumerRecord) -> str | None:
    try:
        key = orjson.loads(rec.key) if rec.key is not None else None
    except orjson.JSONDecodeError:
        return None
    key = key.get("payload", key) if isinstance(key, dict) and "schema" in key else key
    return key.get("task_id") if isinstance(key, dict) else None


def _sample_topics(settings: Settings, cut: Offsets, n: int, progress: Progress) -> set[str]:
    """`n` run ids drawn uniformly from the runs topic below `cut` (reservoir sampling: memory for `n` only)."""
    topic = settings.topic("workflow_runs")
    parts = [tp for tp, end in cut.items() if tp.topic == topic and end > 0]
    rng, reservoir, seen = random.Random(), list[str](), 0
    consumer = KafkaConsumer(**clients.kafka(settings), enable_auto_commit=False)
    try:
        consumer.assign(parts)
        consumer.seek_to_beginning()
        total = sum(cut[tp] for tp in parts)
        while any(consumer.position(tp) < cut[tp] for tp in parts):
            for tp, batch in consumer.poll(timeout_ms=500, max_records=5000).items():
                for rec in batch:
                    if rec.offset >= cut[tp] or (rid := _run_id("workflow_runs", rec)) is None:
                        continue
                    seen += 1
                    if len(reservoir) < n:
                        reservoir.append(rid)
                    elif (slot := rng.randrange(seen)) < n:
                        reservoir[slot] = rid
            progress("sampling runs from the topics", sum(consumer.position(tp) for tp in parts), total)
    finally:
        consumer.close()
    return set(reservoir)


def _sample_index(os: OpenSearch, index: str, n: int) -> set[str]:
    """`n` document ids drawn at random from the index (every one when it holds fewer)."""
    os.indices.refresh(index=index)
    found = os.search(index=index, body={"size": n, "_source": False, "query": {
        "function_score": {"query": {"match_all": {}}, "random_score": {"seed": int(time.time()), "field": "_seq_no"}}}})
    return {hit["_id"] for hit in found["hits"]["hits"]}


def _index_ids(os: OpenSearch, index: str) -> Iterator[str]:
    os.indices.refresh(index=index)
    for hit in helpers.scan(os, index=index, query={"query": {"match_all": {}}, "_source": False}):
        yield hit["_id"]


def _compare(os: OpenSearch, index: str, ids: list[str], expected: dict[str, dict[str, Any]],
             progress: Progress) -> tuple[list[str], list[str]]:
    """The differences, and the runs whose documents moved on past the replay."""
    problems, moved = [], []
    for start in range(0, len(ids), COMPARE_CHUNK):
        chunk = ids[start:start + COMPARE_CHUNK]
        docs = os.mget(index=index, body={"ids": chunk}, params={"realtime": "true"})["docs"]
        actual = {d["_id"]: d["_source"] for d in docs if d.get("found")}
        for rid in chunk:
            got, want = actual.get(rid), expected.get(rid)
            if got is None and want is None:
                continue
            if got is not None and _ahead(got, want):
                moved.append(rid)
            elif got is None:
                if want is not None and want.get("listed"):
                    problems.append(f"{rid}: missing from the index")
            elif want is None:
                if got.get("listed"):
                    problems.append(f"{rid}: in the index, not in the topics")
            elif wrong := sorted(k for k in SEARCHED if got.get(k) != want.get(k)):
                problems.append(f"{rid}: differs in {', '.join(wrong)}")
        progress("comparing", min(start + COMPARE_CHUNK, len(ids)), len(ids))
    return problems, moved


def _ahead(got: dict[str, Any], want: dict[str, Any] | None) -> bool:
    """Whether the index holds a newer version of any row of the run than the replay does."""
    state, replayed = got.get("state") or {}, (want or {}).get("state") or {}
    pairs = [(state.get("run"), replayed.get("run"))]
    for group in ("params", "tasks", "defs"):
        pairs += [(slot, (replayed.get(group) or {}).get(name)) for name, slot in (state.get(group) or {}).items()]
    workflow, replayed_workflow = state.get("workflow"), replayed.get("workflow")
    if workflow and replayed_workflow and workflow.get("id") == replayed_workflow.get("id"):
        pairs.append((workflow, replayed_workflow))
    return any(slot is not None and (other is None or held(slot) > held(other)) for slot, other in pairs)
