"""What the replays' reader does with a Kafka error that is not a partition's end: one line naming the partition, the
error and the setting, in an error that crosses processes (a fold part's failure reaches the rebuild). A stand-in
consumer, as real Kafka was not made to report such an error (a partition it does not have is waited for, silently);
the reading itself is tested against real Kafka in `tests/integration/test_topic_reader.py`."""

from __future__ import annotations

import pickle

import pytest
from confluent_kafka import KafkaError
from kafka import TopicPartition

from runsearch.indexer.topic_reader import ReadFailed, TopicReader
from runsearch.settings import Settings


class Failed:
    """A message as librdkafka reports an error on it (a partition's end carries the offset it stands at)."""

    def __init__(self, error: KafkaError, topic: str | None, partition: int | None, offset: int | None = None) -> None:
        self._error, self._topic, self._partition, self._offset = error, topic, partition, offset

    def error(self) -> KafkaError:
        return self._error

    def topic(self) -> str | None:
        return self._topic

    def partition(self) -> int | None:
        return self._partition

    def offset(self) -> int | None:
        return self._offset


class Consumer:
    def __init__(self, message: Failed) -> None:
        self.message = message

    def poll(self, _: float) -> Failed:
        return self.message

    def consume(self, *_: object) -> list[Failed]:
        return []

    def incremental_assign(self, _: object) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.parametrize("topic, partition, where", [("cdc.public.tasks", 2, "cdc.public.tasks [2]"),
                                                     (None, None, "the topics")])
def test_a_kafka_error_is_one_line_that_crosses_processes(topic: str | None, partition: int | None, where: str) -> None:
    reader = TopicReader(Settings(kafka_bootstrap="127.0.0.1:9"), 16 * 1024 * 1024)
    reader.consumer.close()
    reader.consumer = Consumer(Failed(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "Topic authorization failed"),
                                      topic, partition))  # type: ignore[assignment]
    reader.read_from({TopicPartition("cdc.public.tasks", 2): 0})
    with pytest.raises(ReadFailed) as failed:
        reader.poll(10)
    line = str(pickle.loads(pickle.dumps(failed.value)))
    assert line == (f"Kafka at 127.0.0.1:9 (RUNSEARCH_KAFKA_BOOTSTRAP) failed a read of {where}: "
                    "TOPIC_AUTHORIZATION_FAILED: Topic authorization failed")


def test_a_partitions_end_is_no_error() -> None:
    reader = TopicReader(Settings(kafka_bootstrap="127.0.0.1:9"), 16 * 1024 * 1024)
    reader.consumer.close()
    tp = TopicPartition("cdc.public.tasks", 0)
    reader.consumer = Consumer(Failed(KafkaError(KafkaError._PARTITION_EOF, "end"), tp.topic, tp.partition,
                                      7))  # type: ignore[assignment]
    reader.read_from({tp: 3})
    assert reader.poll(10) == [] and reader.position(tp) == 7
