"""`make bench`: runsearch against the platform's SQL on the same generated data, in one run.

Starts its own OpenSearch, Kafka and PostgreSQL (fresh data, own ports, `.stack-bench/`), publishes the
dataset as change events while keeping its final rows, loads those rows into PostgreSQL, builds the index
from the backlog with `runsearch reindex`, starts the live indexers, then measures, and stops everything it
started.
"""

from __future__ import annotations

import functools
import gc
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

from runsearch import clients
from runsearch.bench import BenchError, classes, dashboard, freshness, ingest, latency, load, shards
from runsearch.bench.postgres import Postgres
from runsearch.bench.snapshot import Snapshot
from runsearch.demo.dataset import api_key, organization_ids, stream
from runsearch.indexer.offsets import end_offsets
from runsearch.mappings import Names
from runsearch.settings import Settings
from runsearch.stack import opensearch
from runsearch.stack.launcher import Stack
from runsearch.stack.processes import Managed, wait_until

BASELINE_PORT = 28001
POLLED_PORT = 28002
POSTGRES_PORT = 25432
WARM_UP_REQUESTS = 50  # per class and endpoint, before any is measured
WARM_UP_SECONDS = 5.0


@dataclass(frozen=True)
class Options:
    runs: int = 1_000_000
    organizations: int = 200
    seed: int = 7
    indexers: int = 2
    requests: int = 200  # per query class and endpoint
    baseline_budget_seconds: float = 20.0  # per class: the baseline stops there once it has 5 samples
    clients: int = 16
    load_seconds: float = 30.0
    fresh_rate: int = 1_000
    fresh_seconds: float = 60.0
    ceiling_sample: int = 250_000
    cursor_pages: int = 200  # pages of 100 walked by cursor: 20,000 runs deep, twice the offset window
    shard_counts: tuple[int, ...] = (1, 4, 16)  # layouts the runs are copied into to measure `took` against
    verify_sample: int = 10_000  # runs the rebuild verifies from the index, and about as many from the topics


def bench_settings(base: Settings) -> Settings:
    """The benchmark's own servers, beside a running `make up` or test stack."""
    return base.model_copy(update={
        "opensearch_url": "http://127.0.0.1:29200", "kafka_bootstrap": "127.0.0.1:29092", "api_port": 28000,
        "indexer_metrics_port": 29108, "stack_dir": Path(".stack-bench"), "opensearch_heap": "4g", "kafka_heap": "1g",
        "topic_prefix": "bench", "index_prefix": "bench", "consumer_group": "bench-indexer",
        "deadletter_topic": "bench.deadletter",
        # Every request of a class is the same listing: answered from the answer cache, it would measure the cache.
        "answer_cache_seconds": 0,
    })


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo")  # the model's name; elsewhere, what `platform` knows
    cpu = next((line.split(":", 1)[1].strip() for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else ())
                if line.startswith("model name")), platform.processor())
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "kernel": platform.release()}


