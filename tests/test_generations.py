"""Operator CLI against real Kafka and OpenSearch: rebuild while events flow, verify, rollback, cleanup."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from demo.dataset import final_rows, generate
from indexer import generations, store
from indexer.consumer import Indexer
from mappings import Names
from runsearch.settings import Settings
from tests.harness import count, documents, drain, process_env, produce
from tests.model import assert_documents_match, expected

pytestmark = pytest.mark.integration


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "runsearch.cli", *args], env=process_env(settings, COLUMNS="200"), capture_output=True,
                          text=True, timeout=300)


def test_rebuild_while_events_flow_then_verify_rollback_cleanup(settings: Settings) -> None:
    history = generate(runs=600, organizations=2, seed=31)
    cut = len(history.changes) * 2 // 3
    produce(settings, history.changes[:cut])
    live = Indexer(settings)
    drain(live)
    live.os.indices.refresh(index=f"{settings.index_prefix}-*")
    thread = threading.Thread(target=live.run)
    thread.start()
    statuses: list[int] = []
    asking = threading.Event()
    key = history.api_keys[sorted(history.api_keys)[0]]
    with TestClient(create_app(settings)) as api:

        def ask() -> None:  # the API keeps answering throughout the rebuild and the swap
            while not asking.is_set():
                statuses.append(api.get("/v1/agents/runs", headers={"x-api-key": key}).status_code)

        asker = threading.Thread(target=ask)
        asker.start()
        try:
            feeder = threading.Thread(target=produce, args=(settings, history.changes[cut:]))
            feeder.start()  # changes keep arriving while the rebuild runs
            rebuilt = cli(settings, "reindex")
            feeder.join()
            assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
            assert "generation 2 is live" in rebuilt.stdout
            client, names = store.client(settings.opensearch_url), Names(settings.index_prefix)
            assert set(generations.aliases(client, names).values()) == {2}
            # What the feeder sent after the rebuild's last catch-up reaches generation 2 through the live indexer.
            model = expected(final_rows(history.changes))
            deadline = time.monotonic() + 60
            while True:
                try:
                    assert_documents_match(documents(settings, names.read_alias("runs")), model)
                    break
                except AssertionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(1)
        finally:
            asking.set()
            asker.join()
            live.stop()
            thread.join()
    assert len(statuses) > 10 and set(statuses) == {200}

    assert cli(settings, "verify").returncode == 0
    victim = sorted(rid for rid, m in model.items() if m["listed"])[0]
    client.update(index=names.index("runs", 2), id=victim, body={"doc": {"status": "exploded"}}, refresh=True)
    caught = cli(settings, "verify")
    assert caught.returncode == 1 and f"{victim}: differs in status" in caught.stdout

    back = cli(settings, "rollback")
    assert back.returncode == 0 and set(generations.aliases(client, names).values()) == {1}
    assert cli(settings, "cleanup", "--yes").returncode == 0
    assert list(generations.generations(client, names)) == [1]
    shown = cli(settings, "status")
    assert shown.returncode == 0, shown.stderr
    assert "live indexer lag" in shown.stdout and "dead letters: 0" in shown.stdout


def test_rebuild_killed_then_resumed_and_refused_when_verification_fails(settings: Settings) -> None:
    history = generate(runs=1500, organizations=2, seed=32)
    produce(settings, history.changes)
    live = Indexer(settings)
    drain(live)
    live.close()
    client, names = store.client(settings.opensearch_url), Names(settings.index_prefix)
    planned = cli(settings, "reindex", "--dry-run")
    assert planned.returncode == 0 and "build generation 2" in planned.stdout
    assert list(generations.generations(client, names)) == [1]  # a dry run changes nothing

    proc = subprocess.Popen([sys.executable, "-m", "runsearch.cli", "reindex"], env=process_env(settings, COLUMNS="200"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and count(settings, names.index("runs", 2)) < 200:
        time.sleep(0.2)
    proc.kill()  # kill -9 halfway
    proc.wait()
    assert cli(settings, "reindex", "--dry-run").stdout.startswith("resume generation 2")

    client.index(index=names.index("runs", 2), id="wr_bogus", body={"workflow_run_id": "wr_bogus", "listed": True},
                 refresh=True)
    refused = cli(settings, "reindex")
    assert refused.returncode == 1 and "wr_bogus: in the index, not in the topics" in refused.stdout
    assert set(generations.aliases(client, names).values()) == {1}  # not swapped

    client.delete(index=names.index("runs", 2), id="wr_bogus", refresh=True)
    resumed = cli(settings, "reindex")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert set(generations.aliases(client, names).values()) == {2}
    assert_documents_match(documents(settings, names.read_alias("runs")), expected(final_rows(history.changes)))

