"""The Kafka shell of the indexer, with fakes for Kafka's consumer and producer and for the index writer: a batch
is committed only after it is applied and its dead letters are acknowledged, nothing is committed while a server
fails, a failed commit is made good, and records taken by keep-alive polls wait for the next batch. The same
against the real servers: tests/integration/test_indexer.py and test_restarts.py."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import CommitFailedError, KafkaTimeoutError
from kafka.structs import OffsetAndMetadata

from runsearch.demo.dataset import RowChange
from runsearch.demo.events import messages
from runsearch.errors import DataError
from runsearch.indexer.consumer import Indexer
from runsearch.indexer.decode import Change
from runsearch.indexer.pipeline import Outcome
from runsearch.indexer.progress import Progress
from runsearch.indexer.store import WriteError
from runsearch.settings import Settings
from tests.unit.indexer.events import RUN

SETTINGS = Settings(retry_max_seconds=0.05, max_poll_interval_ms=3_000)
TOPIC = SETTINGS.topic("workflow_runs")


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def records(partition: int, first: int, runs: list[str], value: bytes | None = None) -> list[Record]:
    out = []
    for n, rid in enumerate(runs):
        key, encoded = next(messages(RowChange("workflow_runs", "c", {**RUN, "workflow_run_id": rid}, 10 + n)))
        out.append(Record(TOPIC, partition, first + n, key, encoded if value is None else value))
    return out


@dataclass
class Journal:
    """What happened, in order, across the fakes."""

    events: list[str] = field(default_factory=list)


class FakeConsumer:
    def __init__(self, journal: Journal, batches: list[list[Record]]) -> None:
        self.journal, self.batches, self.commits = journal, list(batches), []
        self.failing_commits = 0
        self.config = {"group_id": "g"}
        self.existing: set[str] | None = {TOPIC}  # the topics Kafka lists (None: it cannot be asked)
        self.incarnation = "t1"  # the topic's id in the consumer's metadata
        self.stamps: dict[int, str] = {}  # per partition, what the committed offset was stamped with
        self.sought: list[set[int]] = []  # partitions sent back to their start
        self._cluster = self  # where kafka-python keeps topic ids

    def topic_id(self, topic: str) -> str:
        return self.incarnation

    def committed(self, tp: TopicPartition, metadata: bool = False) -> OffsetAndMetadata | None:
        return OffsetAndMetadata(1, self.stamps[tp.partition], -1) if tp.partition in self.stamps else None

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        self.sought.append({tp.partition for tp in partitions})

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[TopicPartition, list[Record]]:
        self.journal.events.append("poll")
        if not self.batches:
            return {}
        polled: dict[TopicPartition, list[Record]] = {}
        for rec in self.batches.pop(0):
            polled.setdefault(TopicPartition(rec.topic, rec.partition), []).append(rec)
        return polled

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return {0, 1, 2} if self.existing is None or topic in self.existing else None

    def topics(self) -> set[str]:
        if self.existing is None:
            raise KafkaTimeoutError("no broker")
        return self.existing

    def commit(self, offsets: dict[TopicPartition, Any], timeout_ms: int | None = None) -> None:
        if self.failing_commits:
            self.failing_commits -= 1
            self.journal.events.append("commit failed")
            raise CommitFailedError("rebalanced")
        self.commits.append({tp.partition: meta.offset for tp, meta in offsets.items()})
        self.stamps = {tp.partition: meta.metadata for tp, meta in offsets.items()}
        self.journal.events.append("commit")

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(TOPIC, p) for p in range(3)}

    def end_offsets(self, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: 0 for tp in parts}

    def position(self, tp: TopicPartition) -> int:
        return 0

    def close(self) -> None:
        pass


class FakeProducer:
    def __init__(self, journal: Journal) -> None:
        self.journal, self.sent, self.failing = journal, [], 0

    def send(self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> Any:
        self.sent.append((topic, key, value, dict(headers)))
        failing = self.failing > 0
        self.failing -= failing

        class Future:
            def get(self, timeout: float) -> None:
                if failing:
                    raise KafkaTimeoutError("not acknowledged")

        return Future()

    def flush(self) -> None:
        self.journal.events.append("flush")

    def close(self) -> None:
        pass


class FakeWriter:
    """Applies by writing down; fails as told: passing errors `transient` times, and for the runs in `refused`."""

    def __init__(self, journal: Journal, transient: int = 0, refused: frozenset[str] = frozenset()) -> None:
        self.journal, self.transient, self.refused = journal, transient, refused
        self.applied: list[str] = []
        self.during: list[Any] = []  # called while applying (a fan-out's progress)
        self.prepared = 0
        self.beats: list[tuple[str, dict[str, Any]]] = []

    def prepare(self) -> None:
        self.prepared += 1

    def heartbeat(self, group: str, fields: dict[str, Any]) -> None:
        self.beats.append((group, fields))

    def apply(self, changes: list[Change]) -> Outcome:
        if self.transient:
            self.transient -= 1
            self.journal.events.append("apply failed")
            raise WriteError("OpenSearch overloaded: 429")
        if any(c.key[0] in self.refused for c in changes):
            raise DataError("OpenSearch refused document: 400 mapper_parsing_exception")
        for hook in self.during:
            hook()
        self.applied += [c.key[0] for c in changes]
        self.journal.events.append("apply")
        return Outcome()


def indexer(batches: list[list[Record]], **writer: Any) -> tuple[Indexer, FakeConsumer, FakeProducer, FakeWriter, Journal]:
    journal = Journal()
    consumer, producer, fake = FakeConsumer(journal, batches), FakeProducer(journal), FakeWriter(journal, **writer)
    return Indexer(SETTINGS, consumer=consumer, producer=producer, writer=fake), consumer, producer, fake, journal  # type: ignore[arg-type]


def test_a_batch_is_committed_after_it_is_applied_up_to_its_last_offsets() -> None:
    live, consumer, _, writer, journal = indexer([records(0, 5, ["wr_a", "wr_b"]) + records(1, 9, ["wr_c"])])
    assert live.run_once() == 3
    assert writer.applied == ["wr_a", "wr_b", "wr_c"] and consumer.commits == [{0: 7, 1: 10}]
    assert journal.events == ["poll", "apply", "commit"]
    live.run_once()
    assert writer.prepared == 1  # before the first batch only


def test_poison_is_a_dead_letter_acknowledged_before_the_commit_and_the_rest_applies() -> None:
    batch = records(0, 0, ["wr_a"]) + records(0, 1, ["wr_bad"], value=b"{not json") + records(0, 2, ["wr_c"])
    live, consumer, producer, writer, journal = indexer([batch])
    live.run_once()
    ((topic, _, value, headers),) = producer.sent
    assert (topic, value) == (SETTINGS.deadletter_topic, b"{not json") and headers["__connect.errors.offset"] == b"1"
    assert writer.applied == ["wr_a", "wr_c"] and consumer.commits == [{0: 3}]
    assert journal.events.index("flush") < journal.events.index("commit")


def test_a_change_that_cannot_be_applied_is_a_dead_letter_and_the_others_apply() -> None:
    refused = frozenset({"wr_refused"})
    live, consumer, producer, writer, _ = indexer([records(0, 0, ["wr_a", "wr_refused", "wr_c"])], refused=refused)
    live.run_once()
    (_, _, _, headers), = producer.sent
    assert headers["__connect.errors.stage"] == b"TASK_PUT" and headers["__connect.errors.offset"] == b"1"
    assert b"mapper_parsing_exception" in headers["__connect.errors.exception.message"]
    assert sorted(writer.applied) == ["wr_a", "wr_c"] and consumer.commits == [{0: 3}]


def test_a_passing_failure_is_retried_and_nothing_is_committed_before_it_applies() -> None:
    live, consumer, _, _, journal = indexer([records(0, 0, ["wr_a"])], transient=2)
    live.run_once()
    assert journal.events == ["poll", "apply failed", "apply failed", "apply", "commit"]
    assert consumer.commits == [{0: 1}]


def test_stopping_while_a_server_fails_commits_nothing() -> None:
    live, consumer, _, _, _ = indexer([records(0, 0, ["wr_a"])], transient=10**6)
    threading.Timer(0.3, live.stop).start()
    live.run_once()
    assert consumer.commits == []


def test_dead_letters_not_acknowledged_hold_the_commit_until_they_are() -> None:
    live, consumer, producer, _, journal = indexer([records(0, 0, ["wr_bad"], value=b"nope")])
    producer.failing = 1
    live.run_once()
    assert len(producer.sent) == 2 and journal.events.count("flush") == 2 and consumer.commits == [{0: 1}]


def test_a_failed_commit_is_made_good_by_the_next_one_or_when_idle() -> None:
    live, consumer, _, _, journal = indexer([records(0, 0, ["wr_a"]), records(1, 0, ["wr_b"])])
    consumer.failing_commits = 1
    live.run_once()
    live.run_once()  # partition 1 only: partition 0 is committed with it
    assert consumer.commits == [{0: 1, 1: 1}]
    consumer.failing_commits = 1
    consumer.batches = [records(2, 0, ["wr_c"])]
    live.run_once()
    live.run_once()  # idle: the failed commit is tried again
    assert consumer.commits[-1] == {0: 1, 1: 1, 2: 1} and journal.events[-2:] == ["poll", "commit"]


def test_a_deleted_topics_partitions_are_left_out_of_commits_once_one_fails() -> None:
    """A topic deleted under the indexer stays assigned until the group rebalances, and a commit naming it fails
    (after kafka-python's retries: every batch of every topic was held so)."""
    live, consumer, _, writer, _ = indexer([records(0, 0, ["wr_a"]), records(1, 0, ["wr_b"])])
    consumer.failing_commits, consumer.existing = 1, set()
    live.run_once()  # applied; its commit fails, and the topic is no longer listed
    assert writer.applied == ["wr_a"] and consumer.commits == []
    consumer.existing = {TOPIC}  # created again: read, and committed, as any other
    live.run_once()
    assert writer.applied == ["wr_a", "wr_b"] and consumer.commits == [{1: 1}]


def test_a_commit_that_fails_while_kafka_cannot_list_its_topics_keeps_every_partition_for_the_next() -> None:
    live, consumer, _, _, _ = indexer([records(0, 0, ["wr_a"])])
    consumer.failing_commits, consumer.existing = 1, None
    live.run_once()
    consumer.existing = {TOPIC}
    live.run_once()  # idle: tried again, whole
    assert consumer.commits == [{0: 1}]


def test_records_a_keep_alive_poll_takes_are_applied_with_the_next_batch_and_committed_then() -> None:
    live, consumer, _, writer, _ = indexer([records(0, 0, ["wr_a"]), records(0, 1, ["wr_b"])])
    live._polled_at -= 10  # the fan-out in hand has run for a while: the next progress report polls
    writer.during.append(lambda: live._fan_out_progress(1, 2))
    live.run_once()
    assert writer.applied == ["wr_a"] and consumer.commits == [{0: 1}]  # wr_b was taken, not committed
    writer.during.clear()
    live.run_once()
    assert writer.applied == ["wr_a", "wr_b"] and consumer.commits[-1] == {0: 2}


def test_a_topic_created_again_is_read_from_its_start_and_nothing_read_of_it_before_is_committed() -> None:
    """kafka-python goes on from the old topic's positions in the new one (records 7 and on of partition 0 here):
    those are left out, and the partitions read again from their start."""
    live, consumer, _, writer, _ = indexer([records(0, 5, ["wr_a"]), records(0, 7, ["wr_b"]) + records(1, 3, ["wr_c"]),
                                            records(0, 0, ["wr_new"])])
    live.run_once()
    assert consumer.commits == [{0: 6}] and consumer.stamps == {0: "t1"}
    consumer.incarnation = "t2"
    live.run_once()
    assert consumer.sought == [{0, 1, 2}] and writer.applied == ["wr_a"] and consumer.commits == [{0: 6}]
    live.run_once()
    assert writer.applied == ["wr_a", "wr_new"] and consumer.commits[-1] == {0: 1} and consumer.stamps == {0: "t2"}


def test_a_commit_stamped_with_another_incarnation_sends_its_partition_to_the_start() -> None:
    """The process that committed it had gone on from an old topic's position in a new one."""
    live, consumer, _, writer, _ = indexer([records(0, 7, ["wr_a"]), records(0, 0, ["wr_b"])])
    consumer.stamps, consumer.incarnation = {0: "t1", 1: "t2"}, "t2"
    live.run_once()
    assert consumer.sought == [{0}] and writer.applied == []
    live.run_once()
    assert writer.applied == ["wr_b"] and consumer.commits == [{0: 1}]


@pytest.mark.parametrize("value", [b"", b"[]", b'{"op": "c"}'])
def test_a_whole_batch_of_poison_is_committed_once_its_letters_are_sent(value: bytes) -> None:
    live, consumer, producer, writer, _ = indexer([records(0, 0, ["wr_a", "wr_b"], value=value)])
    live.run_once()
    assert len(producer.sent) == 2 and writer.applied == [] and consumer.commits == [{0: 2}]


def test_a_progress_line_says_what_was_done_since_the_last_and_is_the_heartbeat(caplog: pytest.LogCaptureFixture) -> None:
    live, consumer, _, writer, _ = indexer([records(0, 0, ["wr_a", "wr_b"]), records(0, 2, ["wr_c"], value=b"not json")])
    ticks = iter([0.0, 0.5, 4.0, 4.5, 5.0])
    live.progress = Progress(interval=2.0, clock=lambda: next(ticks))
    consumer.end_offsets = lambda parts: {tp: 5 for tp in parts}  # type: ignore[method-assign]  # 5 behind on each of 3
    with caplog.at_level(logging.INFO, logger="runsearch.indexer.consumer"):
        live.run_once()  # at 0.5 s: nothing due yet
        live.run_once()  # at 4.0 s: a line for both batches
        live.run_once()  # at 4.5 s: the next one is 2 s away
    lines = [r.fields for r in caplog.records if r.getMessage() == "progress"]  # type: ignore[attr-defined]
    assert lines == [{"seconds": 4.0, "events": 3, "events_per_second": 0.8, "documents_written": 0, "dead_letters": 1,
                      "lag": 15, "newest_change_age_seconds": pytest.approx(lines[0]["newest_change_age_seconds"])}]
    assert writer.beats == [("g", {**lines[0], "newest_change_at": pytest.approx(writer.beats[0][1]["newest_change_at"])})]
