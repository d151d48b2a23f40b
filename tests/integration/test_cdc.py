"""What Debezium, PostgreSQL and Kafka really deliver, through real Kafka into real OpenSearch: the index never
stops and never goes silently wrong.

- placeholders for unchanged large (TOASTed) values, under REPLICA IDENTITY DEFAULT and FULL;
- deletes seen only as their tombstone (compaction), and tombstones delivered again after a re-create;
- `infinity`, `-infinity` and years past 9999, LSNs past a signed long, values the contract does not know yet;
- events that fail while applying, dead letters that must fit the topic, and re-applying them after a fix;
- a backlog of large documents (bulk requests bounded in bytes; OpenSearch's 413 splits them);
- a fan-out over thousands of runs that must not cost the consumer its group.

After each test the index equals the model of the rows (tests/model.py), dead letters aside.
"""

from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jwt
import orjson
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaAdminClient, KafkaProducer
from prometheus_client import REGISTRY

from runsearch import clients
from runsearch.api.app import create_app
from runsearch.demo.dataset import INFINITY, MINUS_INFINITY, YEAR_20000, History, RowChange, api_key, churn, final_rows, generate
from runsearch.demo.events import TOAST_BYTES, Encoder, envelope
from runsearch.demo.publish import publish
from runsearch.indexer import document
from runsearch.indexer.consumer import Indexer
from runsearch.indexer.deadletter_topic import DeadLetterTopicError
from runsearch.indexer.decode import PLACEHOLDER
from runsearch.indexer.memory_store import MemoryStore
from runsearch.indexer.offsets import committed_offsets, end_offsets
from runsearch.indexer.replay import Replay
from runsearch.mappings import Names
from runsearch.operations import deadletters
from runsearch.settings import Settings
from runsearch.stack import kafka as kafka_node
from tests.harness import documents, drain, indexer_process, process_env, produce, refresh
from tests.model import assert_documents_match, expected, responses, search

pytestmark = pytest.mark.integration


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _index(settings: Settings, changes: list[RowChange], encoder: Encoder | None = None, **overrides: object) -> None:
    """Publish the changes and let an indexer apply all of them."""
    produce(settings, changes, encoder)
    indexer = Indexer(settings.model_copy(update=overrides))
    try:
        drain(indexer)
        refresh(settings)
    finally:
        indexer.close()


@contextmanager
def _api(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"auth_cache_seconds": 0}))) as client:
        yield client


def _runs(client: TestClient, key: str, **params: object) -> list[dict]:
    response = client.get("/v1/agents/runs", params={"page_size": 1000, **params}, headers={"x-api-key": key})
    assert response.status_code == 200, response.text
    return response.json()