class Bench:
    def __init__(self, options: Options, say: Callable[[str], None]) -> None:
        self.options, self.say = options, say
        self.settings = bench_settings(Settings())
        self.stack = Stack(self.settings)
        self.postgres = Postgres(self.settings, POSTGRES_PORT)
        self.indexers = ingest.indexers(self.settings, options.indexers)
        self.api = Managed("api", self.settings.stack_dir)
        self.polled = Managed("api-polled", self.settings.stack_dir)  # with the answer cache, as `make run` has it
        self.baseline = Managed("baseline", self.settings.stack_dir)
        self.os = clients.opensearch(self.settings, timeout=120)
        orgs = organization_ids(options.organizations)
        self.big, self.small = orgs[0], orgs[len(orgs) // 2]
        self.keys = {org: api_key(org, self.settings.jwt_secret.get_secret_value()) for org in orgs}

    def _serve(self, proc: Managed, argv: list[str], port: int, **env: str) -> None:
        # The stack dir in argv lets `stop` recognise the process as ours.
        proc.start([sys.executable, "-m", "runsearch.cli", *argv, "--stack-dir", str(self.settings.stack_dir.resolve())],
                   {**os.environ, **self.settings.environ(), **env}, cwd=Path.cwd())

        def answers() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}{latency.PATH}", headers={"x-api-key": self.keys[self.big]},
                                 timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(answers, self.settings.startup_timeout_seconds, proc)

    def stop(self) -> None:
        for proc in (self.api, self.polled, self.baseline, *self.indexers):
            proc.stop()
        self.postgres.stop()
        self.stack.down()

    def run(self) -> dict[str, Any]:
        o, s = self.options, self.settings
        results: dict[str, Any] = {"options": asdict(o), "machine": machine(),
                                   "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.stop()
        self.stack.wipe()
        self.say("starting OpenSearch, Kafka and PostgreSQL")
        self.stack.up()
        self.postgres.start()
        with psycopg.connect(self.postgres.dsn) as conn:
            (postgres_version,) = conn.execute("SHOW server_version").fetchone() or ("unknown",)
        results["machine"].update(opensearch=opensearch.version(s), postgres=postgres_version)

        self.say(f"publishing {o.runs:,} runs as change events")
        snapshot = Snapshot()
        # Millions of rows are kept: without this, Python's cycle collector walks them all again and again
        # (publishing 1,000,000 runs slowed from 7,000 to 1,600 events/s). They hold no cycles.
        gc.disable()
        published = ingest.publish_all(s, snapshot.tee(stream(o.runs, o.organizations, o.seed, s.jwt_secret.get_secret_value())))
        gc.freeze()
        gc.enable()
        in_topics = sum(end_offsets(s).values())
        if in_topics != published.messages:
            raise BenchError(f"published {published.messages:,} events but the topics hold {in_topics:,}")
        results["dataset"] = {"runs": len(snapshot.rows["workflow_runs"]), "events": published.messages,
                              "rows": {t: len(r) for t, r in snapshot.rows.items()},
                              "publish_seconds": published.seconds}

        self.say("loading the same rows into PostgreSQL")
        started = time.perf_counter()
        self.postgres.load(snapshot)
        results["dataset"]["postgres_load_seconds"] = time.perf_counter() - started

        self.say("building the index from the backlog: `runsearch reindex` (fold, then each document written once)")
        built = ingest.rebuild(s, self.os, o.verify_sample, s.stack_dir / "reindex.log")
        self.say(f"built {built.documents:,} documents from {built.events:,} events in {built.seconds:.0f}s; "
                 f"starting {o.indexers} live indexers; measuring the bulk ceiling")
        ingest.start_indexers(s, self.indexers)  # from where the rebuild stopped, for freshness
        ceiling = ingest.bulk_ceiling(s, self.os, o.ceiling_sample)
        results["ingest"] = {
            **asdict(built), "events_per_second": built.events_per_second,
            "documents_per_second": built.documents_per_second, "writes_per_document": built.writes / built.documents,
            "ceiling_documents": ceiling.documents, "ceiling_seconds": ceiling.seconds,
            "ceiling_documents_per_second": ceiling.documents_per_second,
            "share_of_ceiling": built.documents_per_second / ceiling.documents_per_second,
            "bytes_per_document": asdict(ceiling.size),
        }

        self._serve(self.api, ["api"], s.api_port)
        self._serve(self.polled, ["api"], POLLED_PORT, RUNSEARCH_API_PORT=str(POLLED_PORT),
                    RUNSEARCH_ANSWER_CACHE_SECONDS=str(Settings.model_fields["answer_cache_seconds"].default))
        self._serve(self.baseline, ["bench", "baseline", "--port", str(BASELINE_PORT), "--dsn", self.postgres.dsn],
                    BASELINE_PORT)
        runs_alias = Names(s.index_prefix).read_alias("runs")
        self.say("picking search terms from the data")
        queries = classes.all_classes(self.os, runs_alias, snapshot, self.big, self.small)
        ours = httpx.Client(base_url=f"http://127.0.0.1:{s.api_port}", timeout=60)
        theirs = httpx.Client(base_url=f"http://127.0.0.1:{BASELINE_PORT}", timeout=60)
        with ours, theirs:
            results["disagreements"] = [q.name for q in queries if latency.fetch(ours, self.keys[q.organization], q.params)
                                        != latency.fetch(theirs, self.keys[q.organization], q.params)]
            # A freshly started API and OpenSearch answer their first requests slower (the first class measured took
            # 5.8 ms p50 at 100,000 runs, 2.0-2.5 ms later): no class pays for being measured first. OpenSearch goes on
            # warming for minutes after this; the turns below share that between the two sides.
            self.say("warming up: every class through runsearch and OpenSearch, the index-answered ones through both")
            for q in queries:
                latency.endpoints((ours, theirs) if q.index_served else (ours,), self.keys[q.organization], q,
                                  WARM_UP_REQUESTS, WARM_UP_SECONDS, minimum=1)
                latency.opensearch_direct(self.os, runs_alias, q, WARM_UP_REQUESTS, s.max_result_window, WARM_UP_SECONDS)
            results["classes"] = []
            for q in queries:
                self.say(f"latency: {q.name}")
                key = self.keys[q.organization]
                # Where the two are within milliseconds of each other, they take turns request by request: measured one
                # after the other, a class's p50 moved by 2-4 ms with what it was measured after (OpenSearch still warming
                # up, at 130 % of the two cores in the first seconds after a start, 50-60 % two minutes later).
                if q.index_served:
                    ours_ms, theirs_ms = latency.endpoints((ours, theirs), key, q, o.requests, budget_seconds=60)
                else:
                    ours_ms = latency.endpoint(ours, key, q, o.requests, budget_seconds=60)
                    theirs_ms = latency.endpoint(theirs, key, q, o.requests, o.baseline_budget_seconds, minimum=5)
                results["classes"].append({
                    "name": q.name, "organization": q.organization, "params": q.params, "hits": q.hits,
                    "index_served": q.index_served, "runsearch_ms": ours_ms, "baseline_ms": theirs_ms,
                    "opensearch_took_ms": latency.opensearch_took(self.os, runs_alias, q, o.requests, s.max_result_window),
                    "opensearch_direct_ms": latency.opensearch_direct(self.os, runs_alias, q, o.requests,
                                                                      s.max_result_window),
                })
            self.say("repeated polls: the index-answered classes, with the answer cache")
            with httpx.Client(base_url=f"http://127.0.0.1:{POLLED_PORT}", timeout=60) as polled:
                results["polls"] = [{"name": q.name, "ms": latency.endpoint(polled, self.keys[q.organization], q,
                                                                              o.requests, budget_seconds=60)}
                                    for q in queries if q.index_served]
            self.say("dashboard: stats beside the platform's counts, and a cursor walk")
            term = next((q.params["search_key"] for q in queries if q.name == "search param value, 6 chars, common"),
                        next(q.params["search_key"] for q in queries if "search_key" in q.params))
            stats = dashboard.stats(ours, theirs, self.keys[self.big], self.big, term, o.requests,
                                    o.baseline_budget_seconds)
            walk = functools.partial(dashboard.cursor_walk, ours, self.keys[self.big], o.cursor_pages, page_size=100)
            # Walked once before it is measured, as the classes are warmed up: the first walk after a start had a p99
            # of 51 ms where the next ones had 13-19 (on 1,000,000 runs, with nothing else running).
            walk()
            results["dashboard"] = {"stats": stats, "cursor": walk()}
        self.say(f"load: {o.clients} clients for {o.load_seconds:.0f}s")
        results["load"] = asdict(load.run(f"http://127.0.0.1:{s.api_port}", self.keys, queries, o.clients, o.load_seconds))
        self.say(f"freshness at {o.fresh_rate} background events/s for {o.fresh_seconds:.0f}s")
        small_probe_org = organization_ids(o.organizations)[1]
        results["freshness"] = asdict(freshness.measure(s, snapshot, f"http://127.0.0.1:{s.api_port}",
                                                        self.keys[small_probe_org], small_probe_org, o.fresh_rate,
                                                        o.fresh_seconds))
        if o.shard_counts:
            self.say(f"latency against shard counts {', '.join(map(str, o.shard_counts))}")
            results["shards"] = shards.took_by_shards(self.os, s, runs_alias, queries, o.shard_counts, o.requests)
        results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return results
