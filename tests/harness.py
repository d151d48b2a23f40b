"""Helpers for integration tests: deliver histories to Kafka, drain an indexer, read documents back."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from kafka.admin import KafkaAdminClient
from opensearchpy import NotFoundError, TransportError, helpers

from runsearch import clients
from runsearch.demo.dataset import RowChange
from runsearch.demo.events import Encoder
from runsearch.demo.publish import publish
from runsearch.indexer.consumer import Indexer
from runsearch.indexer.offsets import committed_offsets, end_offsets
from runsearch.mappings import Names
from runsearch.settings import Settings
from runsearch.stack import kafka as kafka_node


def produce(settings: Settings, changes: Iterable[RowChange], encoder: Encoder | None = None) -> int:
    kafka_node.create_topics(settings)
    return publish(settings, changes, encoder)


def create_again(settings: Settings, table: str) -> None:
    """Delete a table's topic and create it again, empty (an operator re-snapshotting the table)."""
    topic = settings.topic(table)
    admin = KafkaAdminClient(**clients.kafka(settings))
    try:
        admin.delete_topics([topic])
        deadline = time.monotonic() + 30
        while topic in admin.list_topics():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        while topic not in admin.list_topics():  # a topic whose deletion Kafka has not finished is not created yet
            assert time.monotonic() < deadline
            kafka_node.create_topics(settings)
    finally:
        admin.close()


def drain(indexer: Indexer, timeout: float = 120.0) -> None:
    """Run the indexer until it has consumed everything published so far."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        indexer.run_once()
        if indexer.caught_up():
            return
    raise AssertionError("indexer did not catch up in time")


def refresh(settings: Settings) -> None:
    """Make every acknowledged write of these settings' indices visible to searches."""
    clients.opensearch(settings).indices.refresh(index=f"{settings.index_prefix}-*")


def indexed(settings: Settings, changes: Iterable[RowChange]) -> None:
    """Publish `changes`, index all of them with an indexer of its own, and make them searchable."""
    produce(settings, changes)
    indexer = Indexer(settings)
    drain(indexer)
    refresh(settings)
    indexer.close()


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that makes a `runsearch` subprocess use these settings."""
    return {**os.environ, **settings.environ(), **extra}


def documents(settings: Settings, index: str) -> dict[str, dict]:
    """Every document of an index (or alias) by id, after a refresh so that all acknowledged writes show."""
    client = clients.opensearch(settings)
    client.indices.refresh(index=index)
    return {h["_id"]: h["_source"] for h in helpers.scan(client, index=index, query={"query": {"match_all": {}}})}


def count(settings: Settings, index: str) -> int:
    """Documents in an index, 0 while it does not exist yet or its shard is still starting (503)."""
    try:
        return clients.opensearch(settings).count(index=index)["count"]
    except NotFoundError:
        return 0
    except TransportError as err:
        if err.status_code == 503:
            return 0
        raise


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served_api(settings: Settings, log: Path) -> Iterator[str]:
    """The real API (uvicorn) as a process of its own on a free loopback port; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "runsearch.cli", "api"],
                            env=process_env(settings, RUNSEARCH_API_PORT=str(port)),
                            stdout=subprocess.DEVNULL, stderr=log.open("ab"))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def indexer_process(settings: Settings, log: Path, **env: str) -> subprocess.Popen:
    """A real indexer process (`runsearch indexer`) with these settings; `env` adds RUNSEARCH_* overrides."""
    return subprocess.Popen([sys.executable, "-m", "runsearch.cli", "indexer"], env=process_env(settings, **env),
                            stdout=subprocess.DEVNULL, stderr=log.open("ab"))


def wait_for_documents(settings: Settings, at_least: int, procs: list[subprocess.Popen], log: Path,
                       timeout: float = 60) -> None:
    """Until the runs index holds `at_least` documents (the indexers must keep running meanwhile)."""
    deadline = time.monotonic() + timeout
    while count(settings, Names(settings.index_prefix).read_alias("runs")) < at_least:
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), log.read_text()[-3000:]
        time.sleep(0.2)


def committed_up_to(settings: Settings, ends: dict) -> bool:
    """Whether the live group has committed these offsets (or beyond) on every partition."""
    committed = committed_offsets(settings, settings.consumer_group)
    return all(committed[tp] >= end for tp, end in ends.items())


def wait_until_committed(settings: Settings, procs: list[subprocess.Popen], log: Path, timeout: float = 300) -> None:
    """Until the live group has committed every offset of the topics as they are now."""
    ends = end_offsets(settings)
    deadline = time.monotonic() + timeout
    while not committed_up_to(settings, ends):
        assert time.monotonic() < deadline and any(p.poll() is None for p in procs), log.read_text()[-3000:]
        time.sleep(1)
