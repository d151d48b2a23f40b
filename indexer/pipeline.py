"""Apply a batch of decoded changes to OpenSearch so that documents converge under any order.

The order of work makes concurrent indexers (one consumer group, several processes) safe:
1. records (workflows, definitions, task owners, API keys) are merged and written first;
2. run documents are read, merged, written with optimistic concurrency (`if_seq_no`), and re-read
   when they lose a race; after writing, the definitions and workflows they embed are read again,
   and any that changed meanwhile is embedded in another round;
3. a changed definition or workflow is then fanned out to every run that uses it, found by a
   search after a refresh. A run written in step 2 by another process either saw the new record
   in its re-read, or was written before this refresh and is found by the search.
Every step is idempotent, so a batch delivered again after a crash converges to the same documents.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from runsearch.indexer import document, records, unavailable
from runsearch.indexer.decode import Change
from runsearch.indexer.lookups import Lookups
from runsearch.indexer.ports import Store, Versioned
from runsearch.indexer.records import Record
from runsearch.indexer.tables import TABLES
from runsearch.mappings import Generation

log = logging.getLogger(__name__)

FAN_OUT_SLICE = 5_000
MEMORY_BUDGET = 32 * 1024 * 1024  # bytes of documents one step holds (each is held about three times over)
MAX_STEP_DOCUMENTS = 1_000  # the step of small documents: about one mget and one bulk request
FIRST_READ = 50  # documents the first request of a step reads, before their size is known


@dataclass
class Outcome:
    """Per table: how many changes were applied, how many were stale (already superseded), and how many were
    applied without a placeholder's value (none known yet: indexed without it until a complete event)."""

    applied: Counter[str] = field(default_factory=Counter)
    stale: Counter[str] = field(default_factory=Counter)
    incomplete: Counter[str] = field(default_factory=Counter)
    documents_written: int = 0
    fanned_out: int = 0  # runs re-embedded because a record they use changed

    def add(self, other: Outcome) -> None:
        self.applied.update(other.applied)
        self.stale.update(other.stale)
        self.incomplete.update(other.incomplete)
        self.documents_written += other.documents_written
        self.fanned_out += other.fanned_out

    def count(self, table: str, result: document.Applied) -> None:
        (self.stale if result == "stale" else self.applied)[table] += 1
        if result == "incomplete":
            self.incomplete[table] += 1


@dataclass
class Read:
    """The documents of one step: the ids asked for, and those found."""

    ids: list[str] = field(default_factory=list)
    found: dict[str, Versioned] = field(default_factory=dict)


@dataclass
class Work:
    """What a run document takes from one batch: changes of its own rows, and the latest records of its tasks."""

    changes: list[Change] = field(default_factory=list)
    tasks: dict[str, Record] = field(default_factory=dict)


def _no_progress(done: int, total: int) -> None:
    pass


def _every_run(_: str) -> bool:
    return True


