"""The Kafka shell of the indexer: poll a batch, decode it, apply it, then commit (at-least-once).

Offsets are committed only after every write of the batch was acknowledged and every dead letter
was flushed, so a process killed at any moment loses nothing: the batch is delivered again and,
since applying is idempotent, converges to the same documents. No event can stop the ones after it:
what cannot be decoded, and what cannot be applied for what it holds (found by `isolation`), becomes a
dead letter. A long fan-out (and a batch retried while OpenSearch is away) polls in between, so the
consumer never leaves its group; what those polls return is applied with the next batch (offsets are
committed per batch, explicitly).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata
from opensearchpy.exceptions import TransportError
from prometheus_client import start_http_server

from runsearch import clients
from runsearch.errors import DataError
from runsearch.indexer import collector, deadletter, deadletter_topic, metrics, offsets, store
from runsearch.indexer.decode import Change, decode
from runsearch.indexer.incarnations import Incarnations
from runsearch.indexer.isolation import apply_isolating
from runsearch.indexer.pipeline import Outcome
from runsearch.indexer.ports import Applier
from runsearch.indexer.progress import Progress
from runsearch.indexer.tables import topics
from runsearch.indexer.writer import NoGeneration, Writer
from runsearch.mappings import Generation
from runsearch.settings import Settings

log = logging.getLogger(__name__)

LAG_INTERVAL_SECONDS = 5.0
COMMIT_TIMEOUT_MS = 10_000  # a commit kafka-python cannot make in this time is left to the next batch's
# kafka-python's metadata refresh (its default: 5 minutes): a topic created again under the indexer, unseen until then,
# is read from its start within this (`indexer.incarnations`). The request names the CDC topics only.
METADATA_MAX_AGE_MS = 30_000
KEEPALIVE_RECORDS = 500  # most records one keep-alive poll takes (applied with the next batch)
# Errors of a server that is away or overloaded, or of nothing to write yet: the batch is retried with back-off,
# never skipped, never committed.
TRANSIENT = (TransportError, store.WriteError, KafkaError, NoGeneration)
T = TypeVar("T")


@dataclass
class Decoded:
    changes: list[tuple[ConsumerRecord, Change]] = field(default_factory=list)
    dead: list[deadletter.Letter] = field(default_factory=list)  # dead letters to publish


def decode_batch(records: Iterable[ConsumerRecord], tables: dict[str, str], settings: Settings) -> Decoded:
    out = Decoded()
    for rec in records:
        table = tables.get(rec.topic)
        try:
            change = decode(table or "", rec.key, rec.value, settings.unavailable_value_placeholder,
                            (rec.partition, rec.offset))
        except DataError as err:
            out.dead.append(dead_letter(settings, rec, table, type(err).__name__, str(err), "VALUE_CONVERTER"))
            continue
        except Exception as err:  # noqa: BLE001 - no event may stop the ones after it; its message may quote it
            out.dead.append(dead_letter(settings, rec, table, type(err).__name__,
                                        f"{type(err).__name__} while decoding the event", "VALUE_CONVERTER"))
            continue
        out.changes.append((rec, change))
    return out


def dead_letter(settings: Settings, rec: ConsumerRecord, table: str | None, error: str, reason: str,
                stage: deadletter.Stage) -> deadletter.Letter:
    metrics.EVENTS.labels(rec.topic, "deadlettered").inc()
    log.warning("dead letter", extra={"fields": {"topic": rec.topic, "partition": rec.partition, "offset": rec.offset,
                                                  "stage": stage, "reason": reason}})
    return deadletter.letter(reason, error, stage, (rec.topic, rec.partition, rec.offset), table, rec.key, rec.value,
                             settings.deadletter_max_bytes)


class Indexer:
    """The live indexer: it writes every generation that has its write aliases and this version's mappings (read
    again before every batch). Or, with `rebuild`, a replay of the topics into that one generation: its own
    consumer group, and no second copy of the live indexer's dead letters."""

    def __init__(self, settings: Settings, rebuild: Generation | None = None, *, consumer: KafkaConsumer | None = None,
                 producer: KafkaProducer | None = None, writer: Applier | None = None,
                 dead_letters: bool | None = None) -> None:
        """Kafka's consumer and producer and the writer of the index are made from `settings` unless given (tests
        give fakes). Dead letters are sent by the live indexer, and by a rebuild only when asked (`dead_letters`:
        a first build, which no live indexer ever replays)."""
        self.settings = settings
        self.stopping = threading.Event()
        self.tables = topics(settings)
        self.rebuild = rebuild
        self.dead_letters = rebuild is None if dead_letters is None else dead_letters
        if producer is None:
            if self.dead_letters:
                deadletter_topic.ensure(settings)
            producer = deadletter_topic.producer(settings)
        self.producer = producer
        if consumer is None:
            group = offsets.rebuild_group(settings, rebuild.number) if rebuild else settings.consumer_group
            consumer = KafkaConsumer(
                *self.tables, **clients.kafka(settings), group_id=group,
                enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=settings.batch_size,
                fetch_max_bytes=settings.batch_max_bytes, max_poll_interval_ms=settings.max_poll_interval_ms,
                # A killed indexer's partitions move to the others after 10 s, not the client default's 45 s.
                session_timeout_ms=10_000, heartbeat_interval_ms=3_000, metadata_max_age_ms=METADATA_MAX_AGE_MS,
                # Round-robin first: range, the client's first choice, gives the first of two indexers two of every
                # topic's three partitions, so it alone carried two thirds of every stream (it lagged in the bench).
                partition_assignment_strategy=(RoundRobinPartitionAssignor, RangePartitionAssignor),
            )
            # The topics' metadata before the first join: a group leader without it assigns nothing ("No partition
            # metadata for topic") until the next metadata refresh, five minutes later, and the indexer sits idle.
            for topic in self.tables:
                consumer.partitions_for_topic(topic)
        self.consumer = consumer
        self.writer = writer or Writer(settings, rebuild, self._fan_out_progress, self._keep_alive)
        self._lag_at = 0.0
        self._polled_at = time.monotonic()
        self._carried: list[ConsumerRecord] = []  # taken by keep-alive polls, applied with the next batch
        self._applied: dict[TopicPartition, int] = {}  # per partition, the offset after the last event applied
        self._uncommitted = False  # a commit failed: try again, even when no more events come
        self._incarnations = Incarnations()
        self._indices_ready = rebuild is not None  # a rebuild's indices are created by its caller
        self.progress = Progress(settings.progress_interval_seconds)
        self._lag = 0

    def stop(self, *_: object) -> None:
        self.stopping.set()

    def _retry(self, what: str, action: Callable[[], T]) -> T | None:
        """`action()`, repeated until it succeeds, backing off while OpenSearch or Kafka fails; None if stopped first."""
        delay = 0.5
        while not self.stopping.is_set():
            try:
                return action()
            except TRANSIENT as err:
                metrics.RETRIES.inc()
                log.warning(f"{what} failed, retrying", extra={"fields": {"error": type(err).__name__,
                                                                          "detail": str(err)[:300], "in_s": delay}})
                self.stopping.wait(delay)
                delay = min(delay * 2, self.settings.retry_max_seconds)
                self._keep_alive()
        return None

    def run_once(self) -> int:
        """Poll, apply and commit one batch. Returns how many messages it held."""
        if not self._indices_ready:
            self._indices_ready = self._retry("creating the first generation", self._prepare) is not None
        polled = self.consumer.poll(timeout_ms=self.settings.poll_timeout_ms)
        self._polled_at = time.monotonic()
        messages, self._carried = self._current(self._carried + [rec for batch in polled.values() for rec in batch]), []
        if messages:
            self._apply(messages)
        elif self._uncommitted:
            self._commit()
        self._update_lag()
        if (line := self.progress.due()) is not None:
            self._report({**line, "lag": self._lag, "newest_change_age_seconds": round(metrics.change_age(), 1)})
        return len(messages)

    def _current(self, messages: list[ConsumerRecord]) -> list[ConsumerRecord]:
        """`messages` without those of partitions whose topic was created again since their position was set: those
        are read again from their start (`indexer.incarnations`), and nothing applied of them is committed."""
        moved = self._incarnations.moved(self.consumer.assignment(), lambda topic: offsets.topic_id(self.consumer, topic),
                                         self._stamp_committed)
        if not moved:
            return messages
        log.warning("topic created again: its partitions are read from their start",
                    extra={"fields": {"partitions": sorted(f"{tp.topic}[{tp.partition}]" for tp in moved)}})
        for tp in moved:
            self._applied.pop(tp, None)
        self.consumer.seek_to_beginning(*moved)
        return [rec for rec in messages if TopicPartition(rec.topic, rec.partition) not in moved]

    def _stamp_committed(self, tp: TopicPartition) -> str:
        committed = self._retry("reading a committed offset", lambda: self.consumer.committed(tp, metadata=True))
        return committed.metadata if committed is not None else ""

    def _report(self, progress: dict[str, float]) -> None:
        """The progress line in the log, and as this indexer's heartbeat where `status` reads it (a heartbeat that
        fails is only logged: it must never hold up indexing)."""
        log.info("progress", extra={"fields": progress})
        try:
            self.writer.heartbeat(self.consumer.config["group_id"], {**progress, "newest_change_at": metrics.newest_change()})
        except (TransportError, OSError) as err:
            log.warning("heartbeat failed", extra={"fields": {"error": type(err).__name__}})

    def _prepare(self) -> bool:
        self.writer.prepare()
        return True

    def _apply(self, messages: list[ConsumerRecord]) -> None:
        decoded = decode_batch(messages, self.tables, self.settings)
        changes = [change for _, change in decoded.changes]
        with metrics.BATCH_SECONDS.time():
            isolated = self._retry("applying a batch", lambda: apply_isolating(self.writer.apply, changes, TRANSIENT))
        if isolated is None:
            return  # stopping with the batch unapplied: it is not committed, and will come again
        failed = [(decoded.changes[i][0], failure) for i, failure in sorted(isolated.failures.items())]
        dead = decoded.dead + [dead_letter(self.settings, rec, self.tables.get(rec.topic), failure.error, failure.reason,
                                           "TASK_PUT") for rec, failure in failed]
        if self.dead_letters and dead and self._retry("sending dead letters", lambda: self._send(dead)) is None:
            return
        for rec in messages:
            tp = TopicPartition(rec.topic, rec.partition)
            self._applied[tp] = max(self._applied.get(tp, 0), rec.offset + 1)
        self._commit()
        self._count(changes, isolated.outcome)
        self.progress.add(len(messages), isolated.outcome.documents_written, len(dead))

    def _send(self, letters: list[deadletter.Letter]) -> bool:
        return deadletter_topic.send(self.producer, self.settings.deadletter_topic, letters)

    def _commit(self) -> None:
        """Commit what was applied on the partitions assigned to us (every batch so far: a commit that failed is
        covered by the next one), and nothing a keep-alive poll took meanwhile."""
        assigned = self.consumer.assignment()
        self._applied = {tp: end for tp, end in self._applied.items() if tp in assigned}  # others' now
        try:
            self.consumer.commit({tp: OffsetAndMetadata(end, self._incarnations.stamp(tp), -1)
                                  for tp, end in self._applied.items()},
                                 timeout_ms=COMMIT_TIMEOUT_MS)
            self._uncommitted = False
        except KafkaError as err:
            # A rebalance or a broker away: committed on the next batch or poll; until then a restart (or the
            # partition's new owner) gets the events again, which is harmless, as applying is idempotent.
            self._uncommitted = True
            metrics.COMMIT_FAILURES.inc()
            log.warning("commit failed; it is tried again", extra={"fields": {"error": type(err).__name__}})
            # A topic deleted under the indexer stays assigned until the group rebalances, and a commit naming it
            # fails, every batch: its partitions are left out from now on (nothing of it is left to commit).
            with contextlib.suppress(KafkaError):  # Kafka away: the next commit tries them all again
                existing = self.consumer.topics()
                self._applied = {tp: end for tp, end in self._applied.items() if tp.topic in existing}

    def _fan_out_progress(self, done: int, total: int) -> None:
        metrics.FAN_OUT_REMAINING.set(total - done)
        self._keep_alive()

    def _keep_alive(self) -> None:
        """Poll (keeping what it returns for the next batch) if the last poll is getting old: the group drops a
        member that has not polled for `max.poll.interval.ms`, and its partitions move to another member."""
        if time.monotonic() - self._polled_at < self.settings.max_poll_interval_ms / 1000 / 3:
            return
        if len(self._carried) >= self.settings.batch_size:
            return  # waiting long (OpenSearch away): rather leave the group than hold ever more records
        try:
            polled = self.consumer.poll(timeout_ms=0, max_records=KEEPALIVE_RECORDS)
        except KafkaError as err:  # the broker away: the batch's own retries and commit say what happens next
            log.warning("keep-alive poll failed", extra={"fields": {"error": type(err).__name__}})
            return
        self._polled_at = time.monotonic()
        self._carried += [rec for batch in polled.values() for rec in batch]

    def _count(self, changes: list[Change], outcome: Outcome) -> None:
        topics = {self.settings.topic(c.table): c.table for c in changes}
        for topic, table in topics.items():
            for label, counter in (("applied", outcome.applied), ("stale", outcome.stale)):
                if counter[table]:
                    metrics.EVENTS.labels(topic, label).inc(counter[table])
            if outcome.incomplete[table]:
                metrics.UNAVAILABLE.labels(topic).inc(outcome.incomplete[table])
        metrics.DOCUMENTS.inc(outcome.documents_written)
        metrics.FAN_OUT_RUNS.inc(outcome.fanned_out)
        newest = max((c.ts_ms for c in changes if c.ts_ms), default=None)
        if newest:
            metrics.change_applied(newest)

    def caught_up(self) -> bool:
        """True once every partition of the topics is assigned to us and consumed up to its current end."""
        if self._carried:
            return False
        assigned = list(self.consumer.assignment())
        if len(assigned) < sum(len(self.consumer.partitions_for_topic(t) or ()) for t in self.tables):
            return False
        ends = self.consumer.end_offsets(assigned)
        return all(self.consumer.position(tp) >= end for tp, end in ends.items())

    def _update_lag(self) -> None:
        if time.monotonic() - self._lag_at < LAG_INTERVAL_SECONDS:
            return
        self._lag_at = time.monotonic()
        try:
            # Not a topic deleted under the indexer (assigned until the group rebalances): kafka-python fails its
            # end offsets with a KeyError, which stopped the indexer. Its metadata drops such a topic once a fetch
            # has failed on it; a topic it lists is looked up there, without a request.
            every = self.consumer.assignment()
            listed = {topic for topic in {tp.topic for tp in every} if self.consumer.partitions_for_topic(topic)}
            assigned = [tp for tp in every if tp.topic in listed]
            if not assigned:
                return
            ends = self.consumer.end_offsets(assigned)
        except (KafkaError, KeyError):  # a topic deleted since the metadata was fetched: measured next time
            return
        lags = {tp: max(ends[tp] - self.consumer.position(tp), 0) for tp in assigned}
        for tp, lag in lags.items():
            metrics.LAG.labels(tp.topic, str(tp.partition)).set(lag)
        self._lag = sum(lags.values())

    def run(self) -> None:
        log.info("indexer started", extra={"fields": {"topics": sorted(self.tables), "group": self.consumer.config["group_id"]}})
        with collector.per_batch() as collect:
            while not self.stopping.is_set():
                self.run_once()
                collect()
        self.close()

    def close(self) -> None:
        self.producer.flush()
        self.producer.close()
        self.consumer.close()
        log.info("indexer stopped", extra={"fields": {"group": self.consumer.config["group_id"]}})  # a rebuild's, too


def main(settings: Settings, first: Callable[[], object] = lambda: None) -> None:
    """Run the live indexer until SIGTERM or SIGINT; the batch in hand is finished and committed. `first` runs once the
    metrics are served, before the indexer joins its group (a first build: minutes, during which a scraper must not
    take the indexer for down)."""
    if settings.indexer_metrics_port:
        start_http_server(settings.indexer_metrics_port, addr=settings.bind_host)
    first()
    indexer = Indexer(settings)
    signal.signal(signal.SIGTERM, indexer.stop)
    signal.signal(signal.SIGINT, indexer.stop)
    indexer.run()
