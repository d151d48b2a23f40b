"""The secured stack (`stack up --secure`) really is secured, and runsearch's clients get in with each method the
settings offer: OpenSearch with a password or a client certificate, Kafka with SCRAM-SHA-512 or PLAIN."""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer, KafkaProducer
from opensearchpy.exceptions import AuthenticationException, ConnectionError
from pydantic import SecretStr

from runsearch import clients
from runsearch.settings import Settings
from runsearch.stack import kafka as kafka_node
from runsearch.stack import security

pytestmark = [pytest.mark.integration, pytest.mark.secure]


def _user(settings: Settings) -> str:
    return str(clients.opensearch(settings).transport.perform_request("GET", "/_plugins/_security/authinfo")["user_name"])


def test_opensearch_takes_a_password_or_a_client_certificate_and_nothing_else(secured_settings: Settings) -> None:
    assert _user(secured_settings) == security.OPENSEARCH_USER
    material = security.Material(secured_settings.opensearch_ca_file.parent)  # type: ignore[union-attr]
    by_certificate = secured_settings.model_copy(update={
        "opensearch_username": None, "opensearch_password": None,
        "opensearch_client_cert": material.client_cert, "opensearch_client_key": material.client_key})
    assert _user(by_certificate) == security.CLIENT_CN
    for refused in ({"opensearch_password": SecretStr("wrong")}, {"opensearch_username": None}):
        with pytest.raises(AuthenticationException):
            _user(secured_settings.model_copy(update=refused))
    with pytest.raises(ConnectionError):  # plain HTTP is not served at all
        clients.opensearch(secured_settings.model_copy(update={
            "opensearch_url": secured_settings.opensearch_url.replace("https://", "http://")}), timeout=5).info()
    with pytest.raises(ConnectionError):  # a CA that did not sign the node's certificate
        clients.opensearch(secured_settings.model_copy(update={"opensearch_ca_file": None}), timeout=5).info()


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "PLAIN"])
def test_kafka_takes_each_sasl_mechanism(secured_settings: Settings, mechanism: str) -> None:
    settings = secured_settings.model_copy(update={"kafka_sasl_mechanism": mechanism})
    topic = settings.topic("tasks")
    kafka_node.create_topics(settings)
    producer = KafkaProducer(**clients.kafka(settings))
    producer.send(topic, key=b"k", value=mechanism.encode()).get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(topic, **clients.kafka(settings), auto_offset_reset="earliest", consumer_timeout_ms=15_000)
    try:
        assert mechanism.encode() in [m.value for m in consumer]
    finally:
        consumer.close()