def _converged(settings: Settings, changes: list[RowChange]) -> None:
    assert_documents_match(documents(settings, Names(settings.index_prefix).read_alias("runs")),
                           expected(final_rows(changes)))


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runsearch.cli", *args], env=process_env(settings, COLUMNS="250"),
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("identity", ["default", "full"])
def test_a_production_shaped_history_answers_exactly_as_the_platform(settings: Settings, identity: str) -> None:
    """Large values left out of updates, half of the deletes seen only as tombstones, hard-deleted and revoked
    keys, statuses the contract does not know, timestamps past Python's range: every run served as the platform
    renders its latest row, every filter answering as the model, every revoked or deleted key refused."""
    history = churn(generate(runs=400, organizations=3, seed=41, secret=settings.jwt_secret.get_secret_value()), seed=42,
                    secret=settings.jwt_secret.get_secret_value())
    encoder = Encoder(identity="full" if identity == "full" else "default", toast_bytes=TOAST_BYTES,
                      tombstone_only=lambda change: change.lsn % 2 == 0)
    _index(settings, history.changes, encoder)
    rows = list(final_rows(history.changes))
    model, rendered = expected(rows), responses(rows)
    _converged(settings, history.changes)
    rng = random.Random(43)
    with _api(settings) as client:
        for org, key in history.api_keys.items():
            served = _runs(client, key)
            assert [run["workflow_run_id"] for run in served] == search(model, org)
            for run in served:  # the latest version of every row, large values included
                assert run == rendered[run["workflow_run_id"]], run["workflow_run_id"]
            listed = [rid for rid in model if model[rid]["organization_id"] == org and model[rid]["listed"]]
            for _ in range(15):
                rid = rng.choice(listed)
                texts = [rid, *model[rid]["param_texts"], *model[rid]["values"], model[rid]["headers"] or ""]
                text = rng.choice([t for t in texts if len(t) >= 3])
                start = rng.randrange(len(text) - 2)
                term = text[start:start + rng.randint(3, 12)]
                found = [r["workflow_run_id"] for r in _runs(client, key, search_key=term)]
                assert found == search(model, org, search_key=term), term
            for code in sorted({c for m in model.values() for c in m["error_codes"]})[:10]:
                assert [r["workflow_run_id"] for r in _runs(client, key, error_code=code)] == search(model, org, error_code=code)
        assert {run["status"] for org, key in history.api_keys.items() for run in _runs(client, key)} >= {"needs_review"}
        for key in history.refused_keys:
            assert client.get("/v1/agents/runs", headers={"x-api-key": key}).status_code == 403
    assert not list(deadletters.entries(settings))  # nothing of this was a dead letter


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_topics_compressed_with_any_codec_are_consumed(settings: Settings, codec: str) -> None:
    history = generate(runs=40, organizations=1, seed=47, secret=settings.jwt_secret.get_secret_value())
    kafka_node.create_topics(settings)
    publish(settings, history.changes, compression=codec)
    _index(settings, [])
    _converged(settings, history.changes)
    replayed, target = MemoryStore(), Names("replay").generation(0)
    with Replay(settings, replayed, target) as replay:  # a rebuild's reader (librdkafka) takes every codec too
        assert replay.advance(end_offsets(settings), lambda *_: None) == len(history.changes)
    assert_documents_match({rid: v.source for rid, v in replayed.indices[target.write_alias("runs")].items()},
                           expected(final_rows(history.changes)))


def _run(run_id: str, org: str = "o_0000", **over: object) -> dict:
    base = 1_767_225_600_000_000
    return {"workflow_run_id": run_id, "workflow_id": "w_1", "workflow_permanent_id": "wpid_1", "organization_id": org,
            "status": "running", "extra_http_headers": None, "created_at": base, "modified_at": base, **over}


def _message(table: str, row: dict, lsn: int, op: str = "c") -> tuple[bytes, bytes]:
    return orjson.dumps({"workflow_run_id": row["workflow_run_id"]}) if table == "workflow_runs" else b"{}", \
        orjson.dumps(envelope(RowChange(table, op, row, lsn)))


def _send(settings: Settings, messages: list[tuple[str, bytes | None, bytes | None]]) -> None:
    """Raw messages, keyed, to the topics of their tables (which `produce` creates)."""
    produce(settings, [])
    producer = KafkaProducer(**clients.kafka(settings), max_request_size=2_000_000)
    for table, key, value in messages:
        producer.send(settings.topic(table), key=key, value=value)
    producer.flush()
    producer.close()


