"""`stack up | down | status`: both servers together, started once, stopped exactly."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from runsearch.settings import Settings
from runsearch.stack import artifacts, kafka, opensearch
from runsearch.stack.processes import Managed, StackError, wait_until


@dataclass(frozen=True)
class Stack:
    settings: Settings

    @property
    def opensearch(self) -> Managed:
        return Managed("opensearch", self.settings.stack_dir)

    @property
    def kafka(self) -> Managed:
        return Managed("kafka", self.settings.stack_dir)

    def fetch(self) -> None:
        s = self.settings
        artifacts.opensearch_home(s.cache_dir, s.opensearch_version)
        artifacts.kafka_libs(s.cache_dir, s.kafka_version)

    def up(self) -> None:
        """Start whatever is not running yet and wait until both servers answer."""
        s = self.settings
        home = artifacts.opensearch_home(s.cache_dir, s.opensearch_version)
        libs = artifacts.kafka_libs(s.cache_dir, s.kafka_version)
        if not self.opensearch.alive():
            if opensearch.healthy(s):
                raise StackError(f"something else already answers at {s.opensearch_url}; stop it or choose another port")
            opensearch.start(s, self.opensearch, home)
        if not self.kafka.alive():
            kafka.start(s, self.kafka, libs)
        try:
            wait_until(lambda: opensearch.healthy(s), s.startup_timeout_seconds, self.opensearch)
            wait_until(lambda: kafka.healthy(s), s.startup_timeout_seconds, self.kafka)
        except StackError:
            self.down()
            raise
        kafka.create_topics(s)

    def down(self) -> list[str]:
        # Kafka first: it flushes faster, and OpenSearch has no dependency on it.
        return [p.name for p in (self.kafka, self.opensearch) if p.stop()]

    def wipe(self) -> None:
        """Delete both servers' data (not the download cache); only when neither runs."""
        if self.opensearch.alive() or self.kafka.alive():
            raise StackError("stop the stack before wiping its data")
        shutil.rmtree(opensearch.runtime_dir(self.settings) / "data", ignore_errors=True)
        shutil.rmtree(self.settings.stack_dir / "kafka", ignore_errors=True)

    def status(self) -> dict[str, dict[str, object]]:
        s = self.settings
        return {
            "opensearch": {"pid": self.opensearch.pid(), "url": s.opensearch_url, "answers": opensearch.healthy(s),
                           "version": opensearch.version(s), "log": str(self.opensearch.log_file)},
            "kafka": {"pid": self.kafka.pid(), "bootstrap": s.kafka_bootstrap, "answers": kafka.healthy(s),
                      "log": str(self.kafka.log_file)},
        }
