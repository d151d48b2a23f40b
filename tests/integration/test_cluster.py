"""A two-node OpenSearch cluster (`stack up --nodes 2`) with a replica of every index: `kill -9` of a node while
two indexers ingest and clients query costs no answer and no event, and the index equals the model after the
node comes back."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runsearch import clients
from runsearch.demo.dataset import final_rows, generate
from runsearch.mappings import Names
from runsearch.settings import Settings
from runsearch.stack.launcher import Stack
from tests.conftest import TEST_HEAP, isolated_settings
from tests.harness import documents, indexer_process, produce, served_api, wait_for_documents
from tests.model import assert_documents_match, expected

pytestmark = pytest.mark.integration

NODES = "http://127.0.0.1:19600,http://127.0.0.1:19601"
KAFKA = "127.0.0.1:19692"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Stack]:
    """Its own stack: two OpenSearch nodes (the first the cluster manager) and a Kafka broker."""
    stack = Stack(Settings(stack_dir=".stack-cluster-test", opensearch_url=NODES, kafka_bootstrap=KAFKA,  # type: ignore[call-arg]
                           opensearch_heap=TEST_HEAP))
    stack.down()
    stack.wipe()
    stack.up()
    try:
        yield stack
    finally:
        stack.down()


def _green(settings: Settings) -> None:
    """Until every copy of the test's indices is assigned on two nodes, for up to three minutes: a rejoined node's
    copies recover from the primaries while the indexers write. The health API waits 30 s a call and answers 408
    when that runs out (its own `timeout` cannot be given: opensearch-py takes it for the client's), hence
    `ignore=408` and the loop."""
    for _ in range(6):
        health = clients.opensearch(settings, timeout=60).cluster.health(
            index=f"{settings.index_prefix}-*", wait_for_status="green", wait_for_nodes="2", ignore=408)
        if health["status"] == "green" and not health["timed_out"]:
            return
    raise AssertionError(health)


def _query(base: str, keys: list[str], stop: threading.Event, answers: list[tuple[float, int]]) -> None:
    """A client polling the listing (plain, by status, by search, a later page) until stopped."""
    shapes = [{}, {"status": "completed"}, {"search_key": "a"}, {"page": 2, "page_size": 5}]
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.is_set():
            for key in keys:
                for params in shapes:
                    status = client.get("/v1/agents/runs", params=params, headers={"x-api-key": key}).status_code
                    answers.append((time.monotonic(), status))


def test_a_node_killed_during_ingest_and_queries_costs_no_answer_and_no_event(cluster: Stack, tmp_path: Path) -> None:
    s = cluster.settings
    # Two primary shards of runs: with one replica each spread over both nodes, the killed node holds primaries.
    settings = isolated_settings({"RUNSEARCH_OPENSEARCH_URL": s.opensearch_url, "RUNSEARCH_KAFKA_BOOTSTRAP": s.kafka_bootstrap})
    settings = settings.model_copy(update={"runs_shards": 2, "batch_size": 200})
    history = generate(runs=1500, organizations=2, seed=21, secret=settings.jwt_secret.get_secret_value())
    changes = list(history.changes)
    half = len(changes) // 2
    produce(settings, changes[:half])
    log = tmp_path / "processes.log"
    indexers = [indexer_process(settings, log) for _ in range(2)]
    answers: list[tuple[float, int]] = []
    stop = threading.Event()
    try:
        wait_for_documents(settings, 100, indexers, log, timeout=120)
        _green(settings)
        copies = clients.opensearch(settings).cat.shards(index=f"{settings.index_prefix}-*", format="json")
        on_node_2 = sorted(f"{c['index']}/{c['shard']}{c['prirep']}" for c in copies if c["node"] == "node-2")
        print(f"copies on the node to be killed: {on_node_2}")
        assert any("-runs-" in copy for copy in on_node_2)
        with served_api(settings, log) as base:
            for key in history.api_keys.values():  # indexed by now, else a 403 below would not be the node's doing
                deadline = time.monotonic() + 60
                while httpx.get(f"{base}/v1/agents/runs", headers={"x-api-key": key}).status_code != 200:
                    assert time.monotonic() < deadline, "a key was not indexed within a minute"
                    time.sleep(0.5)
            load = threading.Thread(target=_query, args=(base, list(history.api_keys.values()), stop, answers))
            load.start()
            time.sleep(3)
            ingest = threading.Thread(target=produce, args=(settings, changes[half:]))
            ingest.start()
            time.sleep(1)
            killed_at = time.monotonic()
            os.kill(cluster.opensearch_nodes[1].pid() or 0, signal.SIGKILL)  # the data node, not the cluster manager
            time.sleep(10)
            ingest.join()
            cluster.up()  # starts the node that is missing, and waits until both have joined
            _green(settings)
            back_at = time.monotonic()
            time.sleep(2)
            stop.set()
            load.join()
        model = expected(final_rows(history.changes))
        deadline = time.monotonic() + 180
        while True:
            assert all(p.poll() is None for p in indexers), log.read_text()[-3000:]  # they kept going throughout
            try:
                assert_documents_match(documents(settings, Names(settings.index_prefix).read_alias("runs")), model)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)
    finally:
        stop.set()
        for p in indexers:
            p.terminate()
            p.wait(timeout=60)
    during = Counter(status for at, status in answers if killed_at <= at <= back_at)
    statuses = Counter(status for _, status in answers)
    print(f"answers: {dict(statuses)}; while the node was away ({back_at - killed_at:.0f} s): {dict(during)}")
    odd = [(round(at - killed_at, 1), status) for at, status in answers if status != 200]
    assert during[200] > 50 and set(statuses) == {200}, \
        f"{dict(statuses)}; the node was back {back_at - killed_at:.1f} s after the kill; others (s after the kill, " \
        f"status): {odd[:5]} … {odd[-5:]}"
