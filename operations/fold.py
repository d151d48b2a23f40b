"""A rebuild's first pass: the topics folded into a store on disk through the merge code, then every final document
written to the new generation once, before the live indexer writes it.

Replayed event by event, a run's document is read and written again each time a batch holds one of its rows (4.3
times on average at 1,000,000 runs), and every write is OpenSearch's work. Folded, the rewrites are SQLite's
(`indexer.disk_store`), and OpenSearch indexes each document once, with refreshes off. The documents are the
ones the event-by-event path makes, because they are made by the same pipeline; only the store differs.

Nothing else writes the generation meanwhile: it has no write aliases yet, only fold aliases (`Names.fold_alias`)
that the live indexer does not look for. A fold that stops starts over (`reindex` again).

The fold is split by run over `RUNSEARCH_FOLD_PROCESSES` processes (`indexer.split`): this one folds part 0 and
shows its progress, the others (spawned) fold theirs beside it, each into a store of its own, and each writes its
runs. A part whose rebuild process is gone stops at its next progress step; a part that fails, or whose process
dies, stops the rebuild at part 0's next step (`operations.fold_parts`).
"""

from __future__ import annotations

import functools
import logging
import os as os_module
import shutil
import tempfile
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from opensearchpy import OpenSearch, helpers

from runsearch import clients, logs, mappings
from runsearch.indexer import deadletter_topic
from runsearch.indexer.disk_store import DiskStore
from runsearch.indexer.document import indexed
from runsearch.indexer.offsets import Offsets
from runsearch.indexer.replay import Progress, Replay, stopping_when_orphaned
from runsearch.indexer.split import Part
from runsearch.indexer.store import bulk_failure
from runsearch.mappings import KINDS, Names
from runsearch.operations import REQUEST_TIMEOUT_SECONDS, Refused, fold_parts
from runsearch.settings import Settings

log = logging.getLogger(__name__)

RETRIES = 5  # rounds of writing again what OpenSearch could not take now (429, 5xx, a missing alias, a timeout)


@dataclass
class Folded:
    events: int = 0  # read from the topics
    documents: dict[str, int] = field(default_factory=dict)  # kind -> written, each once
    fold_seconds: float = 0.0
    write_seconds: float = 0.0
    disk_bytes: int = 0  # the store's size once every event is in it

    @property
    def written(self) -> int:
        return sum(self.documents.values())

    def rates(self) -> tuple[float, float]:
        """Events folded per second, documents written per second."""
        return self.events / max(self.fold_seconds, 1e-9), self.written / max(self.write_seconds, 1e-9)

    @classmethod
    def of_parts(cls, parts: list[Folded]) -> Folded:
        """The report of a split fold: every part read every event; the parts folded, then wrote, side by side."""
        documents: Counter[str] = Counter()
        for part in parts:
            documents.update(part.documents)
        return cls(parts[0].events, dict(documents), max(p.fold_seconds for p in parts),
                   max(p.write_seconds for p in parts), sum(p.disk_bytes for p in parts))


