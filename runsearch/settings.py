"""Every setting of runsearch, read from `RUNSEARCH_*` environment variables.

This is the one place configuration lives; README's configuration table lists the same
fields (a test keeps the two in step). Defaults suit a laptop running `make run`.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_cache_dir() -> Path:
    # As root the cache must be readable by the unprivileged OpenSearch user, so not under /root.
    if os.geteuid() == 0:
        return Path("/var/cache/runsearch")
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "runsearch"


DEVELOPMENT_JWT_SECRET = "runsearch-local-development-secret-0001"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RUNSEARCH_", extra="ignore")

    # --- servers -----------------------------------------------------------------------
    opensearch_url: str = Field(
        "http://127.0.0.1:9200",
        description="OpenSearch HTTP endpoint, or several comma-separated (the nodes of a cluster; the stack binds the first)",
    )
    opensearch_username: str | None = Field(None, description="OpenSearch user (basic auth), when the security plugin is on")
    opensearch_password: SecretStr | None = Field(None, description="Password of `RUNSEARCH_OPENSEARCH_USERNAME`")
    opensearch_ca_file: Path | None = Field(None, description="CA bundle that signs OpenSearch's HTTPS certificate")
    opensearch_client_cert: Path | None = Field(None, description="Client certificate (PEM) to authenticate with instead")
    opensearch_client_key: Path | None = Field(None, description="Key (PEM) of `RUNSEARCH_OPENSEARCH_CLIENT_CERT`")
    opensearch_verify_certs: bool = Field(True, description="Check OpenSearch's certificate and host name (keep it on)")
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap server host:port (the stack binds its port)")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Kafka's `security.protocol`")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="Kafka's `sasl.mechanism` with `SASL_SSL`")
    kafka_username: str | None = Field(None, description="Kafka SASL user")
    kafka_password: SecretStr | None = Field(None, description="Password of `RUNSEARCH_KAFKA_USERNAME`")
    kafka_ca_file: Path | None = Field(None, description="CA bundle that signs the brokers' certificates (`SSL`, `SASL_SSL`)")
    kafka_connect_timeout_seconds: float = Field(
        10.0, gt=0, description="How long a Kafka client waits for its first broker before the command fails, naming it")

    # --- topics (Debezium) -------------------------------------------------------------
    topic_prefix: str = Field("skyvern", description="Debezium topic prefix: topics are `<prefix>.public.<table>`")
    topic_overrides: dict[str, str] = Field(
        default_factory=dict, description='JSON object table -> full topic name, e.g. `{"tasks": "cdc.tasks"}`'
    )
    deadletter_topic: str = Field(
        "runsearch.deadletter",
        description="Topic receiving undecodable or contract-breaking events (created at start when missing)",
    )
    deadletter_max_bytes: int = Field(
        1_000_000, ge=16_384,
        description=("Largest dead letter written (keep it under the topic's `max.message.bytes`); a larger original is "
                     "carried as a pointer plus an excerpt"),
    )
    consumer_group: str = Field("runsearch-indexer", description="Kafka consumer group of the live indexer")
    unavailable_value_placeholder: str = Field(
        "__debezium_unavailable_value",
        description="Debezium's `unavailable.value.placeholder`: a column holding it kept its previous value",
    )

    # --- indices -----------------------------------------------------------------------
    index_prefix: str = Field("runsearch", description="Prefix of every index and alias runsearch creates")
    expected_runs: int = Field(
        1_000_000, ge=1,
        description="Runs a new runs index is sized for: one primary shard per 2,000,000 (README, \"Capacity\")")
    runs_shards: int | None = Field(
        None, ge=1, le=1024,
        description="Primary shards of a new runs index, instead of the count from `RUNSEARCH_EXPECTED_RUNS`")
    index_replicas: str = Field(
        "0-1", pattern=r"^(\d+|\d+-(\d+|all))$",
        description=("Replicas of every new index: a count, or a range OpenSearch follows as data nodes come and go "
                     "(`auto_expand_replicas`; `0-1`: one replica as soon as there is a second node)"))

    # --- indexer -----------------------------------------------------------------------
    batch_size: int = Field(
        20000, ge=1,
        description=("Most events the indexer polls and applies per batch (large batches merge the events of a run into "
                     "one write while a backlog drains)"),
    )
    batch_max_bytes: int = Field(
        32 * 1024 * 1024, ge=1024 * 1024,
        description=("Most bytes of events one poll fetches (Kafka's `fetch.max.bytes`), and of run documents the indexer "
                     "holds at once: bounds its memory"),
    )
    fold_dir: Path | None = Field(
        None, description="Folder of a rebuild's fold store (SQLite; about 5.5 KB a run, deleted after): the system's "
                          "temporary folder when unset")
    fold_batch: int = Field(
        50_000, ge=1, description=("Events a rebuild's fold (and its verification's replay) merges at a time: the more, the "
                                    "fewer rewrites of a run"))
    fold_processes: int = Field(
        2, ge=1, le=64,
        description=("Processes a rebuild's fold is split over, by run (each reads every event, merges its own runs "
                     "and writes them; about 0.7 GB of memory each at 1,000,000 runs): the machine's cores at most"))
    merge_segments: int = Field(
        1, ge=0, description=("Segments per shard `reindex` merges a generation down to before serving it, and `merge` "
                              "the served one (a sorted listing costs OpenSearch per segment); 0: `reindex` does not merge"))
    bulk_max_bytes: int = Field(
        10 * 1024 * 1024, ge=1024,
        description=("Most bytes of one OpenSearch bulk request (OpenSearch refuses requests over its "
                     "`http.max_content_length`, 100 MB by default)"),
    )
    poll_timeout_ms: int = Field(500, ge=1, description="How long one poll waits for events")
    max_poll_interval_ms: int = Field(
        300_000, ge=1_000,
        description="Kafka's `max.poll.interval.ms`; the indexer polls within it also while a long fan-out runs",
    )
    fan_out_slice: int = Field(
        5000, ge=1,
        description=("Runs re-embedded per step when a workflow title or a definition changes (each step polls Kafka to "
                     "stay in the group)"),
    )
    indexer_metrics_port: int = Field(9108, description="Port of the indexer's Prometheus `/metrics` (0 disables)")
    retry_max_seconds: float = Field(30.0, gt=0, description="Longest back-off between retries while OpenSearch is unreachable")
    replay_stall_seconds: float = Field(
        120.0, gt=0,
        description=("How long a replay (a rebuild's fold, verification) waits on partitions that give nothing more "
                     "below its cut before it stops with an error naming them (a topic deleted during a rebuild)"))
    first_build_events: int = Field(
        500_000, ge=0,
        description=("Events the topics must hold for `runsearch indexer`, finding no generation and a live group that "
                     "never consumed, to build the first generation by the fold (as `reindex`) before going live; "
                     "below, it indexes them event by event; 0: never"))
    lease_seconds: float = Field(
        30.0, ge=15,
        description=("How long a rebuild's lease lasts unless renewed: after a rebuild dies, the next `reindex` (or "
                     "`cleanup`) waits this long (at least the 10 s a dead consumer stays in its group)"),
    )

    # --- api ---------------------------------------------------------------------------
    bind_host: str = Field("127.0.0.1", description="Address the API and the indexer's metrics bind")
    cors_origins: list[str] = Field(
        default_factory=list,
        description=('Origins whose pages may call the API from a browser, as a JSON list (`["https://dash.example"]`); '
                     "none by default"))
    progress_interval_seconds: float = Field(
        30.0, ge=0,
        description="Seconds between the indexer's progress log lines (events/s, lag, documents, dead letters); 0: none")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Level of the JSON-lines logs of the indexer, the API and the benchmark")
    api_port: int = Field(8000, description="Port the API binds")
    jwt_secret: SecretStr = Field(
        SecretStr(DEVELOPMENT_JWT_SECRET), min_length=16,
        description=("HS256 secret of the platform's API keys, 16 characters or more (the API refuses the default unless "
                     "it binds to loopback)"),
    )
    auth_cache_seconds: float = Field(
        30.0, ge=0, le=60,
        description="How long a key check is cached; a revoked key stops working within it",
    )
    answer_cache_seconds: float = Field(
        0.5, ge=0, le=60,
        description=("How long the API reuses the answer of an identical listing (same organization, filters and page); "
                     "keep it at most the runs index's refresh interval (500 ms), so no answer is older than one refresh; "
                     "0: off"))
    answer_cache_bytes: int = Field(64 * 2**20, ge=0, description="Most bytes of answers the API keeps for reuse")
    gzip_minimum_bytes: int = Field(
        1024, ge=0, description="Smallest answer the API compresses (gzip) for a client that accepts it")
    search_timeout_seconds: float = Field(
        2.0, gt=0,
        description="OpenSearch request timeout of the API; beyond it the API answers 503",
    )
    max_result_window: int = Field(
        10000, ge=1,
        description="Deepest result (page*page_size) served; deeper pages get 422 naming the limit",
    )

    # --- local stack ---------------------------------------------------------------------
    stack_dir: Path = Field(Path(".stack"), description="Folder of the local stack's pid files, logs and data")
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Download cache of the OpenSearch and Kafka distributions",
    )
    opensearch_version: str = Field(
        "2.19.4",
        description=("OpenSearch version of the local stack (its `analysis-common` module, and for `--secure` its security "
                     "plugin, are fetched alongside; Maven Central has that plugin for 2.19.4, not 2.19.6)"),
    )
    kafka_version: str = Field("4.1.1", description="Kafka version of the local stack (4.x, KRaft)")
    java_home: Path | None = Field(None, description="JDK for both servers (default: JAVA_HOME, else the system Java 17)")
    opensearch_heap: str = Field(
        "auto", pattern=r"^(auto|\d+[mg])$",
        description=("OpenSearch heap size of each local node (`512m`, `4g`); `auto`: a quarter of the machine's memory, "
                     "between 1g and 4g (the heap the README's figures were measured with is 4g)"))
    opensearch_max_content_length: str = Field(
        "100mb",
        description=("OpenSearch's `http.max_content_length` in the local stack (the test stack lowers it to prove bulk "
                     "requests split)"),
    )
    kafka_heap: str = Field("512m", description="Kafka heap size")
    service_user: str = Field("runsearch", description="Unprivileged user OpenSearch runs as when the stack is started by root")
    topic_partitions: int = Field(3, ge=1, description="Partitions of each topic the local stack creates")
    startup_timeout_seconds: float = Field(180.0, gt=0, description="How long `stack up` waits for a server to answer")

    def topic(self, table: str) -> str:
        return self.topic_overrides.get(table) or f"{self.topic_prefix}.public.{table}"

    def environ(self) -> dict[str, str]:
        """These settings as the `RUNSEARCH_*` variables that give them to a child process (secrets included: the
        only place they are revealed)."""
        out = {}
        for name, value in self.model_dump(mode="python", exclude_none=True).items():
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            out[f"RUNSEARCH_{name.upper()}"] = value if isinstance(value, str) else \
                str(value) if isinstance(value, Path) else json.dumps(value)
        return out

    @property
    def opensearch_urls(self) -> list[str]:
        return [url.strip() for url in self.opensearch_url.split(",") if url.strip()]

    @property
    def kafka_port(self) -> int:
        return int(self.kafka_bootstrap.rsplit(":", 1)[1])


@lru_cache
def get_settings() -> Settings:
    return Settings()
