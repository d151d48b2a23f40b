"""What `runsearch status` shows: generations, a rebuild in progress, lags, dead letters, freshness."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition

from runsearch import clients, mappings
from runsearch.indexer import generations, offsets
from runsearch.indexer.generations import Info
from runsearch.operations import lease
from runsearch.operations.lease import Lease
from runsearch.operations.reindex import context
from runsearch.settings import Settings


@dataclass
class Status:
    generations: list[Info]
    schema: str  # this version's
    lease: Lease | None
    rebuild_lag: int | None  # events the rebuild in progress has still to replay
    live_lag: dict[str, int]  # topic:partition -> events the live indexer has not committed
    dead_letters: int
    newest_change_age_seconds: float | None  # from the indexer's metrics, on its host


def status(settings: Settings) -> Status:
    os, names = context(settings)
    held = lease.current(os, names)
    ends = offsets.end_offsets(settings)
    committed = offsets.committed_offsets(settings, settings.consumer_group)
    rebuild_lag = None
    if held is not None:
        rebuild_lag = offsets.lag(ends, offsets.committed_offsets(settings, offsets.rebuild_group(settings, held.generation)))
    return Status(list(generations.survey(os, names).values()), mappings.schema(), held, rebuild_lag,
                  {f"{tp.topic}:{tp.partition}": max(end - committed[tp], 0) for tp, end in sorted(ends.items())},
                  _dead_letters(settings), _newest_change_age(settings))


def _dead_letters(settings: Settings) -> int:
    consumer = KafkaConsumer(**clients.kafka(settings))
    try:
        topic = settings.deadletter_topic
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return int(sum(consumer.end_offsets(parts).values()) - sum(consumer.beginning_offsets(parts).values()))
    finally:
        consumer.close()


def _newest_change_age(settings: Settings) -> float | None:
    url = f"http://{settings.bind_host}:{settings.indexer_metrics_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            for line in response.read().decode().splitlines():
                if line.startswith("runsearch_indexer_newest_change_age_seconds "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None