def test_a_placeholder_with_no_known_value_is_indexed_without_it_until_a_complete_event(settings: Settings) -> None:
    """The first event seen for a run is an update whose large headers are the placeholder (its create was
    compacted away, or a rebuild has not reached it): the run is indexed from the other columns and counted; the
    older create, arriving later, completes it; a later complete event sets it as it is."""
    key = api_key("o_0000", settings.jwt_secret.get_secret_value())
    produce(settings, [RowChange("organization_auth_tokens", "c", {"id": "k", "organization_id": "o_0000",
                                                                   "token_type": "api", "token": key, "valid": True}, 1)])
    headers = json.dumps({"X-Blob": "b" * 3_000})
    created = _run("wr_toast", extra_http_headers=headers, status="terminated")
    updated = {**created, "extra_http_headers": PLACEHOLDER, "status": "completed", "modified_at": created["modified_at"] + 1}
    topic = settings.topic("workflow_runs")
    before = _metric("runsearch_indexer_unavailable_values_total", topic=topic)
    _send(settings, [("workflow_runs", *_message("workflow_runs", updated, 20, "u"))])
    _index(settings, [])
    with _api(settings) as client:
        (run,) = _runs(client, key)
        assert (run["status"], run["extra_http_headers"]) == ("completed", None)
        assert _metric("runsearch_indexer_unavailable_values_total", topic=topic) == before + 1
        _send(settings, [("workflow_runs", *_message("workflow_runs", created, 10))])  # the older create, late
        _index(settings, [])
        (run,) = _runs(client, key)
        assert (run["status"], run["extra_http_headers"]) == ("completed", json.loads(headers))  # completed by it
        assert [r["workflow_run_id"] for r in _runs(client, key, search_key="bbbbbb")] == ["wr_toast"]
        newer = json.dumps({"X-Other": "c" * 3_000})
        _send(settings, [("workflow_runs", *_message("workflow_runs", {**updated, "extra_http_headers": newer}, 30, "u"))])
        _index(settings, [])
        (run,) = _runs(client, key)
        assert run["extra_http_headers"] == json.loads(newer)


def test_tombstones_delete_their_key_and_a_replay_keeps_what_was_re_created(settings: Settings) -> None:
    """create -> tombstone only; create -> delete -> tombstone; create -> tombstone -> re-create; a task, a run
    parameter and an API key deleted by their tombstone alone. Then the whole topics replayed into the same
    index (a tombstone delivered again after its row's re-create): the re-created row stays."""
    h = History()
    key = api_key("o_0000", settings.jwt_secret.get_secret_value())
    doomed_key = jwt.encode({"sub": "o_0000", "key": "doomed"}, settings.jwt_secret.get_secret_value(), algorithm="HS256")
    for tid, token in (("k", key), ("k_doomed", doomed_key)):
        h.add("organization_auth_tokens", "c", {"id": tid, "organization_id": "o_0000", "token_type": "api",
                                                "token": token, "valid": True})
    for rid in ("wr_tomb_only", "wr_delete_tomb", "wr_recreated", "wr_kept"):
        h.add("workflow_runs", "c", _run(rid))
    h.add("workflow_run_parameters", "c", {"workflow_run_id": "wr_kept", "workflow_parameter_id": "p", "value": "findme-param"})
    h.add("tasks", "c", {"task_id": "t", "workflow_run_id": "wr_kept", "errors": '[{"error_code": "GONE_WITH_TASK"}]'})
    with _api(settings) as client:
        _index(settings, h.changes)
        assert client.get("/v1/agents/runs", headers={"x-api-key": doomed_key}).status_code == 200
        first = len(h.changes)
        h.add("workflow_runs", "d", {"workflow_run_id": "wr_tomb_only"})
        h.add("workflow_runs", "d", {"workflow_run_id": "wr_delete_tomb"})
        h.add("workflow_runs", "d", {"workflow_run_id": "wr_recreated"})
        h.add("workflow_runs", "c", _run("wr_recreated", status="completed"))
        h.add("workflow_run_parameters", "d", {"workflow_run_id": "wr_kept", "workflow_parameter_id": "p"})
        h.add("tasks", "d", {"task_id": "t"})
        h.add("organization_auth_tokens", "d", {"id": "k_doomed"})
        tombstone_only = {c.lsn for c in h.changes[first:] if c.op == "d" and c.row.get("workflow_run_id") != "wr_delete_tomb"}
        # Encoded after the creates so the encoder sees only what is new; keys of deletes only, as Debezium sends.
        _index(settings, h.changes[first:], Encoder(tombstone_only=lambda c: c.lsn in tombstone_only))

        def state() -> dict[str, str]:
            return {run["workflow_run_id"]: run["status"] for run in _runs(client, key)}

        assert state() == {"wr_recreated": "completed", "wr_kept": "running"}
        assert _runs(client, key, search_key="findme-param") == []
        assert _runs(client, key, error_code="GONE_WITH_TASK") == []
        assert client.get("/v1/agents/runs", headers={"x-api-key": doomed_key}).status_code == 403
        _converged(settings, h.changes)
        # A consumer of another group replays every topic from the start over the same index.
        _index(settings, [], consumer_group=f"{settings.consumer_group}-replay")
        assert state() == {"wr_recreated": "completed", "wr_kept": "running"}
        assert client.get("/v1/agents/runs", headers={"x-api-key": doomed_key}).status_code == 403
    _converged(settings, h.changes)


