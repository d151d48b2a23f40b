"""`stack up | down | status`: both servers together, started once, stopped exactly."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from runsearch.settings import Settings
from runsearch.stack import artifacts, kafka, opensearch, security
from runsearch.stack.processes import Managed, StackError, wait_until


class Stack:
    """The stack of one stack folder. A folder whose stack was first started secured (`secure=True`) stays
    secured: OpenSearch over HTTPS with users and client certificates, Kafka over SASL_SSL; `settings` then
    carry the credentials every client of it needs."""

    def __init__(self, settings: Settings, secure: bool = False) -> None:
        self.secured: security.Material | None = None
        if secure and not security.is_secured(settings.stack_dir) and (settings.stack_dir / "kafka").exists():
            raise StackError(f"{settings.stack_dir} holds an unsecured stack's data; stop it and remove the folder "
                             "(`make clean`), or choose another RUNSEARCH_STACK_DIR")
        if secure or security.is_secured(settings.stack_dir):
            self.secured = security.ensure(settings.stack_dir)
            settings = security.client_settings(settings, self.secured)
        self.settings = settings

    @property
    def opensearch_nodes(self) -> list[Managed]:
        """One process per URL in RUNSEARCH_OPENSEARCH_URL: `opensearch`, `opensearch-2`, ..."""
        return [Managed("opensearch" if i == 0 else f"opensearch-{i + 1}", self.settings.stack_dir)
                for i in range(len(opensearch.ports(self.settings)))]

    @property
    def opensearch(self) -> Managed:
        return self.opensearch_nodes[0]

    @property
    def kafka(self) -> Managed:
        return Managed("kafka", self.settings.stack_dir)

    def fetch(self) -> None:
        s = self.settings
        self._opensearch_home()
        artifacts.kafka_libs(s.cache_dir, s.kafka_version)

    def _opensearch_home(self) -> Path:
        s = self.settings
        fetch = artifacts.secured_opensearch_home if self.secured else artifacts.opensearch_home
        return fetch(s.cache_dir, s.opensearch_version)

    def up(self) -> None:
        """Start whatever is not running yet and wait until both servers answer."""
        s = self.settings
        home = self._opensearch_home()
        libs = artifacts.kafka_libs(s.cache_dir, s.kafka_version)
        if not self.opensearch.alive() and opensearch.healthy(s):
            raise StackError(f"something else already answers at {s.opensearch_url}; stop it or choose another port")
        self.discard_orphaned_index()
        for node, proc in enumerate(self.opensearch_nodes):
            if not proc.alive():
                opensearch.start(s, proc, home, node, self.secured)
        if not self.kafka.alive():
            kafka.start(s, self.kafka, libs, self.secured)
        try:
            wait_until(lambda: opensearch.healthy(s), s.startup_timeout_seconds, self.opensearch)
            wait_until(lambda: kafka.healthy(s), s.startup_timeout_seconds, self.kafka)
        except StackError:
            self.down()
            raise
        kafka.create_topics(s)

    def discard_orphaned_index(self) -> bool:
        """Before a start: when Kafka is new (its topics and consumer offsets are gone, or were never there), the
        documents OpenSearch holds came from another Kafka and nothing would keep them current, so OpenSearch starts
        empty too. True when it had data to discard."""
        if kafka.formatted(self.kafka) or any(p.alive() for p in self.opensearch_nodes):
            return False
        had = any((opensearch.runtime_dir(self.settings, port) / "data").exists() for port in opensearch.ports(self.settings))
        self._wipe_opensearch()
        return had

    def down(self) -> list[str]:
        """Stop Kafka (first: it flushes faster, and OpenSearch has no dependency on it), then every OpenSearch
        node this folder started, however many the settings name now."""
        nodes = [Managed(pid.stem, self.settings.stack_dir) for pid in sorted(self.settings.stack_dir.glob("opensearch*.pid"))]
        return [p.name for p in (self.kafka, *nodes) if p.stop()]

    def wipe(self) -> None:
        """Delete both servers' data (not the download cache, nor a secured stack's certificates and passwords,
        which its next start loads again); only when neither runs."""
        if any(p.alive() for p in (*self.opensearch_nodes, self.kafka)):
            raise StackError("stop the stack before wiping its data (`runsearch stack down`)")
        self._wipe_opensearch()
        shutil.rmtree(self.settings.stack_dir / "kafka", ignore_errors=True)

    def _wipe_opensearch(self) -> None:
        for port in opensearch.ports(self.settings):
            run = opensearch.runtime_dir(self.settings, port)
            shutil.rmtree(run, ignore_errors=True)
            with contextlib.suppress(OSError):  # the folder of this stack's data, once empty
                run.parent.rmdir()

    def status(self) -> dict[str, dict[str, object]]:
        s = self.settings
        cluster = {"answers": opensearch.healthy(s), "version": opensearch.version(s)}
        nodes: dict[str, dict[str, object]] = {
            proc.name: {"pid": proc.pid(), "url": url, **cluster, "data": str(opensearch.runtime_dir(s, port) / "data"),
                        "log": str(proc.log_file)}
            for proc, url, port in zip(self.opensearch_nodes, s.opensearch_urls, opensearch.ports(s), strict=True)}
        return {**nodes, "kafka": {"pid": self.kafka.pid(), "bootstrap": s.kafka_bootstrap, "answers": kafka.healthy(s),
                                   "data": str(kafka.data_dir(self.kafka)), "log": str(self.kafka.log_file)}}
