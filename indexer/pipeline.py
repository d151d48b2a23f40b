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

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson

from indexer import document, records, store
from indexer.decode import Change
from indexer.records import RECORD_TABLES, Record
from mappings import Names

log = logging.getLogger(__name__)

DOCUMENT_TABLES = {"workflow_runs", "workflow_run_parameters", "tasks"}
FAN_OUT_TABLES = {"workflows": "workflow_id", "workflow_parameters": "param_ids"}
FAN_OUT_SLICE = 5_000


@dataclass
class Outcome:
    """Per table: how many changes were applied and how many were stale (already superseded)."""

    applied: Counter[str] = field(default_factory=Counter)
    stale: Counter[str] = field(default_factory=Counter)
    documents_written: int = 0


@dataclass
class Pipeline:
    backend: store.Store
    names: Names

    def apply(self, changes: list[Change]) -> Outcome:
        outcome = Outcome()
        written = self._merge_records([c for c in changes if c.table in RECORD_TABLES], outcome)
        per_run: dict[str, list[Change]] = defaultdict(list)
        for change in changes:
            if change.table == "tasks":
                # Runs apply the task's latest state, which may be newer than this change (a delete).
                record = written[records.record_id(change)]
                latest = records.task_state(change.key[0], record, change.ts_ms)
                for run_id in record["run_ids"]:
                    per_run[run_id].append(latest)
            elif change.table in DOCUMENT_TABLES:
                per_run[change.key[0]].append(change)
        self._update_documents(per_run, outcome)
        self._fan_out([c for c in changes if c.table in FAN_OUT_TABLES and written[records.record_id(c)]["lsn"] == c.lsn])
        return outcome

    # --- records --------------------------------------------------------------------------

    def _merge_records(self, changes: list[Change], outcome: Outcome) -> dict[str, Record]:
        """Merge and write records; returns the record now stored for every id the changes touch."""
        final: dict[str, Record] = {}
        by_index: dict[str, list[Change]] = defaultdict(list)
        for change in changes:
            by_index[self.names.write_alias(RECORD_TABLES[change.table])].append(change)
        for index, pending in by_index.items():
            while pending:
                current = self.backend.mget(index, {records.record_id(c) for c in pending})
                merged: dict[str, tuple[Record, store.Versioned | None]] = {}
                applied: set[int] = set()  # id() of the changes that made a difference
                for change in sorted(pending, key=lambda c: c.lsn):
                    rid = records.record_id(change)
                    seen = current.get(rid)
                    base = merged[rid][0] if rid in merged else (seen.source if seen else None)
                    new = records.merge(base, change)
                    if new is None:
                        final.setdefault(rid, base)
                        continue
                    merged[rid] = (new, seen)
                    applied.add(id(change))
                conflicts = self.backend.write(index, merged)
                for rid, (record, _) in merged.items():
                    if rid not in conflicts:
                        final[rid] = record
                for change in pending:
                    if records.record_id(change) not in conflicts:
                        (outcome.applied if id(change) in applied else outcome.stale)[change.table] += 1
                pending = [c for c in pending if records.record_id(c) in conflicts]
        return final

    # --- run documents --------------------------------------------------------------------

    def _update_documents(self, per_run: dict[str, list[Change]], outcome: Outcome) -> None:
        """Merge changes (possibly none: just refresh embedded records) into run documents."""
        runs = self.names.write_alias("runs")
        pending = dict(per_run)
        while pending:
            current = self.backend.mget(runs, pending)
            docs: dict[str, document.Document] = {}
            counts: dict[str, tuple[Counter[str], Counter[str]]] = {}
            for run_id, changes in pending.items():
                seen = current.get(run_id)
                doc = orjson.loads(orjson.dumps(seen.source)) if seen else document.new_document(run_id)
                applied, stale = Counter(), Counter()
                for change in changes:
                    (applied if document.apply(doc, change) else stale)[change.table] += 1
                counts[run_id] = (applied, stale)
                if seen is not None or applied:  # stale changes alone never create a document
                    docs[run_id] = doc
            self._embed(docs)
            to_write = {rid: (document.finalize(doc), current.get(rid)) for rid, doc in docs.items()}
            to_write = {rid: w for rid, w in to_write.items() if w[1] is None or w[0] != w[1].source}
            conflicts = self.backend.write(runs, to_write)
            outcome.documents_written += len(to_write) - len(conflicts)
            for run_id, (applied, stale) in counts.items():
                if run_id not in conflicts:
                    outcome.applied.update(applied)
                    outcome.stale.update(stale)
            # Lost races are merged again; won ones are re-checked for records that changed meanwhile.
            pending = {rid: pending[rid] for rid in conflicts}
            for rid in self._outdated({rid: doc for rid, doc in docs.items() if rid not in conflicts}):
                pending.setdefault(rid, [])

    def _lookups(self, docs: dict[str, document.Document]) -> dict[str, Record]:
        wanted = {f"workflow_parameters:{pid}" for doc in docs.values() for pid in document.parameter_ids(doc)}
        wanted |= {f"workflows:{wid}" for doc in docs.values() if (wid := document.workflow_id(doc))}
        found = self.backend.mget(self.names.write_alias("lookup"), wanted)
        return {rid: v.source for rid, v in found.items()}

    def _embed(self, docs: dict[str, document.Document]) -> None:
        lookups = self._lookups(docs)
        for doc in docs.values():
            _embed_one(doc, lookups)

    def _outdated(self, docs: dict[str, document.Document]) -> set[str]:
        """Documents whose definitions or workflow another process changed since they were embedded."""
        if not docs:
            return set()
        lookups = self._lookups(docs)
        return {rid for rid, doc in docs.items() if _embed_one(doc, lookups)}

    # --- fan-out --------------------------------------------------------------------------

    def _fan_out(self, changes: list[Change]) -> None:
        """Re-embed changed definitions and workflow titles into every run that uses them."""
        if not changes:
            return
        terms: dict[str, set[str]] = defaultdict(set)
        for change in changes:
            terms[FAN_OUT_TABLES[change.table]].add(change.key[0])
        query = {"bool": {"should": [{"terms": {f: sorted(v)}} for f, v in terms.items()], "minimum_should_match": 1}}
        run_ids = self.backend.ids_matching(self.names.write_alias("runs"), query)
        if run_ids:
            log.info("fan-out", extra={"fields": {"records": len(changes), "runs": len(run_ids)}})
        for start in range(0, len(run_ids), FAN_OUT_SLICE):  # bounded memory for workflows with many runs
            self._update_documents({rid: [] for rid in run_ids[start:start + FAN_OUT_SLICE]}, Outcome())


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
