"""Ingest: a backlog in Kafka indexed by real indexer processes until searchable, and the raw bulk
ceiling of OpenSearch for the same final documents."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from opensearchpy import OpenSearch, helpers
from prometheus_client.parser import text_string_to_metric_families

from runsearch.bench import BenchError
from runsearch.demo.dataset import RowChange
from runsearch.demo.publish import publish
from runsearch.indexer.offsets import committed_offsets, end_offsets
from runsearch.mappings import Layout, Names, body
from runsearch.settings import Settings
from runsearch.stack.processes import Managed


@dataclass
class Published:
    messages: int
    seconds: float


@dataclass
class Indexed:
    processes: int
    events: int  # in the topics when the indexers started
    documents: int
    seconds: float
    writes: int  # documents written by the indexers, rewrites included

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


def index_backlog(settings: Settings, os_client: OpenSearch, procs: list[Managed]) -> Indexed:
    """Start the indexers on a full backlog; done when the group has committed every offset."""
    ends = end_offsets(settings)
    started = time.perf_counter()
    start_indexers(settings, procs)
    while True:
        committed = committed_offsets(settings, settings.consumer_group)
        if all(committed[tp] >= end for tp, end in ends.items()):
            break
        dead = [p.name for p in procs if not p.alive()]
        if dead:
            raise BenchError(f"{', '.join(dead)} exited; see {procs[0].log_file.parent}")
        time.sleep(0.5)
    runs = Names(settings.index_prefix).read_alias("runs")
    os_client.indices.refresh(index=runs)
    seconds = time.perf_counter() - started
    writes = sum(_documents_written(settings.indexer_metrics_port + i) for i in range(len(procs)))
    return Indexed(len(procs), sum(ends.values()), os_client.count(index=runs)["count"], seconds, writes)


def _documents_written(metrics_port: int) -> int:
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    return int(sum(sample.value for family in text_string_to_metric_families(text)
                   if family.name == "runsearch_indexer_documents_written" for sample in family.samples
                   if sample.name.endswith("_total")))


def bulk_ceiling(settings: Settings, os_client: OpenSearch, sample: int) -> Ceiling:
    """Up to `sample` of the indexed documents, read into memory first, then bulk-written into a fresh
    index with the same settings and mappings as fast as the client can: what OpenSearch alone sustains."""
    source = Names(settings.index_prefix).read_alias("runs")
    target = f"{settings.index_prefix}-ceiling"
    docs = []
    for hit in helpers.scan(os_client, index=source, size=2000, query={"query": {"match_all": {}}}):
        docs.append({"_index": target, "_id": hit["_id"], "_source": hit["_source"]})
        if len(docs) >= sample:
            break
    os_client.indices.delete(index=target, ignore_unavailable=True)
    os_client.indices.create(index=target, body=body("runs", Layout.of(settings)))
    started = time.perf_counter()
    for ok, item in helpers.parallel_bulk(os_client, docs, thread_count=2, chunk_size=1000, raise_on_error=True):
        assert ok, item
    os_client.indices.refresh(index=target)
    seconds = time.perf_counter() - started
    size = document_size(os_client, target, [d["_source"] for d in docs])
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
