"""Ingest: the backlog in Kafka built into the index by `runsearch reindex` (folded, each document written once),
the live indexer processes started after it, and the raw bulk ceiling of OpenSearch for the same final documents."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psutil
from opensearchpy import OpenSearch, helpers

from runsearch.bench import BenchError
from runsearch.demo.dataset import RowChange
from runsearch.demo.publish import publish
from runsearch.indexer.document import indexed
from runsearch.indexer.offsets import end_offsets
from runsearch.mappings import Layout, Names, body
from runsearch.settings import Settings
from runsearch.stack.processes import Managed


@dataclass
class Published:
    messages: int
    seconds: float


@dataclass
class Rebuilt:
    """The index built from the whole backlog by `runsearch reindex` (fold, catch-up, sampled verification, merge,
    swap)."""

    events: int  # in the topics when it started
    documents: int
    seconds: float  # the whole command
    fold_seconds: float
    write_seconds: float
    merge_seconds: float  # the generation's segments merged before the swap
    disk_bytes: int  # the fold's store
    writes: int  # index operations on the runs index: one per document when folded
    peak_rss_bytes: int  # of the command's process and the processes its fold is split over, together

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds

    @property
    def documents_per_second(self) -> float:
        return self.documents / self.seconds


@dataclass
class Size:
    """Bytes per run document: on disk (the primary store merged to one segment, the inverted n-grams included),
    and as `_source` (the stored response text `run`, the `search_text` values the n-grams are made of)."""

    store: float
    source: float
    run: float
    search_text: float


@dataclass
class Ceiling:
    documents: int
    seconds: float
    size: Size

    @property
    def documents_per_second(self) -> float:
        return self.documents / self.seconds


def publish_all(settings: Settings, changes: Iterable[RowChange]) -> Published:
    started = time.perf_counter()
    messages = publish(settings, changes)
    return Published(messages, time.perf_counter() - started)


def indexers(settings: Settings, processes: int) -> list[Managed]:
    return [Managed(f"indexer-{i}", settings.stack_dir) for i in range(processes)]


def start_indexers(settings: Settings, procs: list[Managed]) -> None:
    for i, proc in enumerate(procs):
        env = {**os.environ, **settings.environ(), "RUNSEARCH_INDEXER_METRICS_PORT": str(settings.indexer_metrics_port + i)}
        # The stack dir in argv lets `stop` recognise the process as ours.
        proc.start([sys.executable, "-m", "runsearch.cli", "indexer", "--stack-dir", str(settings.stack_dir.resolve())],
                   env, cwd=Path.cwd())


def rebuild(settings: Settings, os_client: OpenSearch, sample: int, log: Path) -> Rebuilt:
    """`runsearch reindex --json` on the backlog, its process' memory sampled every half second."""
    events = sum(end_offsets(settings).values())
    started = time.perf_counter()
    with log.open("wb") as errors:
        proc = subprocess.Popen([sys.executable, "-m", "runsearch.cli", "reindex", "--json", "--sample", str(sample)],
                                env={**os.environ, **settings.environ()}, stdout=subprocess.PIPE, stderr=errors)
        peak = 0
        while proc.poll() is None:
            with contextlib.suppress(psutil.Error):
                rebuilding = psutil.Process(proc.pid)
                # With the processes its fold is split over.
                peak = max(peak, sum(p.memory_info().rss for p in (rebuilding, *rebuilding.children(recursive=True))))
            time.sleep(0.5)
    seconds = time.perf_counter() - started
    output = proc.stdout.read() if proc.stdout else b""
    if proc.returncode != 0:
        raise BenchError(f"reindex failed ({proc.returncode}); see {log}: {output.decode()[-500:]}")
    report = orjson.loads(output)
    folded = report["folded"]
    runs = Names(settings.index_prefix).read_alias("runs")
    stats = os_client.indices.stats(index=runs, metric="indexing")["_all"]["primaries"]["indexing"]
    return Rebuilt(events, os_client.count(index=runs)["count"], seconds, folded["fold_seconds"], folded["write_seconds"],
                   report["merge_seconds"], folded["disk_bytes"], stats["index_total"], peak)


def bulk_ceiling(settings: Settings, os_client: OpenSearch, sample: int) -> Ceiling:
    """Up to `sample` of the indexed documents, read into memory first, then bulk-written into a fresh
    index with the same settings and mappings as fast as the client can: what OpenSearch alone sustains."""
    source = Names(settings.index_prefix).read_alias("runs")
    target = f"{settings.index_prefix}-ceiling"
    sources = {}  # as `_source` keeps them (without the response's doc values, which the writes add)
    for hit in helpers.scan(os_client, index=source, size=2000, query={"query": {"match_all": {}}}):
        sources[hit["_id"]] = hit["_source"]
        if len(sources) >= sample:
            break
    docs = [{"_index": target, "_id": doc_id, "_source": indexed(doc)} for doc_id, doc in sources.items()]
    os_client.indices.delete(index=target, ignore_unavailable=True)
    os_client.indices.create(index=target, body=body("runs", Layout.of(settings)))
    started = time.perf_counter()
    for ok, item in helpers.parallel_bulk(os_client, docs, thread_count=2, chunk_size=1000, raise_on_error=True):
        assert ok, item
    os_client.indices.refresh(index=target)
    seconds = time.perf_counter() - started
    size = document_size(os_client, target, list(sources.values()))
    os_client.indices.delete(index=target)
    return Ceiling(len(docs), seconds, size)


def document_size(os_client: OpenSearch, index: str, sources: list[dict[str, Any]]) -> Size:
    """The sizes of `sources`, just written to `index` and nothing else."""
    os_client.indices.forcemerge(index=index, max_num_segments=1, request_timeout=3600)
    store = os_client.indices.stats(index=index, metric="store")["_all"]["primaries"]["store"]["size_in_bytes"]
    count = len(sources)
    return Size(store=store / count, source=sum(len(orjson.dumps(s)) for s in sources) / count,
                run=sum(len(s["run"].encode()) for s in sources) / count,
                search_text=sum(len(t.encode()) for s in sources for t in s.get("search_text", ())) / count)
