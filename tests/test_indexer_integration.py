"""Through real Kafka into real OpenSearch: convergence, restarts, poison messages."""

from __future__ import annotations

import random

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer
from opensearchpy import helpers

from demo.dataset import final_rows, generate
from indexer import store
from indexer.consumer import Indexer
from mappings import Names
from runsearch.settings import Settings
from tests.harness import drain, produce
from tests.model import assert_documents_match, expected

pytestmark = pytest.mark.integration


def indexed(settings: Settings) -> dict[str, dict]:
    os = store.client(settings.opensearch_url)
    alias = Names(settings.index_prefix).read_alias("runs")
    os.indices.refresh(index=alias)
    return {hit["_id"]: hit["_source"] for hit in helpers.scan(os, index=alias, query={"query": {"match_all": {}}})}


def assert_converged(settings: Settings, model: dict[str, dict]) -> None:
    assert_documents_match(indexed(settings), model)


def test_shuffled_duplicated_history_converges(settings: Settings) -> None:
    history = generate(runs=400, organizations=3, seed=11)
    rng = random.Random(3)
    changes = list(history.changes)
    changes += rng.sample(changes, len(changes) // 5)  # redeliveries, also of older versions after newer ones
    rng.shuffle(changes)
    produce(settings, changes, schemas=True)
    indexer = Indexer(settings)
    drain(indexer)
    indexer.close()
    assert_converged(settings, expected(final_rows(history)))


def test_poison_goes_to_dead_letters_and_later_events_apply(settings: Settings) -> None:
    history = generate(runs=20, organizations=1, seed=5)
    produce(settings, history.changes[:10])
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    poison = [b"{not json", b"\xff\xfe", orjson.dumps({"op": "x", "after": {}, "source": {"lsn": 1}})]
    for value in poison:
        producer.send(settings.topic("workflow_runs"), key=b'{"workflow_run_id": "wr_bad"}', value=value)
    producer.flush()
    produce(settings, history.changes[10:])
    indexer = Indexer(settings)
    drain(indexer)
    indexer.close()
    assert_converged(settings, expected(final_rows(history)))
    dead = KafkaConsumer(settings.deadletter_topic, bootstrap_servers=settings.kafka_bootstrap,
                         auto_offset_reset="earliest", consumer_timeout_ms=5000)
    letters = [orjson.loads(m.value) for m in dead]
    dead.close()
    assert sorted(l["reason"].split(":")[0] for l in letters) == ["unknown op 'x'", "value is not valid JSON (UTF-8)",
                                                                  "value is not valid JSON (UTF-8)"]
    assert all(l["topic"] == settings.topic("workflow_runs") and l["offset"] >= 0 for l in letters)
