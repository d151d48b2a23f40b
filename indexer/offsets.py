"""Where consumer groups stand on the CDC topics, and removing the groups of rebuilds."""

from __future__ import annotations

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from runsearch import clients
from runsearch.errors import RunsearchError
from runsearch.indexer.tables import topics
from runsearch.settings import Settings

Offsets = dict[TopicPartition, int]


def _partitions(consumer: KafkaConsumer, settings: Settings) -> list[TopicPartition]:
    return [TopicPartition(t, p) for t in topics(settings) for p in consumer.partitions_for_topic(t) or ()]


def end_offsets(settings: Settings) -> Offsets:
    """The end of every partition of the CDC topics, now."""
    consumer = KafkaConsumer(**clients.kafka(settings))
    try:
        ends: Offsets = consumer.end_offsets(_partitions(consumer, settings))
        return ends
    finally:
        consumer.close()


def committed_offsets(settings: Settings, group: str) -> Offsets:
    """Where a consumer group stands on every partition (for the live indexer: what it has applied, give or take
    its batch in hand); 0 where it has committed nothing. One client (a waiting first build asks every 5 s)."""
    consumer = KafkaConsumer(**clients.kafka(settings), group_id=group, enable_auto_commit=False)
    try:
        return {tp: consumer.committed(tp) or 0 for tp in _partitions(consumer, settings)}
    finally:
        consumer.close()


def commit(settings: Settings, group: str, positions: Offsets) -> None:
    """Set where a consumer group stands (one no process consumes with yet: a rebuild's, after its fold)."""
    consumer = KafkaConsumer(**clients.kafka(settings), group_id=group, enable_auto_commit=False)
    try:
        consumer.assign(list(positions))
        consumer.commit({tp: OffsetAndMetadata(end, "", -1) for tp, end in positions.items()})
    finally:
        consumer.close()


def lag(ends: Offsets, committed: Offsets) -> int:
    return sum(max(end - committed.get(tp, 0), 0) for tp, end in ends.items())


def rebuild_group(settings: Settings, generation: int) -> str:
    """The consumer group a rebuild of `generation` consumes with (so that a rebuild resumes where it stopped)."""
    return f"{settings.consumer_group}-rebuild-v{generation}"


class GroupInUse(RunsearchError):
    """A consumer group to delete still has members (a rebuild is running)."""


def delete_groups(settings: Settings, groups: list[str]) -> list[str]:
    """Delete consumer groups (their committed offsets); returns those that existed."""
    if not groups:
        return []
    admin = KafkaAdminClient(**clients.kafka(settings))
    try:
        results: dict[str, str] = admin.delete_groups(groups)
    finally:
        admin.close()
    busy = sorted(g for g, result in results.items() if result == "NonEmptyGroupError")
    if busy:
        raise GroupInUse(f"consumer group {', '.join(busy)} still has members: a rebuild is running")
    failed = {g: r for g, r in results.items() if r not in ("OK", "GroupIdNotFoundError")}
    if failed:
        raise RunsearchError(f"deleting consumer groups failed: {failed}")
    return sorted(g for g, result in results.items() if result == "OK")