@dataclass
class Pipeline:
    backend: Store
    target: Generation  # the generation written (through its write aliases)
    fan_out_slice: int = FAN_OUT_SLICE
    # Called after every slice of a fan-out with (runs done, runs in all): a long fan-out must not look stuck.
    progress: Callable[[int, int], None] = _no_progress
    memory_budget: int = MEMORY_BUDGET
    # Other processes may write the same indices (several indexers, a rebuild beside the live one): documents written
    # are checked for records changed meanwhile. A replay into a store of its own (a fold, verification) skips it.
    shared: bool = True
    # The runs this pipeline makes documents of: all, or one part's of a fold split by run (`indexer.split`).
    owns: Callable[[str], bool] = _every_run
    # The definitions and workflows read before: the writer keeps one per generation across batches.
    lookups: Lookups = field(default_factory=Lookups)
    _seen_bytes: float = field(default=0.0, init=False)  # per document, in the last read

    def apply(self, changes: list[Change]) -> Outcome:
        outcome = Outcome()
        final = self._merge_records([c for c in changes if TABLES[c.table].records], outcome)
        per_run: dict[str, Work] = defaultdict(Work)
        for change in changes:
            if TABLES[change.table].runs == "record":
                # Runs take the task's latest state, which may be newer than this change (a delete).
                record = final[records.record_id(change)]
                if record is None:
                    continue  # a tombstone of a task never seen: no run holds it
                for run_id in filter(self.owns, record["run_ids"]):
                    per_run[run_id].tasks[change.key[0]] = record
            elif TABLES[change.table].runs == "own" and self.owns(change.key[0]):
                per_run[change.key[0]].changes.append(change)
        self._update_documents(per_run, outcome)
        # Fanned out whenever the record is this change's state, also when delivered again after a crash.
        self._fan_out([c for c in changes if TABLES[c.table].runs == "fan-out"
                       and records.is_current(c, final[records.record_id(c)])], outcome)
        return outcome

    # --- records --------------------------------------------------------------------------

    def _merge_records(self, changes: list[Change], outcome: Outcome) -> dict[str, Record | None]:
        """Merge and write records; returns the record now stored for every id the changes touch."""
        final: dict[str, Record | None] = {}
        by_index: dict[str, list[Change]] = defaultdict(list)
        for change in changes:
            by_index[self.target.write_alias(TABLES[change.table].records or "")].append(change)
        for index, pending in by_index.items():
            while pending:
                current = self.backend.mget(index, {records.record_id(c) for c in pending})
                merged: dict[str, tuple[Record, Versioned | None]] = {}
                results: dict[int, document.Applied] = {}  # id() of each change -> what it did
                for change in pending:  # in partition order: a tombstone deletes what came before it
                    rid = records.record_id(change)
                    seen = current.get(rid)
                    base = merged[rid][0] if rid in merged else (seen.source if seen else None)
                    new = records.merge(base, change)
                    if new is None:
                        results[id(change)] = "stale"
                        final.setdefault(rid, base)
                        continue
                    merged[rid] = (new, seen)
                    unknown = new["lsn"] == change.lsn and unavailable.unknown(new.get("carried", {}))
                    results[id(change)] = "incomplete" if unknown else "applied"
                conflicts = self.backend.write(index, merged)
                self.lookups.forget(merged)
                for rid, (record, _) in merged.items():
                    if rid not in conflicts:
                        final[rid] = record
                for change in pending:
                    if records.record_id(change) not in conflicts:
                        outcome.count(change.table, results[id(change)])
                pending = [c for c in pending if records.record_id(c) in conflicts]
        return final

    # --- run documents --------------------------------------------------------------------

    def _update_documents(self, per_run: dict[str, Work], outcome: Outcome) -> None:
        """Merge work (possibly none: just refresh embedded records) into run documents, in steps that hold about
        `memory_budget` bytes of documents: many large documents never sit in memory at once."""
        queue = list(per_run)
        while queue:
            current = self._read_step(queue)
            step, queue = queue[:len(current.ids)], queue[len(current.ids):]
            self._update_step({rid: per_run[rid] for rid in step}, current.found, outcome)

    def _read_step(self, queue: list[str]) -> Read:
        """The documents of the next step: read in requests that ask for as many as the rest of `memory_budget` holds
        at the size the last request found (at first FIRST_READ at most), until the budget is read or
        MAX_STEP_DOCUMENTS ids are asked for. The step is the ids asked for, in order."""
        read = Read()
        budget = self.memory_budget
        size = min(FIRST_READ, max(1, int(budget / self._seen_bytes))) if self._seen_bytes else FIRST_READ
        while len(read.ids) < min(len(queue), MAX_STEP_DOCUMENTS) and budget > 0:
            chunk = queue[len(read.ids):len(read.ids) + min(size, MAX_STEP_DOCUMENTS - len(read.ids))]
            found = self.backend.mget(self.target.write_alias("runs"), chunk)
            used = sum(v.weight() for v in found.values())
            read.ids += chunk
            read.found.update(found)
            budget -= used
            self._seen_bytes = used / len(chunk)  # bytes per document asked for (absent ones weigh nothing)
            size = max(1, int(budget / max(self._seen_bytes, 1)))  # as many more as the budget holds at this size
        return read

    def _update_step(self, per_run: dict[str, Work], current: dict[str, Versioned], outcome: Outcome) -> None:
        runs = self.target.write_alias("runs")
        pending = dict(per_run)
        while pending:
            docs: dict[str, document.Document] = {}
            results: dict[str, list[tuple[str, document.Applied]]] = {}  # per run: (table, what each change did)
            for run_id, work in pending.items():
                seen = current.get(run_id)
                doc = orjson.loads(orjson.dumps(seen.source)) if seen else document.new_document(run_id)
                results[run_id] = [(change.table, document.apply(doc, change)) for change in work.changes]
                embedded = [document.embed_task(doc, task_id, record) for task_id, record in work.tasks.items()]
                applied = any(result != "stale" for _, result in results[run_id])
                if seen is not None or applied or any(embedded):  # stale work never creates one
                    docs[run_id] = doc
            self._embed(docs)
            to_write = {rid: (document.finalize(doc), current.get(rid)) for rid, doc in docs.items()}
            to_write = {rid: w for rid, w in to_write.items() if w[1] is None or w[0] != w[1].source}
            conflicts = self.backend.write(runs, to_write)
            outcome.documents_written += len(to_write) - len(conflicts)
            for run_id, done in results.items():
                if run_id not in conflicts:
                    for table, result in done:
                        outcome.count(table, result)
            # Lost races are merged again; won ones are re-checked for records that changed meanwhile.
            pending = {rid: pending[rid] for rid in conflicts}
            if self.shared:
                for rid in self._outdated({rid: doc for rid, doc in docs.items() if rid not in conflicts}):
                    pending.setdefault(rid, Work())
            current = self.backend.mget(runs, pending) if pending else {}

    def _embed(self, docs: dict[str, document.Document]) -> None:
        lookups = self.lookups.read(self.backend, self.target.write_alias("lookup"), _embedded(docs))
        for doc in docs.values():
            _embed_one(doc, lookups)

    def _outdated(self, docs: dict[str, document.Document]) -> set[str]:
        """Documents whose definitions or workflow changed since they were embedded (by another process, or
        after this one read them)."""
        if not docs:
            return set()
        lookups = self.lookups.checked(self.backend, self.target.write_alias("lookup"), _embedded(docs))
        return {rid for rid, doc in docs.items() if _embed_one(doc, lookups)}

    # --- fan-out --------------------------------------------------------------------------

    def _fan_out(self, changes: list[Change], outcome: Outcome) -> None:
        """Re-embed changed definitions and workflow titles into every run that uses them, slice by slice:
        memory stays bounded however many runs a workflow has, and `progress` is told after each slice."""
        if not changes:
            return
        terms: dict[str, set[str]] = defaultdict(set)
        for change in changes:
            terms[TABLES[change.table].fan_out_field or ""].add(change.key[0])
        query = {"bool": {"should": [{"terms": {f: sorted(v)}} for f, v in terms.items()], "minimum_should_match": 1}}
        total, run_ids = self.backend.matching(self.target.write_alias("runs"), query)
        if not total:
            return
        log.info("fan-out", extra={"fields": {"records": len(changes), "runs": total}})
        done = 0
        while chunk := list(itertools.islice(run_ids, self.fan_out_slice)):
            self._update_documents({rid: Work() for rid in chunk}, Outcome())
            done += len(chunk)
            outcome.fanned_out += len(chunk)
            self.progress(done, total)
            if total > self.fan_out_slice:
                log.info("fan-out progress", extra={"fields": {"runs_done": done, "runs": total}})


def _embedded(docs: dict[str, document.Document]) -> set[str]:
    """The ids of the records the documents embed (their definitions and workflows)."""
    wanted = {f"workflow_parameters:{pid}" for doc in docs.values() for pid in document.parameter_ids(doc)}
    return wanted | {f"workflows:{wid}" for doc in docs.values() if (wid := document.workflow_id(doc))}


def _embed_one(doc: document.Document, lookups: dict[str, Any]) -> bool:
    changed = False
    for pid in document.parameter_ids(doc):
        record = lookups.get(f"workflow_parameters:{pid}")
        if record is not None:
            changed |= document.embed_definition(doc, pid, record)
    wid = document.workflow_id(doc)
    if wid and (record := lookups.get(f"workflows:{wid}")) is not None:
        changed |= document.embed_workflow(doc, wid, record)
    return changed
