"""The secured local stack's material: a CA made at the first start, certificates for the servers and a client,
passwords, and the settings that let runsearch's clients in. Kept in `<stack dir>/secure/` (readable by the
owner only); its presence is what makes a stack folder a secured one."""

from __future__ import annotations

import datetime
import ipaddress
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import SecretStr

from runsearch.settings import Settings

# One-attribute names: OpenSearch reads a comma in a `-E` list setting as a separator.
NODE_DN = "CN=runsearch-node"
CLIENT_CN = "runsearch-client"
OPENSEARCH_USER = "runsearch"
KAFKA_USER = "runsearch"
BROKER_USER = "broker"  # the broker's own SASL identity on its inter-broker listener
VALIDITY = datetime.timedelta(days=825)


@dataclass(frozen=True)
class Material:
    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def node_cert(self) -> Path:
        return self.folder / "node.pem"

    @property
    def node_key(self) -> Path:
        return self.folder / "node-key.pem"

    @property
    def client_cert(self) -> Path:
        return self.folder / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.folder / "client-key.pem"

    @property
    def kafka_keystore(self) -> Path:
        """Kafka's PEM keystore: the node key followed by its certificate."""
        return self.folder / "kafka-keystore.pem"

    @property
    def env_file(self) -> Path:
        return self.folder / "runsearch.env"

    def passwords(self) -> dict[str, str]:
        return dict(json.loads((self.folder / "passwords.json").read_text()))


def material(stack_dir: Path) -> Material:
    return Material(stack_dir.resolve() / "secure")


def is_secured(stack_dir: Path) -> bool:
    return (material(stack_dir).folder / "passwords.json").exists()


def ensure(stack_dir: Path) -> Material:
    """The stack's material, made once: later starts reuse it (the servers' data holds the same users)."""
    found = material(stack_dir)
    if is_secured(stack_dir):
        return found
    found.folder.mkdir(parents=True, exist_ok=True)
    found.folder.chmod(0o700)
    ca_key, ca_cert = _authority()
    node_key = _key()
    _write(found.ca, _pem(ca_cert))
    _write(found.node_cert, _pem(_issue(ca_key, ca_cert, node_key, NODE_DN.removeprefix("CN="), server=True)))
    _write(found.node_key, _pem_key(node_key))
    _write(found.kafka_keystore, _pem_key(node_key) + found.node_cert.read_bytes())
    client_key = _key()
    _write(found.client_cert, _pem(_issue(ca_key, ca_cert, client_key, CLIENT_CN, server=False)))
    _write(found.client_key, _pem_key(client_key))
    # Written last: its presence marks the material complete.
    _write(found.folder / "passwords.json",
           json.dumps({name: secrets.token_urlsafe(18) for name in ("opensearch", "kafka", "broker")}).encode())
    return found


def client_settings(settings: Settings, found: Material) -> Settings:
    """`settings` with the secured stack's addresses and credentials: what every client of it needs."""
    passwords = found.passwords()
    return settings.model_copy(update={
        "opensearch_url": settings.opensearch_url.replace("http://", "https://"),
        "opensearch_username": OPENSEARCH_USER,
        "opensearch_password": SecretStr(passwords["opensearch"]),
        "opensearch_ca_file": found.ca,
        "opensearch_verify_certs": True,
        "kafka_security_protocol": "SASL_SSL",
        "kafka_username": KAFKA_USER,
        "kafka_password": SecretStr(passwords["kafka"]),
        "kafka_ca_file": found.ca,
    })


CLIENT_FIELDS = ("opensearch_url", "opensearch_username", "opensearch_password", "opensearch_ca_file",
                 "kafka_bootstrap", "kafka_security_protocol", "kafka_sasl_mechanism", "kafka_username",
                 "kafka_password", "kafka_ca_file")


def write_env_file(settings: Settings, found: Material) -> Path:
    """The client settings as `RUNSEARCH_*` lines a shell can source (`set -a; . <file>`)."""
    env = settings.environ()
    lines = [f"RUNSEARCH_{name.upper()}={env[f'RUNSEARCH_{name.upper()}']}" for name in CLIENT_FIELDS]
    _write(found.env_file, ("\n".join(lines) + "\n").encode())
    return found.env_file


# --- OpenSearch -------------------------------------------------------------------------


