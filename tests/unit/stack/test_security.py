"""The secured stack's material: made once, owner-only, certificates a TLS client accepts for loopback, and
settings that carry it to every client."""

from __future__ import annotations

import ipaddress
import json
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from runsearch.settings import Settings
from runsearch.stack import security
from runsearch.stack.launcher import Stack
from runsearch.stack.processes import StackError


def test_material_is_made_once_and_readable_by_its_owner_only(tmp_path: Path) -> None:
    assert not security.is_secured(tmp_path)
    made = security.ensure(tmp_path)
    assert security.is_secured(tmp_path)
    first = made.ca.read_bytes(), made.passwords()
    assert security.ensure(tmp_path).ca.read_bytes() == first[0] and made.passwords() == first[1]  # kept, not remade
    assert made.folder.stat().st_mode & 0o777 == 0o700
    assert {f.stat().st_mode & 0o777 for f in made.folder.iterdir()} == {0o600}
    assert len(set(first[1].values())) == 3 and all(len(p) >= 24 for p in first[1].values())


def test_certificates_chain_to_the_ca_and_name_loopback(tmp_path: Path) -> None:
    made = security.ensure(tmp_path)
    node = x509.load_pem_x509_certificate(made.node_cert.read_bytes())
    names = node.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    for cert in (made.node_cert, made.client_cert):
        x509.load_pem_x509_certificate(cert.read_bytes()).verify_directly_issued_by(
            x509.load_pem_x509_certificate(made.ca.read_bytes()))
    # what both servers load: the certificate with its unencrypted PKCS#8 key, and Kafka's key-then-chain keystore
    ssl.create_default_context().load_cert_chain(made.node_cert, made.node_key)
    assert made.node_key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert made.kafka_keystore.read_bytes() == made.node_key.read_bytes() + made.node_cert.read_bytes()


def test_client_settings_and_env_file_carry_the_credentials(tmp_path: Path) -> None:
    made = security.ensure(tmp_path)
    given = Settings(opensearch_url="http://127.0.0.1:19400", stack_dir=tmp_path)  # type: ignore[call-arg]
    secured = security.client_settings(given, made)
    passwords = made.passwords()
    assert secured.opensearch_url == "https://127.0.0.1:19400" and secured.opensearch_ca_file == made.ca
    assert secured.opensearch_password and secured.opensearch_password.get_secret_value() == passwords["opensearch"]
    assert secured.kafka_password and secured.kafka_password.get_secret_value() == passwords["kafka"]
    assert secured.kafka_security_protocol == "SASL_SSL" and "runsearch" not in repr(secured.kafka_password)
    lines = dict(line.split("=", 1) for line in security.write_env_file(secured, made).read_text().splitlines())
    assert lines["RUNSEARCH_OPENSEARCH_CA_FILE"] == str(made.ca)  # a path, not a JSON string
    assert lines["RUNSEARCH_KAFKA_PASSWORD"] == passwords["kafka"]


def test_server_configuration_uses_the_material(tmp_path: Path) -> None:
    made = security.ensure(tmp_path)
    config = tmp_path / "config"
    (config / "opensearch-security").mkdir(parents=True)
    security.install_opensearch_config(made, config)
    assert (config / "node-key.pem").read_bytes() == made.node_key.read_bytes()
    users = json.loads((config / "opensearch-security" / "internal_users.yml").read_text())
    assert users[security.OPENSEARCH_USER]["hash"].startswith("$2")  # bcrypt, never the password itself
    assert made.passwords()["opensearch"] not in (config / "opensearch-security" / "internal_users.yml").read_text()
    properties = "\n".join(security.kafka_properties(made))
    assert f'user_runsearch="{made.passwords()["kafka"]}"' in properties and str(made.kafka_keystore) in properties


def test_a_folder_holding_an_unsecured_stack_is_not_secured_in_place(tmp_path: Path) -> None:
    (tmp_path / "kafka" / "data").mkdir(parents=True)
    with pytest.raises(StackError, match="unsecured stack's data"):
        Stack(Settings(stack_dir=tmp_path), secure=True)  # type: ignore[call-arg]
    assert not security.is_secured(tmp_path) and Stack(Settings(stack_dir=tmp_path)).secured is None  # type: ignore[call-arg]
