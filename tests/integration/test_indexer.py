"""Through real Kafka into real OpenSearch: convergence under reordering, crashes, restarts and outages."""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import orjson
import pytest
from kafka.admin import KafkaAdminClient
from opensearchpy import NotFoundError
from prometheus_client import REGISTRY

from runsearch import clients
from runsearch.demo.dataset import History, RowChange, final_rows, generate
from runsearch.demo.events import Encoder
from runsearch.demo.publish import publish
from runsearch.indexer import consumer
from runsearch.indexer.consumer import COMMIT_TIMEOUT_MS, Indexer
from runsearch.indexer.offsets import committed_offsets, end_offsets
from runsearch.indexer.store import OpenSearchStore
from runsearch.mappings import Names
from runsearch.operations import deadletters
from runsearch.operations.verification import verify
from runsearch.settings import Settings
from tests.harness import create_again, documents, drain, indexer_process, produce, wait_for_documents
from tests.model import assert_documents_match, expected

pytestmark = pytest.mark.integration


def assert_converged(settings: Settings, model: dict[str, dict]) -> None:
    assert_documents_match(documents(settings, Names(settings.index_prefix).read_alias("runs")), model)


@pytest.mark.secure
def test_shuffled_duplicated_history_converges(settings: Settings) -> None:
    history = generate(runs=400, organizations=3, seed=11)
    rng = random.Random(3)
    changes = list(history.changes)
    changes += rng.sample(changes, len(changes) // 5)  # redeliveries, also of older versions after newer ones
    rng.shuffle(changes)
    produce(settings, changes, Encoder(schemas=True))
    indexer = Indexer(settings)
    drain(indexer)
    indexer.close()
    assert_converged(settings, expected(final_rows(history.changes)))


def test_the_versions_read_without_sources_are_those_mget_reads_before_any_refresh(settings: Settings) -> None:
    """What the pipeline checks its held definitions and workflows with (`indexer.lookups`)."""
    os = clients.opensearch(settings)
    index = f"{settings.index_prefix}-versions"  # an alias, as the store writes only through aliases
    os.indices.create(index=f"{index}-1", body={"settings": {"refresh_interval": -1}, "aliases": {index: {}}})
    store = OpenSearchStore(os)
    assert not store.write(index, {"a": ({"title": "A"}, None), "b": ({"title": "B"}, None)})
    assert not store.write(index, {"b": ({"title": "B renamed"}, store.mget(index, ["b"])["b"])})
    read = store.mget(index, ["a", "b", "none"])
    assert store.versions(index, ["a", "b", "none"]) == {i: (v.seq_no, v.primary_term) for i, v in read.items()}
    assert sorted(read) == ["a", "b"] and read["b"].source == {"title": "B renamed"}


def test_opensearch_unreachable_for_a_while_loses_nothing(settings: Settings) -> None:
    from tests.proxy import Proxy

    target = urlparse(settings.opensearch_url)
    proxy = Proxy(target.hostname, target.port)
    history = generate(runs=300, organizations=2, seed=8)
    produce(settings, history.changes)
    indexer = Indexer(settings.model_copy(update={"opensearch_url": f"http://127.0.0.1:{proxy.port}",
                                                  "retry_max_seconds": 1.0, "batch_size": 200}))
    indexer.run_once()  # some batches land
    proxy.cut()
    timer = threading.Timer(4.0, proxy.restore)
    timer.start()
    retries_before = REGISTRY.get_sample_value("runsearch_indexer_retries_total")
    drain(indexer)  # waits and retries while cut, then catches up
    timer.join()
    indexer.close()
    proxy.close()
    assert REGISTRY.get_sample_value("runsearch_indexer_retries_total") > retries_before
    assert_converged(settings, expected(final_rows(history.changes)))


def test_a_write_block_on_the_index_holds_the_events_back_and_dead_letters_none(settings: Settings) -> None:
    """An index closed to writes (`index.blocks.write`, set by an operator; a role without the permission answers the
    same 403) is no fault of the events: they wait, retried, and apply once the block is lifted."""
    history = generate(runs=300, organizations=2, seed=12)
    produce(settings, history.changes)
    indexer = Indexer(settings.model_copy(update={"retry_max_seconds": 1.0, "batch_size": 200}))
    indexer.run_once()  # some batches land
    runs = Names(settings.index_prefix).generation(1).write_alias("runs")
    os = clients.opensearch(settings)
    os.indices.put_settings(index=runs, body={"index.blocks.write": True})
    timer = threading.Timer(4.0, lambda: os.indices.put_settings(index=runs, body={"index.blocks.write": False}))
    timer.start()
    retries_before = REGISTRY.get_sample_value("runsearch_indexer_retries_total")
    drain(indexer)  # retries while blocked, then catches up
    timer.join()
    indexer.close()
    assert REGISTRY.get_sample_value("runsearch_indexer_retries_total") > retries_before
    assert list(deadletters.entries(settings)) == []
    assert_converged(settings, expected(final_rows(history.changes)))


def test_a_topic_deleted_under_the_indexer_holds_back_no_other_table(settings: Settings) -> None:
    """A CDC topic deleted while the indexer runs (an operator re-snapshotting a table) stays assigned until the group
    rebalances. Commits naming it fail until they time out (kafka-python's: a minute, every batch), and kafka-python
    fails its end offsets with a KeyError (it stopped the indexer). The other tables' changes still apply, each batch
    held at most once by one commit's timeout."""
    history = generate(runs=100, organizations=1, seed=13)
    produce(settings, history.changes)
    indexer = Indexer(settings)
    drain(indexer)
    admin = KafkaAdminClient(**clients.kafka(settings))
    admin.delete_topics([settings.topic("tasks")])
    admin.close()
    runs = [c for c in history.changes if c.table == "workflow_runs"][-3:]
    slowest = 0.0
    for run in runs:  # one change at a time, each in batches of its own
        publish(settings, [RowChange("workflow_runs", "u", {**run.row, "status": "terminated"}, 10**15)])
        deadline = time.monotonic() + 60
        while documents(settings, Names(settings.index_prefix).read_alias("runs"))[run.row["workflow_run_id"]][
                "status"] != "terminated":
            assert time.monotonic() < deadline, "a change of another table was held back"
            began = time.monotonic()
            indexer.run_once()
            slowest = max(slowest, time.monotonic() - began)
    indexer.close()
    assert slowest < COMMIT_TIMEOUT_MS / 1000 + 5


def _recreate_with_new_errors(settings: Settings, history: History, code: str, lsn: int) -> set[str]:
    """Delete the tasks topic and create it again (an operator re-snapshotting the table), holding first a new
    snapshot (from `lsn` on) that gives every task the error `code`, then more records than the old topic held
    (older versions of the tasks: stale, they change nothing). Returns the runs whose documents must now hold `code`."""
    create_again(settings, "tasks")
    tasks = [row for table, row in final_rows(history.changes) if table == "tasks" and row["workflow_run_id"]]
    snapshot = [RowChange("tasks", "r", {**row, "errors": orjson.dumps([{"error_code": code}]).decode()}, lsn + i)
                for i, row in enumerate(tasks)]
    publish(settings, snapshot + [c for c in history.changes if c.table == "tasks"] * 3)
    return {row["workflow_run_id"] for row in tasks}


def _without(settings: Settings, runs: set[str], code: str) -> set[str]:
    docs = documents(settings, Names(settings.index_prefix).read_alias("runs"))
    return {run for run in runs if code not in docs[run]["error_codes"]}


def test_a_topic_created_again_under_the_indexer_is_read_from_its_start(settings: Settings,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A topic deleted and created again between two metadata refreshes of the consumer: kafka-python fetched the new
    topic from the old one's positions, so its first records (here the whole new snapshot) were skipped for good. An
    indexer that has not seen the new topic's id yet still does (its metadata is refreshed every 300 s here), but it
    stamps its commits with the id it read by: the next process reads the new topic from its start, and so does a
    running one once its metadata names the new topic (every second here)."""
    history = generate(runs=100, organizations=1, seed=14)
    produce(settings, history.changes)
    monkeypatch.setattr(consumer, "METADATA_MAX_AGE_MS", 300_000)
    blind = Indexer(settings)
    drain(blind)
    runs = _recreate_with_new_errors(settings, history, "RESNAPSHOT", 10**15)
    drain(blind)
    assert _without(settings, runs, "RESNAPSHOT") == runs  # skipped, as kafka-python alone does
    blind.close()

    monkeypatch.setattr(consumer, "METADATA_MAX_AGE_MS", 1_000)
    indexer = Indexer(settings)
    drain(indexer)
    assert _without(settings, runs, "RESNAPSHOT") == set()  # the stale commit's stamp named the old topic

    runs = _recreate_with_new_errors(settings, history, "AGAIN", 2 * 10**15)
    deadline = time.monotonic() + 60
    while _without(settings, runs, "AGAIN"):
        assert time.monotonic() < deadline, "the new topic was not read from its start"
        indexer.run_once()
    indexer.close()
    assert list(deadletters.entries(settings)) == []


def _start_indexer(settings: Settings, log: Path) -> subprocess.Popen:
    """A real indexer process; returns once it has written its first documents."""
    log.touch()
    proc = indexer_process(settings, log, RUNSEARCH_BATCH_SIZE="300")
    wait_for_documents(settings, 1, [proc], log)
    return proc


def test_kill_9_mid_stream_then_restart_converges(settings: Settings, tmp_path: Path) -> None:
    history = generate(runs=1500, organizations=3, seed=9)
    produce(settings, history.changes)
    for delay in (1.0, 2.5):
        proc = _start_indexer(settings, tmp_path / "indexer.log")
        time.sleep(delay)
        proc.kill()  # SIGKILL: no chance to finish or commit the batch in hand
        proc.wait()
    indexer = Indexer(settings)
    drain(indexer)
    indexer.close()
    assert_converged(settings, expected(final_rows(history.changes)))


def test_sigterm_finishes_and_commits_the_batch_in_hand(settings: Settings, tmp_path: Path) -> None:
    """SIGTERM in the middle of ingest: the process exits 0 with what it applied committed, and exactly that: the
    index equals the topics replayed up to the committed offsets (nothing committed unapplied), and holds nothing
    beyond them (no batch half-applied and left uncommitted)."""
    history = generate(runs=3000, organizations=2, seed=10)
    produce(settings, history.changes)
    proc = _start_indexer(settings, tmp_path / "indexer.log")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert "indexer stopped" in (tmp_path / "indexer.log").read_text()
    committed = committed_offsets(settings, settings.consumer_group)
    assert 0 < sum(committed.values()) < sum(end_offsets(settings).values())  # stopped mid-ingest, work kept
    os = clients.opensearch(settings)
    report = verify(settings, os, Names(settings.index_prefix).read_alias("runs"), committed, None, lambda *_: None)
    assert report.compared > 0 and report.differences == [] and report.moved_on == []


@pytest.mark.secure
def test_two_indexers_in_one_group_converge(settings: Settings) -> None:
    """Two processes' worth of indexers (threads here) share the partitions evenly and race on shared documents."""
    history = generate(runs=800, organizations=2, seed=12)
    changes = list(history.changes)
    random.Random(4).shuffle(changes)
    produce(settings, changes)
    indexers = [Indexer(settings.model_copy(update={"batch_size": 150})) for _ in range(2)]
    threads = [threading.Thread(target=i.run) for i in indexers]
    for t in threads:
        t.start()
    model = expected(final_rows(history.changes))
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                assert_converged(settings, model)
                # Round-robin over every topic's partitions: the range assignor gave the first member two of every
                # topic's three partitions (twice the other's share of every stream).
                held = [len(i.consumer.assignment()) for i in indexers]
                assert max(held) - min(held) <= 1, held
                break
            except (AssertionError, NotFoundError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
    finally:
        for i in indexers:
            i.stop()
        for t in threads:
            t.join()
