"""What `runsearch status` shows: generations, a rebuild in progress, lags, dead letters, freshness."""

from __future__ import annotations

import time
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition
from opensearchpy import OpenSearch

from runsearch import clients, mappings
from runsearch.indexer import generations, heartbeat, offsets
from runsearch.indexer.generations import Info
from runsearch.mappings import Names
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
    newest_change_age_seconds: float | None  # since the newest change the live indexers applied (their heartbeats)
    indexers: dict[str, float]  # host:pid -> seconds since its last heartbeat (the last 10 minutes)


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
                  _dead_letters(settings), *_freshness(os, names, settings.consumer_group))


def _dead_letters(settings: Settings) -> int:
    consumer = KafkaConsumer(**clients.kafka(settings))
    try:
        topic = settings.deadletter_topic
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return int(sum(consumer.end_offsets(parts).values()) - sum(consumer.beginning_offsets(parts).values()))
    finally:
        consumer.close()


def _freshness(os: OpenSearch, names: Names, group: str) -> tuple[float | None, dict[str, float]]:
    """From the live indexers' heartbeats: the age of the newest change any of them applied, and when each beat."""
    now = time.time()
    found = heartbeat.beats(os, names, group, now)
    newest = max((b["newest_change_at"] for b in found if b.get("newest_change_at")), default=None)
    return (None if newest is None else now - newest), {b["holder"]: now - b["at"] for b in found}
