"""The topics consumed from their beginning, without a consumer group, through the merge code into a store, up to
a moving cut: what verification compares the index with (in memory, for a scope of runs), and what a rebuild
folds before it writes each document once (on disk, every run)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from kafka.consumer.fetcher import ConsumerRecord

from runsearch.indexer import collector, offsets, superseded
from runsearch.indexer.consumer import decode_batch
from runsearch.indexer.deadletter import Letter
from runsearch.indexer.incarnations import differ
from runsearch.indexer.offsets import Offsets
from runsearch.indexer.pipeline import Pipeline
from runsearch.indexer.ports import Store
from runsearch.indexer.split import WHOLE, Part
from runsearch.indexer.tables import TABLES, topics
from runsearch.indexer.topic_reader import ReadFailed, TopicReader
from runsearch.mappings import Generation
from runsearch.settings import Settings

Progress = Callable[[str, int, int], None]  # phase, done, total
POLL_RECORDS = 5_000
DRAWS_KEPT = 1 << 17  # run ids a scope remembers the draw of (a few MB), forgotten all at once when full


def stopping_when_orphaned(parent: int, what: str) -> Progress:
    """The progress of a replay in a process of its own: it stops that process once the one that started it is gone
    (a killed rebuild or verification leaves no reader behind)."""
    def alive(*_: object) -> None:
        if os.getppid() != parent:
            raise SystemExit(f"{what}: the process that started it is gone")

    return alive


@dataclass(frozen=True)
class Scope:
    """The runs a replay keeps: those named, and a share of every run drawn by a salted hash of its id. A share is
    drawn as the replay reads, with no pass over the topics of its own, and another salt draws other runs."""

    named: frozenset[str] = frozenset()
    share: float = 0.0
    salt: bytes = b""
    # A run's rows are met about ten times in a replay, close together (read in step): its draw is remembered, as
    # the keyed hash of every event took 13 % of a verification's time.
    drawn: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    def __contains__(self, rid: object) -> bool:
        if not isinstance(rid, str):
            return False
        if (known := self.drawn.get(rid)) is not None:
            return known
        if len(self.drawn) >= DRAWS_KEPT:
            self.drawn.clear()
        hashed = hashlib.blake2b(rid.encode(), key=self.salt, digest_size=8).digest()
        inside = self.drawn[rid] = rid in self.named or int.from_bytes(hashed) < self.share * 2**64
        return inside


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
    """With a scope, only the events of its runs (and of tasks that ever belonged to one) and the shared rows; with a
    part of a fold split by run, what that part folds (`indexer.split`). Changes are applied `batch` events at a time
    (the settings' `fold_batch` unless given): the larger, the more of a run's events meet in one merge."""

    def __init__(self, settings: Settings, store: Store, target: Generation, scope: Scope | None = None,
                 batch: int | None = None, dead: Callable[[list[Letter]], object] | None = None,
                 part: Part = WHOLE) -> None:
        """`dead` takes the dead letters of events that cannot be decoded; without it, they are the live indexer's
        to send, and the run rows a later event of a batch replaces are not decoded (`indexer.superseded`)."""
        self.settings, self.scope, self.batch, self.dead = settings, scope, batch or settings.fold_batch, dead
        self.part = part
        self.tables = topics(settings)
        self.pipeline = Pipeline(store, target, shared=False, owns=part.owns)  # the store is the replay's alone
        self.reader = TopicReader(settings, settings.batch_max_bytes)
        self.tasks: set[str] = set()  # tasks that belonged to a run in scope
        self.positions: Offsets = {}  # per partition: the next event to read (every one before it is read)
        self.incarnations: dict[str, str] = {}  # per topic read, its id when the replay began reading it

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *_: object) -> None:
        self.reader.close()

    def _keep(self, rec: ConsumerRecord) -> bool:
        table = self.tables[rec.topic]
        if self.part.of > 1 and not self.part.keeps(table, run_id(table, rec) if TABLES[table].runs == "own" else None):
            return False
        if self.scope is None or TABLES[table].runs == "fan-out":  # rows many runs embed: replayed whole
            return True
        if table == "tasks":
            task = task_id(rec)
            if run_id(table, rec) in self.scope and task is not None:
                self.tasks.add(task)
            return task in self.tasks
        return TABLES[table].runs is not None and run_id(table, rec) in self.scope

    def advance(self, cut: Offsets, progress: Progress, phase: str = "replaying the topics") -> int:
        """Apply every kept event below `cut`; returns how many events were read.

        The rows many runs embed (workflows, definitions) and API keys come first, whole: small tables, whose changes
        then meet the few runs merged so far instead of being fanned out to every run merged before them (the
        documents converge under any order of the partitions). The runs' own rows and tasks are then read in step:
        only the partitions within a window (about a quarter of a batch of events) of the one furthest behind, each
        by its share of what it holds below the cut. A run's rows sit at about the same share of each table's topic,
        so they meet in one or two batches and its document is merged once or twice; read as Kafka serves them (by
        bytes), the tasks ran up to five batches ahead of the runs and a run was merged in three batches on
        average."""
        parts = [tp for tp, end in cut.items() if end > 0]
        if new := sorted({tp.topic for tp in parts} - self.incarnations.keys()):
            self.incarnations |= offsets.topic_ids(self.settings, new)
        if unknown := [tp for tp in parts if tp not in self.positions]:
            self.positions.update(self.reader.beginning_offsets(unknown))
        start = {tp: self.positions[tp] for tp in parts}
        total, read = sum(max(cut[tp] - start[tp], 0) for tp in parts), 0
        step = max(self.batch // 4, 1)  # events read ahead of the partition furthest behind, at most
        window = step / max(total, 1)  # as a share of every partition
        # A poll takes up to max_records from one partition before the next: more would run it past the window.
        poll_records = min(max(step // max(len(parts), 1), 1), POLL_RECORDS)
        pending: list[ConsumerRecord] = []
        ends = {(tp.topic, tp.partition): end for tp, end in cut.items()}  # by plain tuple: no TopicPartition per record
        with collector.per_batch() as collect:
            while shares := {tp: (self.positions[tp] - start[tp]) / (cut[tp] - start[tp])
                             for tp in parts if self.positions[tp] < cut[tp]}:
                reading = {tp for tp in shares if not TABLES[self.tables[tp.topic]].per_run}
                if not reading:
                    furthest_behind = min(shares.values())
                    reading = {tp for tp, share in shares.items() if share <= furthest_behind + window}
                # A partition the reader stands elsewhere on (it fetched past the last cut) starts over there.
                self.reader.read_from({tp: self.positions[tp] for tp in reading})
                records = [r for r in self.reader.poll(poll_records) if r.offset < ends[r.topic, r.partition]]
                for tp in reading:
                    self.positions[tp] = min(self.reader.position(tp), cut[tp])
                read += len(records)
                pending += [r for r in records if self._keep(r)]
                if len(pending) >= self.batch:
                    self._apply(pending)
                    pending = []
                    collect()
                progress(phase, read, total)
            self._apply(pending)
        self._same_incarnations()
        return read

    def _same_incarnations(self) -> None:
        """A topic deleted and created again under a replay with more records than its positions is read on from them
        by librdkafka, without a word (tried: the new topic's first 20 records skipped): what was read would mix
        both. Its topic id tells."""
        now = offsets.topic_ids(self.settings, sorted(self.incarnations))
        if again := [topic for topic, then in self.incarnations.items() if differ(then, now[topic])]:
            raise ReadFailed(f"{', '.join(sorted(again))} was deleted and created again during the replay (its topic id "
                             "changed): what was read mixes both; run it again")

    def _apply(self, records: list[ConsumerRecord]) -> None:
        if not records:
            return
        if self.dead is None:  # nobody needs the dead letters of the events a later one replaces: left undecoded
            decoded = superseded.decoded(records, self.tables, self.settings)
        else:
            decoded = decode_batch(records, self.tables, self.settings)
        if self.dead is not None and (letters := [d for d in decoded.dead if self.part.sends(self.tables.get(d.origin[0]))]):
            self.dead(letters)
        self.pipeline.apply([change for _, change in decoded.changes])