def fold(settings: Settings, os: OpenSearch, names: Names, number: int, cut: Offsets, progress: Progress,
         dead_letters: bool = False) -> Folded:
    """Fold the topics below `cut` into generation `number`, which only its fold aliases name; with `dead_letters`
    (a first build, which no live indexer replays), send the dead letters of events that cannot be decoded."""
    if dead_letters:
        deadletter_topic.ensure(settings)
    # Named for the generation, so that the folder of a fold killed before it could remove it goes at the next start
    # (the rebuild lease keeps any other process from folding this generation meanwhile).
    folder = folder_of(settings, names, number)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    parts = [Part(i, settings.fold_processes) for i in range(settings.fold_processes)]
    aliases = ",".join(names.fold_alias(kind, number) for kind in KINDS)
    os.indices.put_settings(index=aliases, body={"index": {"refresh_interval": "-1"}})  # written once, read after
    try:
        if len(parts) == 1:
            reports = [_fold_part(settings, os, names, number, cut, parts[0], dead_letters, folder, progress)]
        else:
            named = {f"fold part {part.index}": (settings, number, cut, part, dead_letters, folder, os_module.getpid())
                     for part in parts[1:]}
            with fold_parts.started(named, _fold_child) as others:  # leaving it ends the others
                reports = [_fold_part(settings, os, names, number, cut, parts[0], dead_letters, folder,
                                      fold_parts.failing_fast(progress, others)),
                           *(other.result() for other in others)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for kind in KINDS:
        files = mappings.body(kind)["settings"]
        alias = names.fold_alias(kind, number)
        os.indices.put_settings(index=alias, body={"index": {"refresh_interval": files.get("refresh_interval")}})
        os.indices.refresh(index=alias)
    return Folded.of_parts(reports)


def _fold_child(settings: Settings, number: int, cut: Offsets, part: Part, dead_letters: bool, folder: Path,
                parent: int) -> Folded:
    """A part folded in a process of its own, which stops once the rebuild that started it is gone."""
    logs.setup(settings.log_level)
    return _fold_part(settings, clients.opensearch(settings, REQUEST_TIMEOUT_SECONDS), Names(settings.index_prefix),
                      number, cut, part, dead_letters, folder, stopping_when_orphaned(parent, f"fold part {part.index}"))


def _fold_part(settings: Settings, os: OpenSearch, names: Names, number: int, cut: Offsets, part: Part,
               dead_letters: bool, folder: Path, progress: Progress) -> Folded:
    report = Folded()
    sender = deadletter_topic.producer(settings) if dead_letters else None
    dead = None if sender is None else functools.partial(deadletter_topic.send, sender, settings.deadletter_topic)
    try:
        with closing(DiskStore(folder / f"fold-{part.index}.sqlite")) as store:
            target = names.generation(number)  # the store's indices are named as the generation's
            started = time.perf_counter()
            with Replay(settings, store, target, dead=dead, part=part) as replay:
                report.events = replay.advance(cut, progress, "folding the topics")
            report.fold_seconds = time.perf_counter() - started
            report.disk_bytes = store.size()
            started = time.perf_counter()
            for kind in filter(part.writes, KINDS):
                report.documents[kind] = _write(settings, os, store, kind, target.write_alias(kind),
                                                names.fold_alias(kind, number), progress)
            report.write_seconds = time.perf_counter() - started
    finally:
        if sender is not None:
            sender.close()
    return report


def folder_of(settings: Settings, names: Names, number: int) -> Path:
    return Path(settings.fold_dir or tempfile.gettempdir()) / f"runsearch-fold-{names.index('runs', number)}"


def _write(settings: Settings, os: OpenSearch, store: DiskStore, kind: str, index: str, alias: str,
           progress: Progress) -> int:
    """Every document of one index of the store, created through `alias`; what OpenSearch cannot take now
    (`store.bulk_failure`: also a request that timed out or could not be sent) is written again, up to RETRIES
    rounds. A document sent again that exists already (409) was created by the request whose answer was lost: the
    same document, as nothing else writes the generation yet."""
    phase, total, done = f"writing the {kind} documents", store.count(index), 0
    again: list[str] | None = None  # None: every document
    for round_ in range(RETRIES + 1):
        # Each source is the stored JSON text, sent as it is, but a run's, which gains its response's doc values.
        actions = ({"_op_type": "create", "_index": alias, "_id": doc_id,
                    "_source": indexed(orjson.loads(source)) if kind == "runs" else source.decode()}
                   for doc_id, source in store.documents(index, again))
        sent_before, failed = set(again or ()), []
        try:
            for ok, item in helpers.parallel_bulk(os, actions, thread_count=2, chunk_size=1000,
                                                  max_chunk_bytes=settings.bulk_max_bytes, raise_on_error=False,
                                                  raise_on_exception=False, require_alias="true"):
                result = item["create"]
                ok = ok or (result.get("status") == 409 and result["_id"] in sent_before)
                done += ok
                if not ok:
                    failed.append(result)
                if done % 1000 == 0:
                    progress(phase, done, total)
        finally:
            actions.close()  # before the store closes: a generator left to the collector reads a closed database
        if any(r.get("status") == 413 for r in failed):
            raise Refused("a document of the fold is larger than OpenSearch takes in one request (413): raise its "
                          "http.max_content_length, or rebuild with `runsearch reindex --no-fold`")
        if refused := [described for transient, described in map(bulk_failure, failed) if not transient]:
            raise Refused(f"OpenSearch refused document {refused[0]} of the fold; rebuild with "
                          "`runsearch reindex --no-fold`, which makes the events behind it dead letters")
        again = [r["_id"] for r in failed]
        if not again:
            break
        if round_ == RETRIES:
            raise Refused(f"OpenSearch could not take {len(again)} documents of the fold after {RETRIES} rounds: "
                          "run `runsearch reindex` again once it is healthy")
        log.warning("documents of the fold are written again", extra={"fields": {
            "index": alias, "documents": len(again), "round": round_ + 1,
            "status": sorted({str(r.get("status")) for r in failed})}})
        time.sleep(2 ** round_)
    progress(phase, done, total)
    return done
