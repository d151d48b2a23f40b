"""Server restarts in the middle of ingest: the real indexer process recovers on its own, nothing is lost,
nothing stale stays visible, and the API answers 503 at once while OpenSearch is away, 200 after."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from runsearch.api.app import create_app
from runsearch.demo.dataset import final_rows, generate
from runsearch.mappings import Names
from runsearch.settings import Settings
from runsearch.stack.launcher import Stack
from tests.harness import documents, indexer_process, produce, wait_for_documents, wait_until_committed
from tests.model import assert_documents_match, expected

pytestmark = pytest.mark.integration


def _ingest_with_a_restart(settings: Settings, stack: Stack, log: Path, restart) -> None:
    """Index a dataset with a real indexer process while `restart()` stops and restarts a server midway."""
    history = generate(runs=2000, organizations=2, seed=51, secret=settings.jwt_secret.get_secret_value())
    produce(settings, history.changes)
    log.touch()
    indexer = indexer_process(settings, log, RUNSEARCH_BATCH_SIZE="500", RUNSEARCH_RETRY_MAX_SECONDS="2")
    try:
        wait_for_documents(settings, 200, [indexer], log)  # mid-ingest
        restart()
        wait_until_committed(settings, [indexer], log)
    finally:
        indexer.terminate()
        indexer.wait(timeout=60)
    assert_documents_match(documents(settings, Names(settings.index_prefix).read_alias("runs")),
                           expected(final_rows(history.changes)))


def test_opensearch_restart_mid_ingest(settings: Settings, local_stack: Stack, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"search_timeout_seconds": 1.0})
    key = generate(runs=1, organizations=1, secret=settings.jwt_secret.get_secret_value()).api_keys["o_0000"]

    def restart() -> None:
        with TestClient(create_app(settings)) as client:
            local_stack.opensearch.stop()
            started = time.perf_counter()
            response = client.get("/v1/agents/runs", headers={"x-api-key": key})
            assert response.status_code == 503 and time.perf_counter() - started < 1.0
            assert client.get("/readyz").status_code == 503
            time.sleep(3)
            local_stack.up()
            assert client.get("/readyz").status_code == 200

    _ingest_with_a_restart(settings, local_stack, tmp_path / "indexer.log", restart)


def test_kafka_restart_mid_ingest(settings: Settings, local_stack: Stack, tmp_path: Path) -> None:
    def restart() -> None:
        local_stack.kafka.stop()
        time.sleep(3)
        local_stack.up()

    _ingest_with_a_restart(settings, local_stack, tmp_path / "indexer.log", restart)
