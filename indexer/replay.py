"""The topics consumed from their beginning, without a consumer group, through the merge code into a store, up to
a moving cut: what verification compares the index with (in memory, for a scope of runs), and what a rebuild
folds before it writes each document once (on disk, every run)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord

from runsearch import clients
from runsearch.indexer.consumer import decode_batch
from runsearch.indexer.deadletter import Letter
from runsearch.indexer.offsets import Offsets
from runsearch.indexer.pipeline import Pipeline
from runsearch.indexer.ports import Store
from runsearch.indexer.tables import TABLES, topics
from runsearch.mappings import Generation
from runsearch.settings import Settings

Progress = Callable[[str, int, int], None]  # phase, done, total
POLL_RECORDS = 5_000


def _payload(data: bytes | None) -> Any:
    """A message's key or value without Debezium's schema envelope, or None when it is not JSON."""
    try:
        document = orjson.loads(data) if data is not None else None
    except orjson.JSONDecodeError:
        return None
    return document.get("payload", document) if isinstance(document, dict) and "schema" in document else document


def run_id(table: str, rec: ConsumerRecord) -> str | None:
    """The run a message is about, from its key (and, for a task, its value), without decoding the event."""
    key = _payload(rec.key)
    if table in ("workflow_runs", "workflow_run_parameters") and isinstance(key, dict):
        return key.get("workflow_run_id")
    if table == "tasks":
        value = _payload(rec.value)
        after = value.get("after") if isinstance(value, dict) else None
        return after.get("workflow_run_id") if isinstance(after, dict) else None
    return None


def task_id(rec: ConsumerRecord) -> str | None:
    key = _payload(rec.key)
    return key.get("task_id") if isinstance(key, dict) else None


class Replay:
    """With a scope, only the events of its runs (and of tasks that ever belonged to one) and the shared rows.
    Changes are applied `batch` events at a time: the larger, the more of a run's events meet in one merge."""

    def __init__(self, settings: Settings, store: Store, target: Generation, scope: set[str] | None = None,
                 batch: int = POLL_RECORDS, dead: Callable[[list[Letter]], object] | None = None) -> None:
        """`dead` takes the dead letters of events that cannot be decoded; without it, they are the live indexer's
        to send."""
        self.settings, self.scope, self.batch, self.dead = settings, scope, batch, dead
        self.tables = topics(settings)
        self.pipeline = Pipeline(store, target, shared=False)  # the store is the replay's alone
        self.consumer = KafkaConsumer(**clients.kafka(settings), enable_auto_commit=False,
                                      fetch_max_bytes=settings.batch_max_bytes)
        self.tasks: set[str] = set()  # tasks that belonged to a run in scope
        self.started = False

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *_: object) -> None:
        self.consumer.close()

    def _keep(self, rec: ConsumerRecord) -> bool:
        table = self.tables[rec.topic]
        if self.scope is None or TABLES[table].runs == "fan-out":  # rows many runs embed: replayed whole
            return True
        if table == "tasks":
            task = task_id(rec)
            if run_id(table, rec) in self.scope and task is not None:
                self.tasks.add(task)
            return task in self.tasks
        return TABLES[table].runs is not None and run_id(table, rec) in self.scope

    def advance(self, cut: Offsets, progress: Progress, phase: str = "replaying the topics") -> int:
        """Apply every kept event below `cut`; returns how many events were read."""
        parts = [tp for tp, end in cut.items() if end > 0]
        if not self.started:
            self.consumer.assign(parts)
            self.consumer.seek_to_beginning()
            self.started = True
        start = {tp: self.consumer.position(tp) for tp in parts}
        total, read = sum(max(cut[tp] - start[tp], 0) for tp in parts), 0
        pending: list[ConsumerRecord] = []
        while any(self.consumer.position(tp) < cut[tp] for tp in parts):
            polled = self.consumer.poll(timeout_ms=500, max_records=POLL_RECORDS)
            records = [r for tp, batch in polled.items() for r in batch if r.offset < cut[tp]]
            read += len(records)
            pending += [r for r in records if self._keep(r)]
            if len(pending) >= self.batch:
                self._apply(pending)
                pending = []
            progress(phase, read, total)
        self._apply(pending)
        return read

    def _apply(self, records: list[ConsumerRecord]) -> None:
        if not records:
            return
        decoded = decode_batch(records, self.tables, self.settings)
        if self.dead is not None and decoded.dead:
            self.dead(decoded.dead)
        self.pipeline.apply([change for _, change in decoded.changes])
