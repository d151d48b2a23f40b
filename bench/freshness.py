"""Freshness: how long a change takes from its produce to Kafka until the API shows it, measured while a
steady background stream of other changes flows into the live indexer."""

from __future__ import annotations

import itertools
import random
import threading
import time
from dataclasses import dataclass

import httpx
from confluent_kafka import Producer

from runsearch import clients
from runsearch.bench import BenchError
from runsearch.bench.latency import PATH, percentiles
from runsearch.bench.snapshot import Snapshot
from runsearch.demo.dataset import STATUSES, RowChange
from runsearch.demo.events import messages
from runsearch.settings import Settings


@dataclass
class Freshness:
    background_events_per_second: float
    probes: int
    unseen: int
    latency_ms: dict[str, float]


class _Stream:
    """Changes of existing rows with ever newer lsns: run status flips and new parameter values."""

    def __init__(self, settings: Settings, snapshot: Snapshot, seed: int) -> None:
        self.settings, self.snapshot = settings, snapshot
        self.rng = random.Random(seed)
        self.lsn = itertools.count(snapshot.last_lsn + 1)
        self.runs = list(snapshot.rows["workflow_runs"])
        self.params = list(snapshot.rows["workflow_run_parameters"])
        # librdkafka's producer, in C: the platform's changes come from Debezium on machines of their own, and
        # kafka-python's producer, in Python, took about a sixth of a core of the two the service is measured on.
        # Keys are partitioned as Java's (and kafka-python's) default partitioner does, as when the data was published.
        self.producer = Producer({**clients.librdkafka(settings), "linger.ms": 5, "acks": "all",
                                  "partitioner": "murmur2_random"})
        self.sent = 0
        self.failures: list[str] = []

    def send(self, change: RowChange) -> None:
        for key, value in messages(change, ts_ms=int(time.time() * 1000)):
            self.producer.produce(self.settings.topic(change.table), key=key, value=value, on_delivery=self._delivered)
        self.producer.poll(0)  # serves the delivery reports of earlier sends
        self.sent += 1

    def _delivered(self, error: object, _: object) -> None:
        if error is not None:  # not delivered, after librdkafka's own retries
            self.failures.append(str(error))

    def background(self) -> RowChange:
        if self.rng.random() < 0.5:
            row = self.snapshot.row("workflow_runs", self.rng.choice(self.runs))
            row.update(status=self.rng.choice(STATUSES), modified_at=row["modified_at"] + 1)
            return RowChange("workflow_runs", "u", row, next(self.lsn))
        row = self.snapshot.row("workflow_run_parameters", self.rng.choice(self.params))
        return RowChange("workflow_run_parameters", "u", {**row, "value": f"{row['value']} again"}, next(self.lsn))


def measure(settings: Settings, snapshot: Snapshot, base_url: str, key: str, organization: str, rate: int,
            seconds: float, seed: int = 5) -> Freshness:
    stream = _Stream(settings, snapshot, seed)
    stop = threading.Event()

    def background() -> None:
        began, sent = time.monotonic(), 0
        while not stop.wait(0.02):
            due = int(rate * (time.monotonic() - began))
            for _ in range(due - sent):
                stream.send(stream.background())
            sent = due

    listed = {r["workflow_run_id"] for r in snapshot.listed_runs(organization)}
    probe_runs = [k for k in stream.params if k[0] in listed]
    thread = threading.Thread(target=background, daemon=True)
    started = time.monotonic()
    thread.start()
    samples: list[float] = []
    unseen = 0
    try:
        with httpx.Client(base_url=base_url, headers={"x-api-key": key}, timeout=10) as client:
            time.sleep(2)  # let the background stream reach its rate first
            while time.monotonic() - started < seconds:
                run_id, parameter_id = stream.rng.choice(probe_runs)
                token = f"fresh{stream.rng.getrandbits(48):012x}"
                row = {**snapshot.row("workflow_run_parameters", (run_id, parameter_id)), "value": token}
                produced = time.perf_counter()
                stream.send(RowChange("workflow_run_parameters", "u", row, next(stream.lsn)))
                stream.producer.flush()
                while time.perf_counter() - produced < 30:
                    if client.get(PATH, params={"search_key": token}).json():
                        samples.append((time.perf_counter() - produced) * 1000)
                        break
                    time.sleep(0.01)
                else:
                    unseen += 1
    finally:
        stop.set()
        thread.join()
        elapsed = time.monotonic() - started
        stream.producer.flush()
    if stream.failures:
        raise BenchError(f"{len(stream.failures):,} background changes were not delivered; first: {stream.failures[0]}")
    return Freshness(stream.sent / elapsed, len(samples) + unseen, unseen, percentiles(samples) if samples else {})
