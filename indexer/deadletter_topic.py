"""The dead-letter topic in Kafka: created when missing, written by the indexer, read by operators."""

from __future__ import annotations

from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError, TopicAlreadyExistsError

from runsearch import clients
from runsearch.errors import RunsearchError
from runsearch.indexer.deadletter import Letter
from runsearch.settings import Settings


class DeadLetterTopicError(RunsearchError):
    """The dead-letter topic is missing and cannot be created."""


def ensure(settings: Settings) -> None:
    """Create the dead-letter topic unless it exists: one partition, the broker's replication factor, and kept
    until an operator deletes it (dead letters are few, and each is a change the index lacks)."""
    name = settings.deadletter_topic
    try:
        admin = KafkaAdminClient(**clients.kafka(settings))
        try:
            if name not in admin.list_topics():
                admin.create_topics({name: {"num_partitions": 1, "replication_factor": -1,
                                            "configs": {"retention.ms": "-1", "retention.bytes": "-1"}}})
        finally:
            admin.close()
    except TopicAlreadyExistsError:
        return
    except KafkaError as err:
        raise DeadLetterTopicError(
            f"the dead-letter topic {name!r} is missing and could not be created ({type(err).__name__}): create it, "
            f"or let RUNSEARCH_DEADLETTER_TOPIC name a topic that exists") from err


def producer(settings: Settings) -> KafkaProducer:
    """A producer of dead letters (acknowledged by every replica; large enough for the largest letter)."""
    return KafkaProducer(**clients.kafka(settings), acks="all", linger_ms=5,
                         max_request_size=settings.deadletter_max_bytes + 64 * 1024)


def send(sender: KafkaProducer, topic: str, letters: list[Letter]) -> bool:
    """Every dead letter acknowledged by the broker (raises if one is not, to be retried: at-least-once)."""
    futures = [sender.send(topic, key=letter.key, value=letter.value, headers=letter.headers) for letter in letters]
    sender.flush()
    for future in futures:
        future.get(timeout=0)
    return True
