"""The local stack really runs both servers: a document indexed and found, a message produced and consumed."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from kafka import KafkaConsumer, KafkaProducer

from runsearch import mappings
from runsearch.api.query import search_clause
from runsearch.settings import Settings
from runsearch.stack import kafka as kafka_node

pytestmark = pytest.mark.integration


def _request(url: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def test_opensearch_indexes_and_searches_with_the_added_analysis_module(settings: Settings) -> None:
    index = f"{settings.index_prefix}-smoke"
    body = mappings.body("runs")
    _request(f"{settings.opensearch_url}/{index}", "PUT",
             {"settings": {"analysis": body["settings"]["analysis"]},
              "mappings": {"properties": {"search_text": body["mappings"]["properties"]["search_text"]}}})
    _request(f"{settings.opensearch_url}/{index}/_doc/1?refresh=true", "PUT", {"search_text": ["Hello ÉCOLE"]})
    for term in ("o éc", "É"):
        found = _request(f"{settings.opensearch_url}/{index}/_search", "POST", {"query": search_clause(term)})
        assert [h["_id"] for h in found["hits"]["hits"]] == ["1"]
    assert _request(settings.opensearch_url)["version"]["number"] == settings.opensearch_version


def test_kafka_produces_and_consumes(settings: Settings) -> None:
    topic = settings.topic("tasks")
    assert topic in kafka_node.create_topics(settings)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    producer.send(topic, key=b"k", value=b"hello").get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest",
                             group_id=settings.consumer_group)
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    while not got and time.monotonic() < deadline:
        got = [m.value for batch in consumer.poll(500).values() for m in batch]
    consumer.close()
    assert got == [b"hello"]
