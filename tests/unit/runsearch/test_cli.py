"""What a user meets when something is wrong: one line naming the cause and the setting, an exit code of its kind,
the traceback only with --debug; a service's crash as a JSON log line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runsearch.cli import EXIT_CODES
from runsearch.cli.stack import cluster_urls

DOWN = "http://127.0.0.1:9"  # nothing listens on the discard port


def _runsearch(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("RUNSEARCH_")}
    return subprocess.run([sys.executable, "-m", "runsearch.cli", *args], capture_output=True, text=True, timeout=60,
                          env={**inherited, "COLUMNS": "300", **env})


def test_version() -> None:
    done = _runsearch("--version")
    assert done.returncode == 0 and done.stdout.strip().startswith("runsearch ") and done.stdout.count("\n") == 1


@pytest.mark.parametrize("variable, value", [("RUNSEARCH_BATCH_SIZE", "abc"), ("RUNSEARCH_INDEX_REPLICAS", "s3cr3t-ish"),
                                             ("RUNSEARCH_KAFKA_SECURITY_PROTOCOL", "TLS"), ("RUNSEARCH_JWT_SECRET", "short")])
def test_an_invalid_setting_is_one_line_naming_the_variable_not_its_value(variable: str, value: str) -> None:
    done = _runsearch("status", **{variable: value})
    output = done.stdout + done.stderr
    assert done.returncode == 2 and 2 in EXIT_CODES
    assert output.count("\n") == 1 and variable in output and value not in output and "Traceback" not in output


def test_an_unreachable_server_is_one_line_and_the_traceback_only_with_debug() -> None:
    done = _runsearch("status", RUNSEARCH_OPENSEARCH_URL=DOWN)
    output = done.stdout + done.stderr
    assert done.returncode == 3 and output.count("\n") == 1
    assert "cannot reach OpenSearch at http://127.0.0.1:9 (RUNSEARCH_OPENSEARCH_URL)" in output
    debug = _runsearch("--debug", "status", RUNSEARCH_OPENSEARCH_URL=DOWN)
    assert debug.returncode == 1 and "Traceback" in debug.stderr + debug.stdout


def test_a_service_crash_is_a_json_log_line() -> None:
    # The development secret (the default) off loopback: the API refuses to start, before it binds anything.
    done = _runsearch("api", RUNSEARCH_BIND_HOST="0.0.0.0")
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert [(line["level"], line["msg"]) for line in lines][-1] == ("error", "the api stopped")
    assert "JWT" in lines[-1]["error"]


def test_stack_nodes_take_consecutive_ports_from_the_first_url() -> None:
    assert cluster_urls("http://127.0.0.1:9200", 3) == "http://127.0.0.1:9200,http://127.0.0.1:9201,http://127.0.0.1:9202"
    assert cluster_urls("https://127.0.0.1", 2) == "https://127.0.0.1:9200,https://127.0.0.1:9201"


def test_fetching_without_maven_is_one_line_saying_what_to_install(tmp_path: Path) -> None:
    done = _runsearch("stack", "fetch", RUNSEARCH_CACHE_DIR=str(tmp_path), PATH=str(tmp_path))  # no `mvn` on it
    output = done.stdout + done.stderr
    assert done.returncode == 1 and output.count("\n") == 1 and "Traceback" not in output
    assert "Maven (`mvn`) is needed" in output and "apt-get install maven" in output


def test_an_unreachable_kafka_is_one_line_after_its_connect_timeout() -> None:
    started = time.monotonic()
    done = _runsearch("topics", RUNSEARCH_KAFKA_BOOTSTRAP="127.0.0.1:9", RUNSEARCH_KAFKA_CONNECT_TIMEOUT_SECONDS="1")
    output = done.stdout + done.stderr
    assert done.returncode == 3 and output.count("\n") == 1
    assert "cannot reach Kafka at 127.0.0.1:9 (RUNSEARCH_KAFKA_BOOTSTRAP)" in output
    assert time.monotonic() - started < 20  # the setting is honoured: kafka-python alone waits 30 s
