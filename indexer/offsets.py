"""Where consumer groups stand on the CDC topics, and removing the groups of rebuilds."""

from __future__ import annotations

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from runsearch import clients
from runsearch.errors import RunsearchError
from runsearch.indexer.tables import topics
from runsearch.settings import Settings

Offsets = dict[TopicPartition, int]
# Offsets with the id of the topic's incarnation they belong to (`indexer.incarnations`), as commits carry them.
Stamped = dict[TopicPartition, OffsetAndMetadata]


def _partitions(consumer: KafkaConsumer, settings: Settings) -> list[TopicPartition]:
    return [TopicPartition(t, p) for t in topics(settings) for p in consumer.partitions_for_topic(t) or ()]


def topic_id(consumer: KafkaConsumer, topic: str) -> str:
    """The id of the topic's incarnation in the consumer's metadata, without a request ("": not known). kafka-python
    keeps it in its cluster metadata only, which no public method reads."""
    found = consumer._cluster.topic_id(topic)
    return "" if found is None else str(found)


def topic_ids(settings: Settings, names: list[str]) -> dict[str, str]:
    """The id of each topic's incarnation now ("": a topic Kafka does not list)."""
    consumer = KafkaConsumer(**clients.kafka(settings))
    try:
        for name in names:
            consumer.partitions_for_topic(name)  # the topic's metadata, ids included
        return {name: topic_id(consumer, name) for name in names}
    finally:
        consumer.close()


def end_offsets(settings: Settings) -> Offsets:
    """The end of every partition of the CDC topics, now."""
    return {tp: stamped.offset for tp, stamped in stamped_ends(settings).items()}


def stamped_ends(settings: Settings) -> Stamped:
    """The end of every partition of the CDC topics now, stamped with the incarnation of its topic (read before the
    ends: a topic created again between the two is read from its start, never skipped)."""
    consumer = KafkaConsumer(**clients.kafka(settings))
    try:
        partitions = _partitions(consumer, settings)
        ids = {tp.topic: topic_id(consumer, tp.topic) for tp in partitions}
        return {tp: OffsetAndMetadata(end, ids[tp.topic], -1) for tp, end in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close()


def committed_offsets(settings: Settings, group: str) -> Offsets:
    """Where a consumer group stands on every partition (for the live indexer: what it has applied, give or take
    its batch in hand); 0 where it has committed nothing. One client (a waiting first build asks every 5 s)."""
    return {tp: stamped.offset for tp, stamped in committed(settings, group).items()}


def committed(settings: Settings, group: str) -> Stamped:
    """`committed_offsets` with the stamps of the commits (offset 0, no stamp, where nothing is committed)."""
    consumer = KafkaConsumer(**clients.kafka(settings), group_id=group, enable_auto_commit=False)
    try:
        return {tp: consumer.committed(tp, metadata=True) or OffsetAndMetadata(0, "", -1)
                for tp in _partitions(consumer, settings)}
    finally:
        consumer.close()


def commit(settings: Settings, group: str, positions: Stamped) -> None:
    """Set where a consumer group stands (one no process consumes with yet: a rebuild's, after its fold)."""
    consumer = KafkaConsumer(**clients.kafka(settings), group_id=group, enable_auto_commit=False)
    try:
        consumer.assign(list(positions))
        consumer.commit(positions)
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