def opensearch_arguments() -> list[str]:
    """The security plugin's node settings: TLS on both layers, client certificates optional on HTTP. The
    certificate paths are relative to the node's config folder, the only place the plugin reads files from."""
    args = []
    for layer in ("transport", "http"):
        args += [f"-Eplugins.security.ssl.{layer}.pemcert_filepath=node.pem",
                 f"-Eplugins.security.ssl.{layer}.pemkey_filepath=node-key.pem",
                 f"-Eplugins.security.ssl.{layer}.pemtrustedcas_filepath=ca.pem"]
    return [
        *args,
        "-Eplugins.security.ssl.http.enabled=true",
        "-Eplugins.security.ssl.http.clientauth_mode=OPTIONAL",
        "-Eplugins.security.ssl.transport.enforce_hostname_verification=false",
        f"-Eplugins.security.nodes_dn={NODE_DN}",
        # The first start loads the users and roles below into the security index; later starts keep that index.
        "-Eplugins.security.allow_default_init_securityindex=true",
    ]


def install_opensearch_config(found: Material, config_dir: Path) -> None:
    """The node's certificates, and the security plugin's users, roles and authentication (YAML files; JSON is
    YAML). Client certificates authenticate as their CN; everyone else with HTTP basic against the internal users."""
    for source in (found.ca, found.node_cert, found.node_key):
        (config_dir / source.name).write_bytes(source.read_bytes())
    password = found.passwords()["opensearch"].encode()
    files: dict[str, dict[str, object]] = {
        "config.yml": {"_meta": {"type": "config", "config_version": 2}, "config": {"dynamic": {
            "http": {"anonymous_auth_enabled": False},
            "authc": {
                "clientcert_auth_domain": {
                    "http_enabled": True, "transport_enabled": False, "order": 0,
                    "http_authenticator": {"type": "clientcert", "challenge": False,
                                           "config": {"username_attribute": "cn"}},
                    "authentication_backend": {"type": "noop"}},
                "basic_internal_auth_domain": {
                    "http_enabled": True, "transport_enabled": True, "order": 1,
                    "http_authenticator": {"type": "basic", "challenge": True},
                    "authentication_backend": {"type": "intern"}},
            }}}},
        "internal_users.yml": {"_meta": {"type": "internalusers", "config_version": 2},
                               OPENSEARCH_USER: {"hash": bcrypt.hashpw(password, bcrypt.gensalt(12)).decode(),
                                                 "description": "runsearch's indexer, API and operator commands"}},
        "roles_mapping.yml": {"_meta": {"type": "rolesmapping", "config_version": 2},
                              "all_access": {"users": [OPENSEARCH_USER, CLIENT_CN]}},
    }
    target = config_dir / "opensearch-security"
    for name, content in files.items():
        (target / name).write_text(json.dumps(content, indent=1))


# --- Kafka ------------------------------------------------------------------------------


def kafka_properties(found: Material) -> list[str]:
    """An SASL_SSL listener taking PLAIN and SCRAM-SHA-512; the broker talks to itself over it with PLAIN."""
    passwords = found.passwords()
    plain_users = f'user_{BROKER_USER}="{passwords["broker"]}" user_{KAFKA_USER}="{passwords["kafka"]}"'
    return [
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol=PLAIN",
        "listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{BROKER_USER}" password="{passwords["broker"]}" {plain_users};',
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={found.kafka_keystore}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={found.ca}",
    ]


def kafka_scram_users(found: Material) -> list[str]:
    """`kafka-storage format` arguments: SCRAM credentials live in the cluster metadata from its first record."""
    return [f"--add-scram=SCRAM-SHA-512=[name={KAFKA_USER},password={found.passwords()['kafka']}]"]


# --- certificates -----------------------------------------------------------------------


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _authority() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = _key()
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name("runsearch local CA")).issuer_name(_name("runsearch local CA"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _issue(ca_key: rsa.RSAPrivateKey, ca_cert: x509.Certificate, key: rsa.RSAPrivateKey, common_name: str,
           server: bool) -> x509.Certificate:
    """A leaf certificate; a server's names loopback (its nodes also authenticate to each other with it)."""
    now = datetime.datetime.now(datetime.UTC)
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH] + ([ExtendedKeyUsageOID.SERVER_AUTH] if server else [])
    builder = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + VALIDITY)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    # PKCS#8 unencrypted: the form both OpenSearch's and Kafka's PEM readers take without a key password.
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _write(path: Path, content: bytes) -> None:
    path.write_bytes(content)
    path.chmod(0o600)
