"""What the replays' reader does with a Kafka error that is not a partition's end: one line naming the partition, the
error and the setting, in an error that crosses processes (a fold part's failure reaches the rebuild); and polls that
move no position for RUNSEARCH_REPLAY_STALL_SECONDS are such an error too. A stand-in consumer, as real Kafka was not
made to report an error on a read (a partition it does not have is waited for, silently); the reading, and the stall
bound, are tested against real Kafka in `tests/integration/test_topic_reader.py`."""

from __future__ import annotations

import pickle
import time

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


class Silent(Consumer):
    """A consumer with nothing to give: each poll waits its whole timeout, as librdkafka does for a partition that is
    gone."""

    def __init__(self) -> None:
        super().__init__(Failed(KafkaError(KafkaError._PARTITION_EOF, "end"), None, None))

    def poll(self, timeout: float) -> None:  # type: ignore[override]
        time.sleep(timeout)


def _silent(stall: float) -> TopicReader:
    reader = TopicReader(Settings(kafka_bootstrap="127.0.0.1:9", replay_stall_seconds=stall), 16 * 1024 * 1024)
    reader.consumer.close()
    reader.consumer = Silent()  # type: ignore[assignment]
    return reader


def test_polls_that_move_no_position_for_the_stall_bound_fail_naming_the_partitions() -> None:
    reader = _silent(0.25)
    reader.read_from({TopicPartition(f"cdc.public.t{n}", n % 2): 0 for n in range(6)})
    reader.poll(10)
    reader.poll(10)  # 0.1 s each (POLL_SECONDS): past 0.25 s on the third
    with pytest.raises(ReadFailed) as failed:
        reader.poll(10)
    assert str(pickle.loads(pickle.dumps(failed.value))) == (
        "Kafka at 127.0.0.1:9 (RUNSEARCH_KAFKA_BOOTSTRAP) gave nothing of cdc.public.t0 [0], cdc.public.t1 [1], "
        "cdc.public.t2 [0], cdc.public.t3 [1] and 2 more for 0 s (RUNSEARCH_REPLAY_STALL_SECONDS): a topic deleted or "
        "recreated during the replay, a partition without a leader, or a transaction left open (a replay reads "
        "committed records only)")


def test_only_time_in_polls_without_a_move_counts_toward_the_stall_bound() -> None:
    reader = _silent(0.25)
    tp = TopicPartition("cdc.public.tasks", 0)
    reader.read_from({tp: 3})
    reader.poll(10)
    time.sleep(0.3)  # merging what was read: not waiting on Kafka
    reader.poll(10)
    # A partition's end past the position (records compacted away) is a move: the bound counts again from there.
    reader.consumer.poll = lambda _: Failed(KafkaError(KafkaError._PARTITION_EOF, "end"), tp.topic, tp.partition, 9)  # type: ignore[method-assign]
    reader.poll(10)
    reader.consumer = Silent()  # type: ignore[assignment]
    reader.poll(10)
    reader.poll(10)
    assert reader.position(tp) == 9
    with pytest.raises(ReadFailed):
        reader.poll(10)
