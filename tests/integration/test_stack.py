"""The local stack really runs both servers: a document indexed and found, a message produced and consumed."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer

from runsearch import clients, mappings
from runsearch.api.query import search_clause
from runsearch.settings import Settings
from runsearch.stack import kafka as kafka_node

pytestmark = pytest.mark.integration


@pytest.mark.secure
def test_opensearch_indexes_and_searches_with_the_added_analysis_module(settings: Settings) -> None:
    index = f"{settings.index_prefix}-smoke"
    body = mappings.body("runs")
    client = clients.opensearch(settings)
    client.indices.create(index=index, body={
        "settings": {"analysis": body["settings"]["analysis"]},
        "mappings": {"properties": {"search_text": body["mappings"]["properties"]["search_text"]}}})
    client.index(index=index, id="1", body={"search_text": ["Hello ÉCOLE"]}, refresh=True)
    for term in ("o éc", "É"):
        found = client.search(index=index, body={"query": search_clause(term)})
        assert [h["_id"] for h in found["hits"]["hits"]] == ["1"]
    assert client.info()["version"]["number"] == settings.opensearch_version


@pytest.mark.secure
def test_kafka_produces_and_consumes(settings: Settings) -> None:
    topic = settings.topic("tasks")
    assert topic in kafka_node.create_topics(settings)
    producer = KafkaProducer(**clients.kafka(settings))
    producer.send(topic, key=b"k", value=b"hello").get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(topic, **clients.kafka(settings), auto_offset_reset="earliest",
                             group_id=settings.consumer_group)
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    while not got and time.monotonic() < deadline:
        got = [m.value for batch in consumer.poll(500).values() for m in batch]
    consumer.close()
    assert got == [b"hello"]
