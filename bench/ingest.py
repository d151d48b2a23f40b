"""End-to-end ingest: a generated dataset published to Kafka, then indexed until searchable."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from demo.dataset import generate
from demo.publish import publish
from indexer.consumer import Indexer
from mappings import Names
from runsearch.settings import Settings
from stack import kafka as kafka_node


@dataclass
class IngestResult:
    runs: int
    events: int
    publish_seconds: float
    index_seconds: float
    documents: int

    @property
    def events_per_second(self) -> float:
        return self.events / self.index_seconds


def run(base: Settings, runs: int) -> IngestResult:
    tag = f"bench-{uuid.uuid4().hex[:8]}"
    settings = base.model_copy(update={"topic_prefix": tag, "index_prefix": tag, "consumer_group": f"{tag}-indexer",
                                       "deadletter_topic": f"{tag}.deadletter", "indexer_metrics_port": 0})
    kafka_node.create_topics(settings)
    history = generate(runs=runs, organizations=20, secret=settings.jwt_secret)
    started = time.perf_counter()
    events = publish(settings, history.changes)
    published = time.perf_counter()
    indexer = Indexer(settings)
    began = time.perf_counter()
    while not indexer.caught_up():
        indexer.run_once()
    indexer.os.indices.refresh(index=Names(tag).write_alias("runs"))
    finished = time.perf_counter()
    documents = indexer.os.count(index=Names(tag).read_alias("runs"))["count"]
    indexer.close()
    return IngestResult(runs, events, published - started, finished - began, documents)
