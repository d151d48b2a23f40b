"""Through real Kafka into real OpenSearch: every kind of bad event is dead-lettered with its reason and
counted, the good events after it still apply, and large but legitimate data is indexed and found."""

from __future__ import annotations

import random

import orjson
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from prometheus_client import REGISTRY

from runsearch import clients
from runsearch.api.app import create_app
from runsearch.demo.dataset import RowChange, final_rows, generate
from runsearch.demo.events import envelope
from runsearch.indexer.consumer import Indexer
from runsearch.indexer.memory_store import MemoryStore
from runsearch.indexer.offsets import end_offsets
from runsearch.indexer.replay import Replay
from runsearch.mappings import Names
from runsearch.operations import deadletters
from runsearch.settings import Settings
from tests.harness import documents, drain, produce, refresh
from tests.model import assert_documents_match, expected

pytestmark = pytest.mark.integration

RUN_KEY = b'{"workflow_run_id": "wr_bad"}'


def _run(**over: object) -> dict:
    row = {"workflow_run_id": "wr_bad", "workflow_id": "w", "workflow_permanent_id": "wp", "organization_id": "o_0000",
           "status": "failed", "created_at": 1, "modified_at": 1}
    return {**row, **over}


def _value(row: dict, table: str = "workflow_runs") -> bytes:
    return orjson.dumps(envelope(RowChange(table, "c", row, 10**12)))


# (topic's table, key, value, the reason's beginning)
POISON = [
    ("workflow_runs", RUN_KEY, b"{not json", "value is not valid JSON"),
    ("workflow_runs", RUN_KEY, b'{"op": "c", "after": {"workflow_run_id": "\xff"}}', "value is not valid JSON"),
    ("workflow_runs", RUN_KEY, _value(_run(credits_used="12")), "workflow_runs row breaks the contract: credits_used"),
    ("workflow_runs", RUN_KEY, _value(_run(status=3)), "workflow_runs row breaks the contract: status"),
    ("workflow_runs", RUN_KEY, _value({k: v for k, v in _run().items() if k != "workflow_run_id"}),
     "after lacks primary-key column 'workflow_run_id'"),
    ("workflow_runs", RUN_KEY, orjson.dumps({**orjson.loads(_value(_run())), "op": "x"}), "unknown op 'x'"),
    ("workflow_runs", RUN_KEY, orjson.dumps({**orjson.loads(_value(_run())), "source": {"lsn": 5, "table": "audit_log"}}),
     "event of table 'audit_log' on the topic of table 'workflow_runs'"),
    ("workflow_runs", RUN_KEY, _value(_run(extra_http_headers="{oops")), "workflow_runs row breaks the contract: json column"),
    ("workflow_runs", b'{"workflow_run_id": "wr_other"}', _value(_run()), "message key does not match"),
    ("workflow_runs", orjson.dumps({"workflow_run_id": "r" * 300}), _value(_run(workflow_run_id="r" * 300)),
     "key primary-key column 'workflow_run_id' is longer"),
    ("tasks", b'{"task_id": "t_bad"}', _value({"task_id": "t_bad", "errors": '{"error_code": "X"}'}, table="tasks"),
     "tasks row breaks the contract: tasks.errors is not a JSON array"),
    ("workflow_run_parameters", b"[]", b"[]", "key is not a JSON object"),
    ("workflow_run_parameters", b'{"workflow_run_id": "wr_bad", "workflow_parameter_id": "p"}', b"[]",
     "value is not a Debezium envelope"),
]


def test_every_kind_of_poison_is_dead_lettered_with_its_reason_and_counted(settings: Settings) -> None:
    history = generate(runs=30, organizations=1, seed=5)
    produce(settings, history.changes[:40])
    producer = KafkaProducer(**clients.kafka(settings))
    for table, key, value, _ in POISON:  # keyed: compacted topics refuse keyless messages
        producer.send(settings.topic(table), key=key, value=value)
    producer.flush()
    produce(settings, history.changes[40:])  # good events after the bad ones
    before = {t: REGISTRY.get_sample_value("runsearch_indexer_events_total",
                                           {"topic": settings.topic(t), "outcome": "deadlettered"}) or 0 for t, *_ in POISON}
    indexer = Indexer(settings)
    drain(indexer)
    indexer.close()

    assert_documents_match(documents(settings, Names(settings.index_prefix).read_alias("runs")),
                           expected(final_rows(history.changes)))
    letters = [entry.letter for entry in deadletters.entries(settings)]
    assert len(letters) == len(POISON)
    for table, key, value, reason in POISON:  # each reason in its own letter, from the topic it came from, with it
        letter = next((dl for dl in letters if dl.origin[0] == settings.topic(table) and dl.reason.startswith(reason)), None)
        assert letter is not None and letter.origin[2] >= 0, (reason, [dl.reason for dl in letters])
        assert (letter.key, letter.value, letter.payload) == (key, value, "original")
        letters.remove(letter)
    for table in {t for t, *_ in POISON}:
        counted = REGISTRY.get_sample_value("runsearch_indexer_events_total",
                                            {"topic": settings.topic(table), "outcome": "deadlettered"})
        assert counted - before[table] == sum(1 for t, *_ in POISON if t == table)


