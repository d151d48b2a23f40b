"""Index generations against real Kafka and OpenSearch: a swap never serves older data, a rollback never revives
a revoked key, operations are safe to combine, verification runs in bounded memory. The live indexer runs
throughout (a thread); the operator protocols run as the CLI does (subprocess) or step by step."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import psutil
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaAdminClient, KafkaProducer
from opensearchpy import helpers

from runsearch import clients, mappings
from runsearch.api.app import create_app
from runsearch.demo.dataset import History, final_rows, generate
from runsearch.indexer import generations, offsets
from runsearch.indexer.consumer import Indexer
from runsearch.indexer.disk_store import DiskStore
from runsearch.indexer.tables import topics
from runsearch.mappings import Layout, Names
from runsearch.operations import deadletters, fold, lease, maintenance, reindex
from runsearch.settings import Settings
from tests.harness import committed_up_to, documents, indexer_process, process_env, produce
from tests.model import assert_documents_match, expected
from tests.proxy import Proxy

pytestmark = pytest.mark.integration


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runsearch.cli", *args], env=process_env(settings, COLUMNS="200"),
                          capture_output=True, text=True, timeout=300)


def quiet(phase: str, done: int, total: int) -> None:
    pass


@contextmanager
def live_indexer(settings: Settings) -> Iterator[Indexer]:
    """The live indexer running beside the test, as in production."""
    indexer = Indexer(settings)
    thread = threading.Thread(target=indexer.run)
    thread.start()
    try:
        yield indexer
    finally:
        indexer.stop()
        thread.join()


def applied(settings: Settings) -> None:
    """Until the live indexer has committed everything published so far, and searches see it (a refresh: the
    API finds keys with a search, visible one refresh interval after the write)."""
    ends, deadline = offsets.end_offsets(settings), time.monotonic() + 120
    while not committed_up_to(settings, ends):
        assert time.monotonic() < deadline, "the live indexer did not catch up"
        time.sleep(0.2)
    clients.opensearch(settings).indices.refresh(index=f"{settings.index_prefix}-*")


def served(settings: Settings) -> int | None:
    return generations.serving(clients.opensearch(settings), Names(settings.index_prefix))


def segments(settings: Settings, number: int) -> list[int]:
    """The searched segments of each shard of each index of generation `number`."""
    found = clients.opensearch(settings).indices.segments(index=Names(settings.index_prefix).indices(number))
    return [copy["num_search_segments"] for index in found["indices"].values() for shard in index["shards"].values()
            for copy in shard if copy["routing"]["primary"]]


def converged(settings: Settings, history: History) -> None:
    assert_documents_match(documents(settings, Names(settings.index_prefix).read_alias("runs")),
                           expected(final_rows(history.changes)))


def token(tid: str, org: str, key: str, valid: bool = True) -> dict:
    return {"id": tid, "organization_id": org, "token_type": "api", "token": key, "valid": valid}


@pytest.mark.secure
def test_a_swap_serves_data_at_least_as_fresh_as_the_generation_it_replaces(settings: Settings) -> None:
    """Runs created and a key revoked after the rebuild read its end offsets are served right at the swap: the
    live indexer wrote them to the new generation too."""
    history = generate(runs=600, organizations=2, seed=31, secret=settings.jwt_secret.get_secret_value())
    org = sorted(history.api_keys)[0]
    key = history.api_keys[org]
    doomed = jwt.encode({"sub": org, "k": "doomed"}, settings.jwt_secret.get_secret_value(), algorithm="HS256")
    history.add("organization_auth_tokens", "c", token("t_doomed", org, doomed))
    produce(settings, history.changes)
    api = settings.model_copy(update={"auth_cache_seconds": 0})
    with live_indexer(settings), TestClient(create_app(api)) as client:
        applied(settings)
        rebuild = reindex.Reindex(settings)
        try:
            assert rebuild.prepare().generation == 2
            assert rebuild.fold(quiet) is not None
            rebuild.build(quiet)
            first = len(history.changes)  # what happens now is beyond the rebuild's own replay
            for n in range(5):
                history.add("workflow_runs", "c", {"workflow_run_id": f"wr_late_{n}", "workflow_id": "w",
                                                   "workflow_permanent_id": "wp", "organization_id": org,
                                                   "status": "queued", "created_at": 2**62, "modified_at": 0})
            history.add("organization_auth_tokens", "u", token("t_doomed", org, doomed, valid=False))
            produce(settings, history.changes[first:])
            applied(settings)
            assert max(segments(settings, 2)) > 1  # the fold's documents, then the live indexer's
            report = rebuild.verify(None, quiet)  # merging meanwhile
            assert report.differences == [], report.differences
            rebuild.merge(quiet)
            assert max(segments(settings, 2)) == 1
            rebuild.swap()
            assert served(settings) == 2
            newest = [run["workflow_run_id"] for run in client.get("/v1/agents/runs", headers={"x-api-key": key}).json()]
            assert newest[:5] == [f"wr_late_{n}" for n in range(4, -1, -1)]
            assert client.get("/v1/agents/runs", headers={"x-api-key": doomed}).status_code == 403
            rebuild.finish()
        finally:
            rebuild.close()
    converged(settings, history)


@pytest.mark.secure
def test_a_rollback_serves_a_current_generation_and_never_revives_a_revoked_key(settings: Settings) -> None:
    history = generate(runs=300, organizations=2, seed=33, secret=settings.jwt_secret.get_secret_value())
    org = sorted(history.api_keys)[0]
    secret = settings.jwt_secret.get_secret_value()
    revoked, deleted = (jwt.encode({"sub": org, "k": k}, secret, algorithm="HS256") for k in ("r", "d"))
    history.add("organization_auth_tokens", "c", token("t_revoked", org, revoked))
    history.add("organization_auth_tokens", "c", token("t_deleted", org, deleted))
    produce(settings, history.changes)
    api = settings.model_copy(update={"auth_cache_seconds": 0})
    with live_indexer(settings), TestClient(create_app(api)) as client:
        applied(settings)
        rebuilt = cli(settings, "reindex")
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert served(settings) == 2
        first = len(history.changes)
        history.add("organization_auth_tokens", "u", token("t_revoked", org, revoked, valid=False))
        history.add("organization_auth_tokens", "d", {"id": "t_deleted"})
        history.add("workflow_runs", "c", {"workflow_run_id": "wr_after_swap", "workflow_id": "w", "workflow_permanent_id": "wp",
                                           "organization_id": org, "status": "running", "created_at": 2**62, "modified_at": 0})
        produce(settings, history.changes[first:])
        applied(settings)
        back = cli(settings, "rollback")
        assert back.returncode == 0 and "generation 1 is served instead of 2" in back.stdout, back.stdout + back.stderr
        assert served(settings) == 1
        for key in (revoked, deleted):
            assert client.get("/v1/agents/runs", headers={"x-api-key": key}).status_code == 403
        runs = client.get("/v1/agents/runs", headers={"x-api-key": history.api_keys[org]}).json()
        assert runs[0]["workflow_run_id"] == "wr_after_swap"
        checked = cli(settings, "verify")
        assert checked.returncode == 0, checked.stdout + checked.stderr
    converged(settings, history)


@pytest.mark.secure
def test_operations_are_safe_to_combine(settings: Settings) -> None:
    """A rebuild killed halfway holds its lease until it expires: a second reindex and cleanup refuse meanwhile,
    status shows it; then reindex resumes it. Cleanup deletes a dead rebuild's generation and its consumer
    group, so the next rebuild of that number starts from the beginning (and verifies); nothing writes a deleted
    generation back into existence."""
    history = generate(runs=1500, organizations=2, seed=32, secret=settings.jwt_secret.get_secret_value())
    produce(settings, history.changes)
    short = settings.model_copy(update={"lease_seconds": 15.0})
    client, names = clients.opensearch(settings), Names(settings.index_prefix)
    with live_indexer(settings.model_copy(update={"progress_interval_seconds": 0.5})):
        applied(settings)
        assert "build generation 2" in cli(short, "reindex", "--dry-run").stdout
        assert list(generations.survey(client, names)) == [1]  # a dry run changes nothing

        kill_halfway(short, 2)  # event by event: its generation is registered, its group goes on
        assert cli(short, "reindex", "--dry-run").stdout.startswith("resume generation 2")
        second = cli(short, "reindex")
        assert second.returncode == 1 and "a rebuild holds the lease: generation 2" in second.stdout, second.stdout
        assert "a rebuild is in progress" in cli(short, "cleanup", "--yes").stdout
        shown = json.loads(cli(short, "status", "--json").stdout)
        assert shown["lease"]["generation"] == 2 and shown["rebuild_lag"] > 0
        assert [g["number"] for g in shown["generations"]] == [1, 2] and shown["generations"][1]["written"]
        # Freshness from the live indexer's progress reports in OpenSearch (no metrics port is open here).
        (since_report,) = shown["indexers"].values()  # the one live indexer
        assert shown["newest_change_age_seconds"] > 0 and since_report < 30, shown
        lease_expired(settings)
        resumed = cli(short, "reindex")
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert "resume generation 2" in resumed.stdout and served(settings) == 2

        kill_halfway(short, 3)
        group = offsets.rebuild_group(settings, 3)
        assert sum(offsets.committed_offsets(settings, group).values()) > 0
        lease_expired(settings)
        cleaned = cli(short, "cleanup", "--yes")
        assert cleaned.returncode == 0 and "deleted generations 1, 3" in cleaned.stdout, cleaned.stdout + cleaned.stderr
        assert group in cleaned.stdout and sum(offsets.committed_offsets(settings, group).values()) == 0
        first = len(history.changes)
        workflow = next(c.row["workflow_id"] for c in history.changes if c.table == "workflows")
        history.add("workflows", "u", {"workflow_id": workflow, "title": "After cleanup"})
        produce(settings, history.changes[first:])
        applied(settings)
        assert not client.indices.exists(index=names.index("runs", 3))  # the live indexer did not re-create it
        rebuilt = cli(short, "reindex")  # generation 3 again, from the beginning: it verifies
        assert rebuilt.returncode == 0 and "build generation 3" in rebuilt.stdout, rebuilt.stdout + rebuilt.stderr
    converged(settings, history)


def test_two_processes_taking_the_lease_on_a_fresh_deployment_one_holds_it_the_other_is_told(settings: Settings) -> None:
    """Both create the operations index at once: the one whose creation loses must wait for the other's shard to start
    (reading it while it starts was a 503 that stopped the indexer), then learn that the lease is held."""
    layout = Layout.of(settings)
    for attempt in range(3):
        names = Names(f"{settings.index_prefix}-{attempt}")
        holders: list[lease.Holder] = []
        told: list[lease.Held] = []

        def take(names: Names = names, holders: list[lease.Holder] = holders, told: list[lease.Held] = told) -> None:
            try:
                holders.append(lease.Holder(clients.opensearch(settings), names, layout, 1, 30))
            except lease.Held as err:
                told.append(err)

        both = [threading.Thread(target=take) for _ in range(2)]
        for thread in both:
            thread.start()
        for thread in both:
            thread.join()
        for holder in holders:  # released once both tried
            holder.release()
        assert len(holders) == len(told) == 1, (holders, told)


def lease_expired(settings: Settings) -> None:
    """Until the lease of a dead rebuild has expired."""
    deadline = time.monotonic() + 60
    while lease.current(clients.opensearch(settings), Names(settings.index_prefix)) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.5)


def kill_halfway(settings: Settings, generation: int) -> None:
    """Start `reindex --no-fold` and kill -9 it once its rebuild has committed some batches (of 500 events)."""
    proc = subprocess.Popen([sys.executable, "-m", "runsearch.cli", "reindex", "--no-fold"],
                            env=process_env(settings, COLUMNS="200", RUNSEARCH_BATCH_SIZE="500"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    group, deadline = offsets.rebuild_group(settings, generation), time.monotonic() + 120
    while time.monotonic() < deadline and sum(offsets.committed_offsets(settings, group).values()) < 2_000:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_verification_keeps_what_its_sample_needs_and_finds_what_differs(settings: Settings) -> None:
    history = generate(runs=600, organizations=2, seed=34, secret=settings.jwt_secret.get_secret_value())
    produce(settings, history.changes)
    client, names = clients.opensearch(settings), Names(settings.index_prefix)
    with live_indexer(settings):
        applied(settings)
        report = maintenance.verify_serving(settings, 20, quiet)
        # 20 runs from the index and about 20 from the topics (a share of 20 in 600 drawn by hash): never near 60.
        assert report.differences == [] and 20 <= report.compared <= 60 and report.documents <= 60
        full = maintenance.verify_serving(settings, None, quiet)
        assert full.differences == [] and full.documents == len(expected(final_rows(history.changes)))
        index = names.index("runs", 1)
        victim = sorted(expected(final_rows(history.changes)))[7]
        client.update(index=index, id=victim, body={"doc": {"status": "exploded"}}, refresh=True)
        caught = cli(settings, "verify", "--full")
        assert caught.returncode == 1 and f"{victim}: differs in status" in caught.stdout
        helpers.bulk(client, ({"_op_type": "update", "_index": index, "_id": rid, "doc": {"status": "exploded"}}
                              for rid in documents(settings, index)), refresh=True)
        sampled = maintenance.verify_serving(settings, 20, quiet)
        assert len(sampled.differences) >= 20 and all("differs in status" in d for d in sampled.differences)
        client.index(index=index, id="wr_bogus", body={"workflow_run_id": "wr_bogus", "listed": True}, refresh=True)
        assert "wr_bogus: in the index, not in the topics" in maintenance.verify_serving(settings, None, quiet).differences


def test_a_fold_writes_each_document_once_and_a_stopped_fold_starts_over(settings: Settings, tmp_path: Path) -> None:
    """`reindex` folds the topics on disk and writes every document once (the index counts its writes); killed
    during the fold, it builds the generation again from the start, removes what the dead fold left on disk,
    and verifies."""
    history = generate(runs=1500, organizations=2, seed=35, secret=settings.jwt_secret.get_secret_value())
    produce(settings, history.changes)
    short = settings.model_copy(update={"lease_seconds": 15.0, "fold_dir": tmp_path})
    client, names = clients.opensearch(settings), Names(settings.index_prefix)
    with live_indexer(settings):
        applied(settings)
        proc = subprocess.Popen([sys.executable, "-m", "runsearch.cli", "reindex"],
                                env=process_env(short, RUNSEARCH_FOLD_BATCH="500"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stored, deadline = tmp_path / f"runsearch-fold-{names.index('runs', 2)}" / "fold-1.sqlite", time.monotonic() + 120
        while not (stored.exists() and stored.stat().st_size > 1_000_000):  # the second part folds too
            assert time.monotonic() < deadline and proc.poll() is None, "the fold did not start"
            time.sleep(0.1)
        parts = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _, alive = psutil.wait_procs(parts, timeout=10)
        assert parts and not alive  # the other part stops by itself once its rebuild is gone
        assert not generations.survey(client, names)[2].written  # the live indexer never wrote it
        lease_expired(settings)
        assert cli(short, "reindex", "--dry-run").stdout.startswith("build generation 2")  # from the start
        rebuilt = cli(short, "reindex")
        assert rebuilt.returncode == 0 and "0 differences" in rebuilt.stdout, rebuilt.stdout + rebuilt.stderr
        assert "folded" in rebuilt.stdout and served(settings) == 2 and list(tmp_path.iterdir()) == []
        runs = names.index("runs", 2)
        writes = client.indices.stats(index=runs, metric="indexing")["_all"]["primaries"]["indexing"]["index_total"]
        assert writes == client.count(index=runs)["count"] == len(documents(settings, runs))  # once each
    converged(settings, history)


def test_a_fold_request_answered_too_late_is_sent_again_and_every_document_created_once(
        settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """OpenSearch busy at the bulk ceiling can answer a bulk request after the client has given up (one took over 30 s
    in a 1,000,000-run rebuild, which stopped it). The request did create its documents: sent again, they exist (409)
    and count as written; the fold goes on, and every document is in the index, created once."""
    names, client = Names(settings.index_prefix), clients.opensearch(settings)
    index, alias = names.index("runs", 7), names.fold_alias("runs", 7)
    client.indices.create(index=index, body={**mappings.body("runs"), "aliases": {alias: {}}})
    store = DiskStore(tmp_path / "fold.sqlite")
    ids = [f"wr_{i:05d}" for i in range(2500)]  # three requests of 1,000 documents at most
    store.write(index, {i: ({"workflow_run_id": i, "organization_id": "o_late"}, None) for i in ids})
    target = urlsplit(settings.opensearch_urls[0])
    proxy = Proxy(target.hostname or "127.0.0.1", target.port or 9200)
    proxy.answer_late(1, 3.0)
    impatient = clients.opensearch(settings.model_copy(update={"opensearch_url": f"http://127.0.0.1:{proxy.port}"}),
                                   timeout=1)
    caplog.set_level(logging.WARNING, logger=fold.__name__)
    try:
        assert fold._write(settings, impatient, store, "runs", index, alias, quiet) == len(ids)
    finally:
        proxy.close()
        store.close()
    again = [r for r in caplog.records if r.getMessage() == "documents of the fold are written again"]
    assert [r.fields["status"] for r in again] == [["TIMEOUT"]]  # type: ignore[attr-defined]
    client.indices.refresh(index=index)
    assert sorted(documents(settings, index)) == ids
    assert client.indices.stats(index=index, metric="indexing")["_all"]["primaries"]["indexing"]["index_total"] == len(ids)


def test_indexers_started_on_a_large_history_fold_the_first_generation_then_go_live(settings: Settings,
                                                                                   tmp_path: Path) -> None:
    """Two `runsearch indexer` processes started together on a history of more events than
    RUNSEARCH_FIRST_BUILD_EVENTS: one folds the first generation (each document written once) and serves it, the other
    waits; then both index live from where the build stopped, replaying nothing."""
    history = generate(runs=400, organizations=2, seed=37, secret=settings.jwt_secret.get_secret_value())
    produce(settings, history.changes)
    log = tmp_path / "indexers.log"
    large = {"RUNSEARCH_FIRST_BUILD_EVENTS": str(sum(offsets.end_offsets(settings).values())),
             "RUNSEARCH_FOLD_DIR": str(tmp_path), "RUNSEARCH_PROGRESS_INTERVAL_SECONDS": "1"}
    indexers = [indexer_process(settings, log, **large) for _ in range(2)]
    client, runs = clients.opensearch(settings), Names(settings.index_prefix).index("runs", 1)
    try:
        deadline = time.monotonic() + 240
        while not (built := logged(log, "first build served; going live")):
            assert time.monotonic() < deadline and all(p.poll() is None for p in indexers), log.read_text()[-3000:]
            time.sleep(0.5)
        applied(settings)  # both live by now
        folded = client.indices.stats(index=runs, metric="indexing")["_all"]["primaries"]["indexing"]["index_total"]
        assert folded == client.count(index=runs)["count"] == len(documents(settings, runs))  # once each
        assert len(built) == 1 and built[0]["documents_written"] >= folded and served(settings) == 1
        assert logged(log, "first build: another process builds it; waiting")
        first = len(history.changes)
        history.add("workflow_runs", "c", {"workflow_run_id": "wr_after_build", "workflow_id": "w",
                                           "workflow_permanent_id": "wp", "organization_id": sorted(history.api_keys)[0],
                                           "status": "queued", "created_at": 2**62, "modified_at": 0})
        produce(settings, history.changes[first:])
        applied(settings)
        time.sleep(2)  # the progress lines of the last events (one a second)
        assert all(p.poll() is None for p in indexers), log.read_text()[-3000:]
    finally:
        for p in indexers:
            p.terminate()
            p.wait(timeout=60)
    written = client.indices.stats(index=runs, metric="indexing")["_all"]["primaries"]["indexing"]["index_total"]
    assert written == folded + 1  # the new run
    # Events the live group consumed: the new run's, not the history again (a replay writes nothing, as it changes
    # nothing, so only the consumers' counts show one).
    consumed = sum(line["events"] for line in logged(log, "progress"))
    assert consumed < len(history.changes) // 2, consumed
    assert len(generations.survey(client, Names(settings.index_prefix))) == 1 and list(tmp_path.glob("runsearch-fold-*")) == []
    converged(settings, history)


def logged(log: Path, message: str) -> list[dict]:
    """The JSON log lines of a process' log with this message."""
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line["msg"] == message]


