"""docker-compose.yml's structure, checked here where no Docker engine runs (`docker compose config` checks it where
one does): services start in order of health, Kafka answers both the containers and the host, the topics exist
before the indexer reads them, every port is published on loopback only, and each command is one of the CLI's."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from runsearch.cli import app

ROOT = Path(__file__).parents[3]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]


def test_services_wait_for_what_they_need_to_be_healthy_or_done() -> None:
    assert set(SERVICES) == {"opensearch", "kafka", "topics", "demo", "indexer", "api"}
    for name, service in SERVICES.items():
        for needed, how in service.get("depends_on", {}).items():
            assert how["condition"] in ("service_healthy", "service_completed_successfully"), (name, needed)
            if how["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[needed], needed
            else:
                assert SERVICES[needed]["restart"] == "no", needed  # a one-off job
    assert SERVICES["indexer"]["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert SERVICES["demo"]["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_kafka_answers_containers_and_the_host_and_creates_no_topic_by_itself() -> None:
    env = SERVICES["kafka"]["environment"]
    listeners = dict(item.split("://") for item in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert advertised == {"INTERNAL": "kafka:9092", "HOST": "127.0.0.1:9092"}
    host_port = listeners["HOST"].rsplit(":", 1)[1]
    assert SERVICES["kafka"]["ports"] == [f"127.0.0.1:9092:{host_port}"]  # the host's 9092 reaches the HOST listener
    assert SERVICES["topics"]["environment"]["RUNSEARCH_KAFKA_BOOTSTRAP"] == advertised["INTERNAL"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_ports_are_published_on_loopback_and_commands_exist() -> None:
    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    for name, service in SERVICES.items():
        assert all(port.startswith("127.0.0.1:") for port in service.get("ports", [])), name
        if "build" in service:
            assert service["command"][0] in commands, name


def _compose() -> bool:
    return shutil.which("docker") is not None and subprocess.run(["docker", "compose", "version"],
                                                                 capture_output=True).returncode == 0


@pytest.mark.skipif(not _compose(), reason="no Docker Compose here (the Docker client has no compose plugin)")
def test_docker_compose_accepts_it_where_it_is_installed() -> None:
    done = subprocess.run(["docker", "compose", "config", "--quiet"], cwd=ROOT, capture_output=True, text=True,
                          env={"RUNSEARCH_JWT_SECRET": "a-secret-for-the-check", "PATH": "/usr/bin:/bin:/usr/local/bin"})
    assert done.returncode == 0, done.stderr