def _large_text(rng: random.Random, size: int) -> str:
    words = ["invoice", "portal", "ÉCOLE", "Straße", "東京", "🚀", "a*b?c", "back\\slash", "50%"]
    parts: list[str] = []
    length = 0
    while length < size:
        parts.append(f"{rng.choice(words)}-{rng.getrandbits(32):08x}")
        length += len(parts[-1])
    return " ".join(parts)[:size]


@pytest.mark.parametrize("size", [40_000, 300_000, 900_000])  # past Lucene's 32 KB term limit, up to the broker's 1 MB
def test_large_values_and_headers_are_indexed_and_found_by_a_middle_substring(settings: Settings, size: int) -> None:
    history = generate(runs=3, organizations=1, seed=6)
    rng = random.Random(size)
    run = next(c for c in reversed(history.changes) if c.table == "workflow_runs")
    value, headers = _large_text(rng, size), orjson.dumps({"X-Blob": _large_text(rng, size)}).decode()
    param = next(c for c in history.changes
                 if c.table == "workflow_run_parameters" and c.row["workflow_run_id"] != run.row["workflow_run_id"])
    history.add("workflow_runs", "u", {**run.row, "extra_http_headers": headers})
    history.add("workflow_run_parameters", "u", {**param.row, "value": value})
    produce(settings, history.changes)
    indexer = Indexer(settings)
    drain(indexer)
    refresh(settings)
    indexer.close()
    key = history.api_keys["o_0000"]
    with TestClient(create_app(settings)) as client:
        for text, run_id in ((value, param.row["workflow_run_id"]), (headers, run.row["workflow_run_id"])):
            middle = text[len(text) // 2 - 250: len(text) // 2 + 250]
            shouted = "".join(c.upper() if c.isascii() else c for c in middle)  # case-insensitive, too
            response = client.get("/v1/agents/runs", params={"search_key": shouted}, headers={"x-api-key": key})
            assert response.status_code == 200, response.text
            assert [r["workflow_run_id"] for r in response.json()] == [run_id]



def test_a_run_larger_than_kafkas_default_message_size_is_indexed_where_the_topics_allow_it(settings: Settings) -> None:
    """Kafka's 1 MB is a default: a deployment may raise a topic's `max.message.bytes`, and Debezium then sends what
    the row holds; here 3 MB of headers in an update under FULL (`before` and `after` both carry them: a 6 MB
    message). The live indexer (kafka-python) and a replay (librdkafka: what a rebuild folds) both take it; its
    document is about three times the row (kept for merging, the response, the searched text), within the test
    OpenSearch's 16 MB `http.max_content_length`."""
    history = generate(runs=3, organizations=1, seed=7)
    produce(settings, history.changes)
    run = next(c for c in reversed(history.changes) if c.table == "workflow_runs")
    headers = orjson.dumps({"X-Blob": _large_text(random.Random(7), 3_000_000)}).decode()
    big = {**run.row, "extra_http_headers": headers}
    admin = KafkaAdminClient(**clients.kafka(settings))
    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, settings.topic("workflow_runs"),
                                        configs={"max.message.bytes": str(16 << 20)})])
    admin.close()
    value = orjson.dumps({"before": big, "after": big, "op": "u", "ts_ms": 1,
                          "source": {"lsn": 10**12, "table": "workflow_runs", "ts_ms": 1}})
    assert len(value) > 6_000_000
    producer = KafkaProducer(**clients.kafka(settings), max_request_size=16 << 20)
    producer.send(settings.topic("workflow_runs"), key=orjson.dumps({"workflow_run_id": big["workflow_run_id"]}),
                  value=value).get(timeout=30)
    producer.close()
    indexer = Indexer(settings)
    drain(indexer)
    refresh(settings)
    indexer.close()
    middle = headers[len(headers) // 2 - 250: len(headers) // 2 + 250]
    with TestClient(create_app(settings)) as client:
        response = client.get("/v1/agents/runs", params={"search_key": middle},
                              headers={"x-api-key": history.api_keys["o_0000"]})
    assert response.status_code == 200, response.text[:300]
    assert [(r["workflow_run_id"], r["extra_http_headers"]) for r in response.json()] == [
        (big["workflow_run_id"], orjson.loads(headers))]
    store, target = MemoryStore(), Names("replayed").generation(1)
    with Replay(settings, store, target) as replay:
        replay.advance(end_offsets(settings), lambda *_: None)
    assert store.indices[target.write_alias("runs")][big["workflow_run_id"]].source == documents(
        settings, Names(settings.index_prefix).read_alias("runs"))[big["workflow_run_id"]]