def test_a_first_build_by_reindex_hands_its_place_to_the_live_indexer(settings: Settings) -> None:
    """A large history is indexed first by `reindex` (folded), before any live indexer runs: the live indexer then
    starts where the rebuild stopped, instead of replaying every topic into the served generation again; so the
    rebuild sends the dead letters itself."""
    history = generate(runs=400, organizations=2, seed=36, secret=settings.jwt_secret.get_secret_value())
    produce(settings, history.changes)
    poison = KafkaProducer(**clients.kafka(settings))
    poison.send(settings.topic("workflow_runs"), key=b'{"workflow_run_id": "wr_poison"}', value=b"{not json")
    poison.flush()
    built = cli(settings, "reindex")
    assert built.returncode == 0 and "build generation 1" in built.stdout, built.stdout + built.stderr
    assert served(settings) == 1
    assert offsets.committed_offsets(settings, settings.consumer_group) == offsets.end_offsets(settings)
    admin = KafkaAdminClient(**clients.kafka(settings))
    ids = {topic["name"]: str(topic["topic_id"]) for topic in admin.describe_topics(list(topics(settings)))}
    admin.close()
    # Each handed-over offset names the topic it belongs to (a topic created again since would be read from its start).
    assert {tp: stamped.metadata for tp, stamped in offsets.committed(settings, settings.consumer_group).items()} == {
        tp: ids[tp.topic] for tp in offsets.end_offsets(settings)}
    runs = Names(settings.index_prefix).index("runs", 1)
    client = clients.opensearch(settings)
    folded = client.indices.stats(index=runs, metric="indexing")["_all"]["primaries"]["indexing"]["index_total"]
    with live_indexer(settings):
        first = len(history.changes)
        history.add("workflow_runs", "c", {"workflow_run_id": "wr_after_build", "workflow_id": "w", "workflow_permanent_id": "wp",
                                           "organization_id": sorted(history.api_keys)[0], "status": "queued",
                                           "created_at": 2**62, "modified_at": 0})
        produce(settings, history.changes[first:])
        applied(settings)
    written = client.indices.stats(index=runs, metric="indexing")["_all"]["primaries"]["indexing"]["index_total"]
    assert written == folded + 1  # the new run only: nothing replayed
    assert max(segments(settings, 1)) > 1  # the live indexer's write added one
    merged = cli(settings, "merge")
    assert merged.returncode == 0 and "generation 1 merged" in merged.stdout, merged.stdout + merged.stderr
    assert max(segments(settings, 1)) == 1
    # The lease and the heartbeats live in an index of the same layout: no replica a single node cannot assign.
    assert client.cluster.health(index=Names(settings.index_prefix).operations_index())["status"] == "green"
    (letter,) = [entry.letter for entry in deadletters.entries(settings)]  # sent once, by the rebuild
    assert letter.value == b"{not json" and letter.origin[0] == settings.topic("workflow_runs")
    converged(settings, history)
