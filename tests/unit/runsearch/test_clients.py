"""Connections from settings: TLS and credentials where set, certificate checks on by default; secrets shown
nowhere but to the clients and child processes; the API refuses the development secret off loopback."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import confluent_kafka
import orjson
import pytest
from opensearchpy.serializer import JSONSerializer

from runsearch import clients
from runsearch.api.app import DevelopmentSecret, create_app
from runsearch.settings import Settings

SECRETS = {"opensearch_password": "os-pass-5ecret", "kafka_password": "kafka-pass-5ecret",
           "jwt_secret": "jwt-5ecret-value-000000"}


def test_secrets_never_show_in_reprs_dumps_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(opensearch_username="runsearch", kafka_username="runsearch", **SECRETS)  # type: ignore[arg-type]
    caplog.set_level(logging.INFO)
    logging.getLogger("test").info("settings %s %r", settings, settings)
    shown = [repr(settings), str(settings), settings.model_dump_json(), caplog.text]
    for secret in SECRETS.values():
        assert all(secret not in text for text in shown)
    environ = settings.environ()  # a child process gets them
    assert environ["RUNSEARCH_OPENSEARCH_PASSWORD"] == SECRETS["opensearch_password"]
    assert environ["RUNSEARCH_JWT_SECRET"] == SECRETS["jwt_secret"]


def test_opensearch_over_https_checks_certificates_and_authenticates() -> None:
    settings = Settings(opensearch_url="https://a:9200, https://b:9200", opensearch_username="u",  # type: ignore[arg-type]
                        opensearch_password="p", opensearch_ca_file="/ca.pem")
    options = clients._opensearch_options(settings)
    assert options["hosts"] == ["https://a:9200", "https://b:9200"] and options["http_auth"] == ("u", "p")
    # urllib3 checks the host name unless `ssl_assert_hostname` is False (True is not a value it takes)
    assert options["verify_certs"] and "ssl_assert_hostname" not in options and options["ca_certs"] == "/ca.pem"
    unchecked = clients._opensearch_options(settings.model_copy(update={"opensearch_verify_certs": False}))
    assert unchecked["verify_certs"] is False and unchecked["ssl_assert_hostname"] is False
    assert clients.opensearch(settings).transport.max_retries == 1  # the other node, when one cannot be reached
    # a connection for each of the fold's two writer threads (and one to spare) stays open
    assert clients.opensearch(settings).transport.get_connection().pool.pool.maxsize == 4
    plain = clients._opensearch_options(Settings())
    assert "http_auth" not in plain and "use_ssl" not in plain
    certificate = clients._opensearch_options(Settings(opensearch_url="https://a:9200", opensearch_client_cert="/c.pem",  # type: ignore[arg-type]
                                                       opensearch_client_key="/k.pem"))
    assert (certificate["client_cert"], certificate["client_key"]) == ("/c.pem", "/k.pem")


def test_bodies_are_written_as_the_standard_serializer_writes_them() -> None:
    body = {"query": {"term": {"organization_id": "o_é"}}, "size": 10, "at": datetime(2026, 11, 30, tzinfo=UTC),
            "huge": 2**70, "ratio": 0.5, "none": None}
    written = clients.OrjsonSerializer().dumps(body)
    assert orjson.loads(written) == json.loads(JSONSerializer().dumps(body)) == {
        **body, "at": "2026-11-30T00:00:00+00:00"}
    assert clients.OrjsonSerializer().dumps('{"already": "json"}') == '{"already": "json"}'


def test_a_bulk_body_of_bytes_is_sent_as_it_is_without_the_standard_serializers_fallback(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def fallback(*_: object) -> None:
        raise AssertionError("the fallback formats the whole body into its error message")

    monkeypatch.setattr(JSONSerializer, "default", fallback)
    monkeypatch.setattr(JSONSerializer, "dumps", fallback)
    body = b'{"index": {"_id": "wr_1"}}\n{"run": "\xc3\xa9"}\n'
    assert clients.OrjsonSerializer().dumps(body) is body


@pytest.mark.parametrize("protocol, mechanism", [("SASL_SSL", "SCRAM-SHA-512"), ("SASL_SSL", "PLAIN"), ("SSL", None)])
def test_kafka_options_follow_the_security_protocol(protocol: str, mechanism: str | None) -> None:
    settings = Settings(kafka_security_protocol=protocol, kafka_sasl_mechanism=mechanism or "PLAIN",  # type: ignore[arg-type]
                        kafka_username="u", kafka_password="p", kafka_ca_file="/ca.pem")
    options = clients.kafka(settings)
    assert options["security_protocol"] == protocol and options["ssl_cafile"] == "/ca.pem" and options["ssl_check_hostname"]
    assert options.get("sasl_mechanism") == mechanism and options.get("sasl_plain_password") == ("p" if mechanism else None)
    assert clients.kafka(Settings()) == {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT",
                                         "bootstrap_timeout_ms": 10_000}


@pytest.mark.parametrize("protocol, mechanism", [("SASL_SSL", "SCRAM-SHA-512"), ("SASL_SSL", "PLAIN"), ("SSL", None),
                                                 ("PLAINTEXT", None)])
def test_librdkafka_options_follow_the_security_protocol_and_name_properties_it_knows(
        protocol: str, mechanism: str | None) -> None:
    settings = Settings(kafka_security_protocol=protocol, kafka_sasl_mechanism=mechanism or "PLAIN",  # type: ignore[arg-type]
                        kafka_username="u", kafka_password="p")
    options = clients.librdkafka(settings)
    assert options["security.protocol"] == protocol and options["socket.connection.setup.timeout.ms"] == 10_000
    assert options.get("ssl.endpoint.identification.algorithm") == (None if protocol == "PLAINTEXT" else "https")
    assert (options.get("sasl.mechanism"), options.get("sasl.password")) == ((mechanism, "p") if mechanism else (None, None))
    assert clients.librdkafka(settings.model_copy(update={"kafka_ca_file": "/ca.pem"})).get("ssl.ca.location") == (
        None if protocol == "PLAINTEXT" else "/ca.pem")
    confluent_kafka.Consumer({**options, "group.id": "g"}).close()  # librdkafka refuses a property it does not know


def test_the_api_refuses_the_development_secret_off_loopback() -> None:
    with pytest.raises(DevelopmentSecret, match="RUNSEARCH_JWT_SECRET"):
        create_app(Settings(bind_host="0.0.0.0"))
    create_app(Settings(bind_host="0.0.0.0", jwt_secret="the-platform-secret-0000000000"))  # type: ignore[arg-type]
    create_app(Settings())  # loopback: the local stack's
