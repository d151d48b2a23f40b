"""The Kafka shell of the indexer: poll a batch, decode it, apply it, then commit (at-least-once).

Offsets are committed only after every write of the batch was acknowledged and every dead letter
was flushed, so a process killed at any moment loses nothing: the batch is delivered again and,
since applying is idempotent, converges to the same documents.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import TransportError
from prometheus_client import start_http_server

from indexer import deadletter, metrics, store
from indexer.decode import Change, Poison, decode
from indexer.pipeline import Outcome, Pipeline
from mappings import Names, Pinned
from runsearch.settings import Settings

log = logging.getLogger(__name__)

LAG_INTERVAL_SECONDS = 5.0
T = TypeVar("T")


@dataclass
class Decoded:
    changes: list[Change]
    dead: list[bytes]  # dead-letter records to publish


def decode_batch(records: Iterable[ConsumerRecord], tables: dict[str, str]) -> Decoded:
    out = Decoded([], [])
    for rec in records:
        table = tables.get(rec.topic)
        try:
            change = decode(table or "", rec.key, rec.value)
        except Poison as err:
            out.dead.append(deadletter.record(str(err), rec.topic, table, rec.partition, rec.offset, rec.key, rec.value))
            metrics.EVENTS.labels(rec.topic, "deadlettered").inc()
            log.warning("dead letter", extra={"fields": {"topic": rec.topic, "partition": rec.partition,
                                                          "offset": rec.offset, "reason": str(err)}})
            continue
        if change is None:
            metrics.EVENTS.labels(rec.topic, "tombstone").inc()
            continue
        out.changes.append(change)
    return out


class Indexer:
    """The live indexer, or (with `rebuild`) a replay into one generation's indices before it goes live:
    its own consumer group, no aliases, and no second copy of the live indexer's dead letters."""

    def __init__(self, settings: Settings, rebuild: Pinned | None = None) -> None:
        self.settings = settings
        self.stopping = threading.Event()
        self.tables = settings.topics()
        self.os = store.client(settings.opensearch_url)
        self.names = rebuild or Names(settings.index_prefix)
        self.rebuild = rebuild is not None
        self.pipeline = Pipeline(store.OpenSearchStore(self.os, through_aliases=not self.rebuild), self.names)
        group = f"{settings.consumer_group}-rebuild-v{rebuild.generation}" if rebuild else settings.consumer_group
        self.consumer = KafkaConsumer(
            *self.tables, bootstrap_servers=settings.kafka_bootstrap, group_id=group,
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=settings.batch_size,
            # A killed indexer's partitions move to the others after 10 s, not the client default's 45 s.
            session_timeout_ms=10_000, heartbeat_interval_ms=3_000,
        )
        self.producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
        self._lag_at = 0.0
        self._indices_ready = self.rebuild  # a rebuild's indices are created by its caller

    def stop(self, *_: object) -> None:
        self.stopping.set()

    def _retry(self, what: str, action: Callable[[], T]) -> T | None:
        """`action()`, repeated until it succeeds, backing off while OpenSearch or Kafka fails; None if stopped first."""
        delay = 0.5
        while not self.stopping.is_set():
            try:
                return action()
            except (OpenSearchConnectionError, TransportError, store.WriteError, KafkaError) as err:
                metrics.RETRIES.inc()
                log.warning(f"{what} failed, retrying", extra={"fields": {"error": type(err).__name__,
                                                                          "detail": str(err)[:300], "in_s": delay}})
                self.stopping.wait(delay)
                delay = min(delay * 2, self.settings.retry_max_seconds)
        return None

    def run_once(self) -> int:
        """Poll, apply and commit one batch. Returns how many messages it held."""
        if not self._indices_ready:
            self._indices_ready = bool(self._retry("creating the indices", self._ensure_indices))
        polled = self.consumer.poll(timeout_ms=self.settings.poll_timeout_ms)
        messages = [rec for batch in polled.values() for rec in batch]
        if messages:
            self._apply(messages)
        self._update_lag()
        return len(messages)

    def _ensure_indices(self) -> bool:
        store.ensure_indices(self.os, self.names)
        return True

    def _apply(self, messages: list[ConsumerRecord]) -> None:
        decoded = decode_batch(messages, self.tables)
        with metrics.BATCH_SECONDS.time():
            outcome = self._retry("applying a batch", lambda: self.pipeline.apply(decoded.changes))
        dead = decoded.dead if not self.rebuild else []
        if outcome is None or (dead and self._retry("sending dead letters", lambda: self._send(dead)) is None):
            return  # stopping with the batch unapplied: it is not committed, and will come again
        try:
            self.consumer.commit()
        except KafkaError as err:
            # A rebalance or a broker away: the batch is delivered again (to us or the partition's new owner),
            # which is harmless, as applying is idempotent.
            log.warning("commit failed; the batch will be delivered again", extra={"fields": {"error": type(err).__name__}})
        self._count(decoded, outcome)

    def _send(self, entries: list[bytes]) -> bool:
        """Every dead letter acknowledged by the broker (raises if one is not, to be retried: at-least-once)."""
        futures = [self.producer.send(self.settings.deadletter_topic, entry) for entry in entries]
        self.producer.flush()
        for future in futures:
            future.get(timeout=0)
        return True

    def _count(self, decoded: Decoded, outcome: Outcome) -> None:
        topics = {self.settings.topic(c.table): c.table for c in decoded.changes}
        for topic, table in topics.items():
            if outcome.applied[table]:
                metrics.EVENTS.labels(topic, "applied").inc(outcome.applied[table])
            if outcome.stale[table]:
                metrics.EVENTS.labels(topic, "stale").inc(outcome.stale[table])
        metrics.DOCUMENTS.inc(outcome.documents_written)
        newest = max((c.ts_ms for c in decoded.changes if c.ts_ms), default=None)
        if newest:
            metrics.change_applied(newest)

    def caught_up(self) -> bool:
        """True once every partition of the topics is assigned to us and consumed up to its current end."""
        assigned = list(self.consumer.assignment())
        if len(assigned) < sum(len(self.consumer.partitions_for_topic(t) or ()) for t in self.tables):
            return False
        ends = self.consumer.end_offsets(assigned)
        return all(self.consumer.position(tp) >= end for tp, end in ends.items())

    def _update_lag(self) -> None:
        if time.monotonic() - self._lag_at < LAG_INTERVAL_SECONDS:
            return
        self._lag_at = time.monotonic()
        assigned = list(self.consumer.assignment())
        if not assigned:
            return
        try:
            ends = self.consumer.end_offsets(assigned)
        except KafkaError:
            return
        for tp in assigned:
            metrics.LAG.labels(tp.topic, str(tp.partition)).set(max(ends[tp] - self.consumer.position(tp), 0))

    def run(self) -> None:
        log.info("indexer started", extra={"fields": {"topics": sorted(self.tables), "group": self.consumer.config["group_id"]}})
        while not self.stopping.is_set():
            self.run_once()
        self.close()

    def close(self) -> None:
        self.producer.flush()
        self.producer.close()
        self.consumer.close()
        log.info("indexer stopped")


def main(settings: Settings) -> None:
    """Run the live indexer until SIGTERM or SIGINT; the batch in hand is finished and committed."""
    if settings.indexer_metrics_port:
        start_http_server(settings.indexer_metrics_port, addr=settings.bind_host)
    indexer = Indexer(settings)
    signal.signal(signal.SIGTERM, indexer.stop)
    signal.signal(signal.SIGINT, indexer.stop)
    indexer.run()

