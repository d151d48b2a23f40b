"""A single-node Kafka in KRaft mode (combined broker and controller) on loopback; its client listener is
SASL_SSL when given the stack's security material."""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import uuid
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from runsearch import clients
from runsearch.indexer.tables import topics
from runsearch.settings import Settings
from runsearch.stack import security
from runsearch.stack.opensearch import java_home
from runsearch.stack.processes import Managed, StackError

LOG4J2 = """status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
"""


def _properties(settings: Settings, data: Path, secured: security.Material | None) -> str:
    port = settings.kafka_port
    cport = port + 1
    listener = "SASL_SSL" if secured else "PLAINTEXT"
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.bootstrap.servers=127.0.0.1:{cport}",
        f"listeners={listener}://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
        f"advertised.listeners={listener}://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        f"inter.broker.listener.name={listener}",
        f"listener.security.protocol.map=CONTROLLER:PLAINTEXT,{listener}:{listener}",
        *(security.kafka_properties(secured) if secured else []),
        f"log.dirs={data}",
        "num.partitions=1",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
        # Compacted topics keep each row's latest change; compact soon so replays stay short.
        "log.cleaner.min.compaction.lag.ms=0",
        "",
    ])


def _java(settings: Settings, libs: Path, proc: Managed, config_dir: Path, main: list[str]) -> list[str]:
    return [
        str(java_home(settings) / "bin" / "java"),
        f"-Xms{settings.kafka_heap}", f"-Xmx{settings.kafka_heap}",
        f"-Dlog4j2.configurationFile={config_dir / 'log4j2.properties'}",
        f"-Drunsearch.stack={proc.state_dir.resolve()}",  # lets `down` recognise its own process
        "-cp", f"{libs}/*",
        *main,
    ]


def data_dir(proc: Managed) -> Path:
    return proc.state_dir.resolve() / "kafka" / "data"


def formatted(proc: Managed) -> bool:
    """Whether this stack's Kafka has storage (topics, consumer offsets) from an earlier start."""
    return (data_dir(proc) / "meta.properties").exists()


def start(settings: Settings, proc: Managed, libs: Path, secured: security.Material | None) -> int:
    base = proc.state_dir.resolve() / "kafka"
    data = data_dir(proc)
    base.mkdir(parents=True, exist_ok=True)
    props = base / "server.properties"
    props.write_text(_properties(settings, data, secured))
    props.chmod(0o600)  # it holds the SASL passwords of a secured stack
    (base / "log4j2.properties").write_text(LOG4J2)
    if not formatted(proc):
        fmt = _java(settings, libs, proc, base, ["kafka.tools.StorageTool", "format",
                                                 # `=`: a random id may start with "-", which would read as an option
                                                 f"--cluster-id={_cluster_id()}",
                                                 "-c", str(props), "--standalone",
                                                 *(security.kafka_scram_users(secured) if secured else [])])
        done = subprocess.run(fmt, capture_output=True, text=True)
        if done.returncode != 0:
            raise StackError(f"formatting Kafka storage failed:\n{done.stdout}{done.stderr}")
    return proc.start(_java(settings, libs, proc, base, ["kafka.Kafka", str(props)]), os.environ, cwd=base)


def _cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def healthy(settings: Settings) -> bool:
    try:
        admin = KafkaAdminClient(**clients.kafka(settings), request_timeout_ms=3000)
    except KafkaError:
        return False
    try:
        admin.list_topics()
        return True
    except KafkaError:
        return False
    finally:
        admin.close()


def create_topics(settings: Settings) -> list[str]:
    """The CDC topics (compacted: replay needs each row's latest change) and the dead-letter topic."""
    wanted = [
        NewTopic(topic, settings.topic_partitions, 1, topic_configs={"cleanup.policy": "compact"})
        for topic in topics(settings)
    ]
    wanted.append(NewTopic(settings.deadletter_topic, 1, 1))
    admin = KafkaAdminClient(**clients.kafka(settings))
    try:
        existing = set(admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process was quicker
                admin.create_topics(missing)
        return [t.name for t in missing]
    finally:
        admin.close()
