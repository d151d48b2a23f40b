"""The whole local service: stack, indexer and API as background processes, plus demo data."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from pathlib import Path

from runsearch.demo import publish
from runsearch.settings import Settings
from runsearch.stack.launcher import Stack
from runsearch.stack.processes import Managed, StackError, wait_until


class Service:
    def __init__(self, settings: Settings) -> None:
        self.stack = Stack(settings)
        self.settings = self.stack.settings
        self.indexer = Managed("indexer", settings.stack_dir)
        self.api = Managed("api", settings.stack_dir)

    def _start(self, proc: Managed, command: str) -> None:
        if proc.alive():
            return
        # The stack dir in argv lets `down` recognise the process as ours.
        argv = [sys.executable, "-m", "runsearch.cli", command, "--stack-dir", str(self.settings.stack_dir.resolve())]
        # The stack's settings (a secured stack's credentials included) reach the children in their environment.
        proc.start(argv, {**os.environ, **self.stack.settings.environ()}, cwd=Path.cwd())

    def up(self) -> str:
        """Start everything, load the demo data once, wait until it is searchable; returns a demo API key."""
        self.stack.up()
        key, _ = publish.load_demo(self.settings)
        self._start(self.indexer, "indexer")
        self._start(self.api, "api")
        wait_until(lambda: self._answers(key), self.settings.startup_timeout_seconds, self.api)
        return key

    def _answers(self, key: str) -> bool:
        url = f"http://{self.settings.bind_host}:{self.settings.api_port}/v1/agents/runs"
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers={"x-api-key": key}), timeout=3) as r:
                return bool(json.load(r))
        except (OSError, ValueError) as err:  # HTTPError is an OSError
            if not self.indexer.alive():
                raise StackError(f"the indexer exited. Last lines of {self.indexer.log_file}:\n"
                                 f"{self.indexer.log_tail()}") from err
            return False

    def down(self) -> list[str]:
        stopped = [p.name for p in (self.api, self.indexer) if p.stop()]
        return stopped + self.stack.down()

    def wait(self) -> None:
        """Block while the indexer and the API run."""
        while self.indexer.alive() and self.api.alive():
            time.sleep(1)
