"""Helpers for integration tests: deliver histories to Kafka, drain an indexer, read documents back."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from opensearchpy import NotFoundError, helpers

from demo.dataset import RowChange
from indexer import store
from demo.publish import publish
from indexer.consumer import Indexer
from runsearch.settings import Settings
from stack import kafka as kafka_node


def produce(settings: Settings, changes: Iterable[RowChange], schemas: bool = False) -> int:
    kafka_node.create_topics(settings)
    return publish(settings, changes, schemas)


def drain(indexer: Indexer, timeout: float = 120.0) -> None:
    """Run the indexer until it has consumed everything published so far."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        indexer.run_once()
        if indexer.caught_up():
            return
    raise AssertionError("indexer did not catch up in time")


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that makes a `runsearch` subprocess use these settings."""
    return {**os.environ, **settings.environ(), **extra}


def documents(settings: Settings, index: str) -> dict[str, dict]:
    """Every document of an index (or alias) by id, after a refresh so that all acknowledged writes show."""
    client = store.client(settings.opensearch_url)
    client.indices.refresh(index=index)
    return {h["_id"]: h["_source"] for h in helpers.scan(client, index=index, query={"query": {"match_all": {}}})}


def count(settings: Settings, index: str) -> int:
    """Documents in an index, 0 while it does not exist yet."""
    try:
        return store.client(settings.opensearch_url).count(index=index)["count"]
    except NotFoundError:
        return 0