def test_out_of_range_values_are_served_or_dead_lettered_and_never_stop_the_indexer(settings: Settings) -> None:
    """`infinity`, `-infinity` and year 20000 in every timestamp of a run are served as the nearest instant Python
    has and sorted as PostgreSQL sorts them; an LSN past a signed long and an integer past 64 bits are dead
    letters; the events after them apply."""
    key = api_key("o_0000", settings.jwt_secret.get_secret_value())
    h = History()
    h.add("organization_auth_tokens", "c", {"id": "k", "organization_id": "o_0000", "token_type": "api", "token": key,
                                            "valid": True})
    h.add("workflow_runs", "c", _run("wr_infinite", created_at=INFINITY, started_at=YEAR_20000, finished_at=INFINITY,
                                     queued_at=MINUS_INFINITY, modified_at=INFINITY))
    h.add("workflow_runs", "c", _run("wr_far", created_at=YEAR_20000))
    h.add("workflow_runs", "c", _run("wr_past", created_at=MINUS_INFINITY, status="a_status_from_the_future"))
    h.add("workflow_runs", "c", _run("wr_now"))
    produce(settings, h.changes[:2])
    long_lsn = envelope(RowChange("workflow_runs", "u", _run("wr_infinite", status="failed"), 1))
    long_lsn["source"]["lsn"] = 2**63
    _send(settings, [("workflow_runs", b'{"workflow_run_id": "wr_infinite"}', orjson.dumps(long_lsn)),
                     ("workflow_runs", *_message("workflow_runs", _run("wr_now", credits_used=2**64 - 1), 3))])
    _index(settings, h.changes[2:])
    with _api(settings) as client:
        served = _runs(client, key)
    assert [run["workflow_run_id"] for run in served] == ["wr_infinite", "wr_far", "wr_now", "wr_past"]
    infinite = served[0]
    assert (infinite["created_at"], infinite["started_at"], infinite["queued_at"]) == \
        ("9999-12-31T23:59:59.999999", "9999-12-31T23:59:59.999999", "0001-01-01T00:00:00")
    assert served[-1]["status"] == "a_status_from_the_future"
    reasons = sorted(entry.letter.reason for entry in deadletters.entries(settings))
    assert len(reasons) == 2 and "source.lsn is beyond" in reasons[0] and "credits_used" in reasons[1], reasons
    _converged(settings, h.changes)


