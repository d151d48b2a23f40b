"""Session fixtures: real OpenSearch and Kafka, started once for the whole test run.

- `RUNSEARCH_TEST_STACK=reuse` (or both RUNSEARCH_OPENSEARCH_URL and RUNSEARCH_KAFKA_BOOTSTRAP set and
  answering): use the servers they point at, start nothing.
- `RUNSEARCH_TEST_STACK=testcontainers`: start both in Docker through testcontainers (needs a Docker engine).
- `RUNSEARCH_TEST_STACK=secure`: the same, secured (`stack up --secure`: HTTPS and users, SASL_SSL) on ports
  19400 and 19492 in `.stack-secure-test/`; `make test` runs the tests marked `secure` on it.
- otherwise: the local stack launcher starts both from Maven Central on test ports (19200, 19092) in
  `.stack-test/`, and stops them at the end.
Each test isolates itself with its own index and topic prefixes, so one stack serves the whole run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from runsearch.settings import Settings
from runsearch.stack import kafka as kafka_node
from runsearch.stack import opensearch as opensearch_node
from runsearch.stack import security
from runsearch.stack.launcher import Stack

TEST_PORTS = {"RUNSEARCH_OPENSEARCH_URL": "http://127.0.0.1:19200", "RUNSEARCH_KAFKA_BOOTSTRAP": "127.0.0.1:19092"}
SECURE_TEST_PORTS = {"RUNSEARCH_OPENSEARCH_URL": "http://127.0.0.1:19400", "RUNSEARCH_KAFKA_BOOTSTRAP": "127.0.0.1:19492"}


def _testcontainers() -> Iterator[dict[str, str]]:
    """Both servers as generic containers configured as in docker-compose.yml (testcontainers' own OpenSearch and
    Kafka modules are deprecated, and the latter refuses `apache/kafka` in KRaft mode). Kafka's host listener is
    advertised on a free port bound to the same port, so clients keep reaching it after bootstrap. Not run where no
    Docker engine exists (as on the machine this suite is developed on)."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import HttpWaitStrategy, LogMessageWaitStrategy

    from tests.harness import free_port

    host_port = free_port()
    search = (DockerContainer(f"opensearchproject/opensearch:{Settings().opensearch_version}")
              .with_env("discovery.type", "single-node").with_env("DISABLE_SECURITY_PLUGIN", "true")
              .with_env("DISABLE_INSTALL_DEMO_CONFIG", "true").with_env("OPENSEARCH_JAVA_OPTS", "-Xms1g -Xmx1g")
              .with_exposed_ports(9200)
              .waiting_for(HttpWaitStrategy(9200, "/_cluster/health").for_status_code(200).with_startup_timeout(180)))
    broker = DockerContainer("apache/kafka:4.1.1").with_bind_ports(9094, host_port).waiting_for(
        LogMessageWaitStrategy("Kafka Server started").with_startup_timeout(120))
    for name, value in {"KAFKA_NODE_ID": "1", "KAFKA_PROCESS_ROLES": "broker,controller",
                        "KAFKA_LISTENERS": "INTERNAL://:9092,HOST://:9094,CONTROLLER://:9093",
                        "KAFKA_ADVERTISED_LISTENERS": f"INTERNAL://localhost:9092,HOST://127.0.0.1:{host_port}",
                        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,HOST:PLAINTEXT",
                        "KAFKA_INTER_BROKER_LISTENER_NAME": "INTERNAL", "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
                        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093", "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
                        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false"}.items():
        broker = broker.with_env(name, value)
    with search, broker:
        yield {"RUNSEARCH_OPENSEARCH_URL": f"http://{search.get_container_host_ip()}:{search.get_exposed_port(9200)}",
               "RUNSEARCH_KAFKA_BOOTSTRAP": f"127.0.0.1:{host_port}"}


# Bulk requests over this get OpenSearch's 413 (its default is 100 MB): low enough for a test to cross it.
TEST_MAX_CONTENT_LENGTH = "16mb"
# Test stacks run beside each other (the cluster test's two nodes beside the session's node): 1g each.
TEST_HEAP = "1g"


def _test_stack() -> Stack:
    secure = os.environ.get("RUNSEARCH_TEST_STACK") == "secure"
    ports = SECURE_TEST_PORTS if secure else TEST_PORTS
    return Stack(Settings(stack_dir=".stack-secure-test" if secure else ".stack-test",
                          opensearch_url=ports["RUNSEARCH_OPENSEARCH_URL"], kafka_bootstrap=ports["RUNSEARCH_KAFKA_BOOTSTRAP"],
                          opensearch_max_content_length=TEST_MAX_CONTENT_LENGTH, opensearch_heap=TEST_HEAP), secure=secure)


def _client_variables() -> list[str]:
    return [f"RUNSEARCH_{name.upper()}" for name in security.CLIENT_FIELDS]


def _fields(environ: dict[str, str]) -> dict[str, str]:
    return {k.removeprefix("RUNSEARCH_").lower(): v for k, v in environ.items()}


@pytest.fixture(scope="session")
def servers() -> Iterator[dict[str, str]]:
    """The `RUNSEARCH_*` settings that reach a running OpenSearch and Kafka (addresses, and credentials when
    the stack is secured)."""
    mode = os.environ.get("RUNSEARCH_TEST_STACK", "")
    if mode == "testcontainers":
        yield from _testcontainers()
        return
    given = {k: os.environ[k] for k in _client_variables() if k in os.environ}
    if mode == "reuse" or (mode != "secure" and all(k in given for k in TEST_PORTS)):
        settings = Settings(**_fields(given))
        if not (opensearch_node.healthy(settings) and kafka_node.healthy(settings)):
            pytest.exit(f"RUNSEARCH_TEST_STACK asked to reuse servers, but {given} do not answer", 2)
        yield given
        return
    stack = _test_stack()
    stack.down()  # a previous run that was killed may have left its servers running
    stack.wipe()  # every session starts from empty servers
    stack.up()
    environ = stack.settings.environ()
    try:
        yield {k: environ[k] for k in _client_variables() if k in environ}
    finally:
        stack.down()


def isolated_settings(servers: dict[str, str]) -> Settings:
    """Settings pointing at the test servers, with index and topic names of their own."""
    tag = uuid.uuid4().hex[:10]
    return Settings(
        **_fields(servers),  # type: ignore[arg-type]
        index_prefix=f"t-{tag}",
        topic_prefix=f"t-{tag}",
        deadletter_topic=f"t-{tag}.deadletter",
        consumer_group=f"t-{tag}-indexer",
        indexer_metrics_port=0,
        answer_cache_seconds=0,  # tests read right after a refresh; the answer cache has its own tests
        poll_timeout_ms=100,
    )


@pytest.fixture
def settings(servers: dict[str, str]) -> Settings:
    return isolated_settings(servers)


@pytest.fixture
def secured_settings(settings: Settings) -> Settings:
    """Settings of the secured stack (`RUNSEARCH_TEST_STACK=secure`); skips on any other."""
    if settings.kafka_security_protocol == "PLAINTEXT":
        pytest.skip("needs the secured stack: `make test` runs it in its second session (RUNSEARCH_TEST_STACK=secure)")
    return settings


@pytest.fixture
def local_stack(servers: dict[str, str]) -> Iterator[Stack]:
    """The servers this session started, for tests that stop and restart them (skipped on reused servers).
    Both are running again when the test ends."""
    stack = _test_stack()
    if not (stack.opensearch.alive() and stack.kafka.alive()):
        pytest.skip("restarts need the servers this test session started, not reused ones")
    try:
        yield stack
    finally:
        stack.up()