def test_an_event_that_fails_to_apply_is_a_dead_letter_and_is_reapplied_after_the_fix(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any error while applying one event (here: a bug that fires for one run's document) makes that event a
    dead letter with its reason; every other event applies. After the fix, `runsearch deadletters reapply`
    applies them, and the index equals the model."""
    history = generate(runs=80, organizations=2, seed=44, secret=settings.jwt_secret.get_secret_value())
    cursed = "wr_000000007"
    finalize = document.finalize

    def broken(doc: document.Document) -> document.Document:
        if doc["workflow_run_id"] == cursed:
            raise KeyError("the bug")
        return finalize(doc)

    monkeypatch.setattr(document, "finalize", broken)
    _index(settings, history.changes)
    letters = list(deadletters.entries(settings))
    assert letters and all(e.letter.header("__connect.errors.stage") == "TASK_PUT" for e in letters)
    assert all(e.letter.reason.startswith("KeyError raised at") for e in letters), letters[0].letter.reason
    docs = documents(settings, Names(settings.index_prefix).read_alias("runs"))
    assert cursed not in docs and len(docs) >= 79
    monkeypatch.undo()  # the fix

    listed = _cli(settings, "deadletters", "list")
    assert listed.returncode == 0 and f"{len(letters):,} dead letters" in listed.stdout
    again = _cli(settings, "deadletters", "reapply")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{len(letters):,} applied" in again.stdout and "0 still fail" in again.stdout
    _converged(settings, history.changes)


def test_an_oversized_dead_letter_is_a_pointer_with_an_excerpt(settings: Settings) -> None:
    """A poison message as large as the broker allows: its dead letter would not fit the topic, so it carries
    where the original is and its first bytes, in Kafka Connect's headers; re-applying reads the original."""
    value = b'{"op": "c", "source": {"lsn": 1}, "after": "' + b"x" * 1_000_000 + b'"}'
    _send(settings, [("workflow_runs", b'{"workflow_run_id": "wr_huge"}', value)])
    _index(settings, [])
    (entry,) = deadletters.entries(settings)
    letter = entry.letter
    assert letter.payload == "excerpt" and len(letter.value or b"") <= 1024 and letter.value == value[:len(letter.value or b"")]
    assert letter.origin[0] == settings.topic("workflow_runs") and letter.origin[2] >= 0
    assert letter.header("__connect.errors.exception.class.name") == "Poison"
    assert letter.header("runsearch.errors.original.bytes") == str(len(value) + len(b'{"workflow_run_id": "wr_huge"}'))
    assert "after is not a JSON object" in letter.reason
    shown = _cli(settings, "deadletters", "show", entry.ref)
    assert shown.returncode == 0 and "__connect.errors.topic" in shown.stdout and "excerpt" in shown.stdout
    again = _cli(settings, "deadletters", "reapply", entry.ref)  # decoded from the original: still poison
    assert again.returncode == 1 and "after is not a JSON object" in again.stdout


def test_the_deadletter_topic_is_created_at_start_or_the_indexer_says_why(settings: Settings) -> None:
    fresh = settings.model_copy(update={"deadletter_topic": f"{settings.deadletter_topic}-created"})
    Indexer(fresh).close()
    admin = KafkaAdminClient(**clients.kafka(settings))
    try:
        assert fresh.deadletter_topic in admin.list_topics()
    finally:
        admin.close()
    with pytest.raises(DeadLetterTopicError, match="RUNSEARCH_DEADLETTER_TOPIC"):
        Indexer(settings.model_copy(update={"deadletter_topic": "not a valid topic name!"}))


def test_a_backlog_of_large_runs_is_written_in_requests_opensearch_accepts(settings: Settings, tmp_path: Path) -> None:
    """1,200 runs with 120 KB headers (updates leave them out: placeholders), then their workflows renamed, which
    rewrites every one of these documents (about 400 KB each). The indexer's bulk budget is set above what the
    test OpenSearch accepts (16 MB), so real 413s happen: each is split, nothing is lost; and the indexer holds
    only about `RUNSEARCH_BATCH_MAX_BYTES` of documents at once, however many the rename touches."""
    history = generate(runs=1_200, organizations=2, seed=45, secret=settings.jwt_secret.get_secret_value())
    rng = random.Random(46)
    blobs: dict[str, str] = {}
    for change in history.changes:
        if change.table == "workflow_runs":
            rid = change.row["workflow_run_id"]
            blobs.setdefault(rid, json.dumps({"X-Blob": "".join(rng.choices("abcdefghij klmnop", k=120_000))}))
            change.row["extra_http_headers"] = blobs[rid]
    encoder = Encoder(toast_bytes=TOAST_BYTES)
    produce(settings, history.changes, encoder)
    log = tmp_path / "indexer.log"
    log.touch()
    proc = indexer_process(settings, log, RUNSEARCH_BULK_MAX_BYTES=str(64 * 1024 * 1024))
    peak = 0.0

    def applied_everything() -> None:
        nonlocal peak
        ends = end_offsets(settings)
        deadline = time.monotonic() + 600
        while not all(committed_offsets(settings, settings.consumer_group)[tp] >= end for tp, end in ends.items()):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            peak = max(peak, _rss_mib(proc.pid))
            time.sleep(0.5)

    try:
        applied_everything()
        first = len(history.changes)
        for wid in sorted({c.row["workflow_id"] for c in history.changes if c.table == "workflows"}):
            history.add("workflows", "u", {"workflow_id": wid, "title": f"Renamed {wid}"})
        produce(settings, history.changes[first:], encoder)  # now every document is rewritten at once
        applied_everything()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    splits = log.read_text().count("bulk request over OpenSearch's size limit, split")
    print(f"\n1,200 runs with 120 KB headers, then renamed: {splits} bulk requests split after a 413; "
          f"indexer RSS peak {peak:.0f} MiB")
    assert splits > 0
    assert peak < 768  # all the rewritten documents together are about 500 MB
    _converged(settings, history.changes)


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_a_fan_out_over_thousands_of_runs_keeps_the_consumer_in_its_group(settings: Settings,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    """A workflow renamed and a definition soft-deleted under 6,000 runs, applied by an indexer whose
    `max.poll.interval.ms` is far shorter than the fan-out: it polls between slices, so Kafka's client never
    leaves the group (it warns when it does) and the batch commits; every run shows the new title and no longer
    matches the definition's key."""
    h = History()
    h.add("workflows", "c", {"workflow_id": "w_1", "title": "Old title"})
    h.add("workflow_parameters", "c", {"workflow_parameter_id": "p_1", "key": "fanout_key", "deleted_at": None})
    for n in range(6_000):
        h.add("workflow_runs", "c", _run(f"wr_{n:05d}"))
        h.add("workflow_run_parameters", "c", {"workflow_run_id": f"wr_{n:05d}", "workflow_parameter_id": "p_1", "value": "v"})
    _index(settings, h.changes)
    first = len(h.changes)
    h.add("workflows", "u", {"workflow_id": "w_1", "title": "New title"})
    h.add("workflow_parameters", "u", {"workflow_parameter_id": "p_1", "key": "fanout_key", "deleted_at": 5})
    produce(settings, h.changes[first:])
    failures = _metric("runsearch_indexer_commit_failures_total")
    fanned = _metric("runsearch_indexer_fan_out_runs_total")
    indexer = Indexer(settings.model_copy(update={"max_poll_interval_ms": 1_000, "fan_out_slice": 5}))
    longest = 0.0
    caplog.set_level(logging.WARNING, logger="kafka.coordinator.heartbeat")
    try:
        deadline = time.monotonic() + 300
        while not indexer.caught_up():
            assert time.monotonic() < deadline
            started = time.monotonic()
            if indexer.run_once():
                longest = max(longest, time.monotonic() - started)
    finally:
        indexer.close()
    # The batch took longer than max.poll.interval.ms plus a heartbeat (when the client checks it) ...
    assert longest > 1.0 + 3.0, longest
    assert not [r for r in caplog.records if "poll timeout has expired" in r.getMessage()]  # ... without leaving
    assert _metric("runsearch_indexer_commit_failures_total") == failures
    assert committed_offsets(settings, settings.consumer_group) == end_offsets(settings)
    assert _metric("runsearch_indexer_fan_out_runs_total") - fanned >= 6_000
    docs = documents(settings, Names(settings.index_prefix).read_alias("runs"))
    assert {orjson.loads(d["run"])["workflow_title"] for d in docs.values()} == {"New title"}
    key = api_key("o_0000", settings.jwt_secret.get_secret_value())
    _index(settings, [RowChange("organization_auth_tokens", "c", {"id": "k", "organization_id": "o_0000",
                                                                  "token_type": "api", "token": key, "valid": True}, 1)])
    with _api(settings) as client:
        assert _runs(client, key, search_key="fanout_key") == []
    _converged(settings, h.changes)
