"""Applying changes to the generations that are written: every one with write aliases and this version's
mappings (read again for each batch), or, for a rebuild, the one it builds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runsearch import clients
from runsearch.errors import RunsearchError
from runsearch.indexer import generations, store
from runsearch.indexer.decode import Change
from runsearch.indexer.heartbeat import Heartbeat
from runsearch.indexer.lookups import Lookups
from runsearch.indexer.pipeline import Outcome, Pipeline
from runsearch.mappings import Generation, Layout, Names
from runsearch.settings import Settings


class NoGeneration(RunsearchError):
    """No generation this indexer may write exists (all were created by another version's mappings)."""


def _nothing() -> None:
    pass


def _no_progress(done: int, total: int) -> None:
    pass


class Writer:
    def __init__(self, settings: Settings, only: Generation | None = None,
                 progress: Callable[[int, int], None] = _no_progress, between: Callable[[], None] = _nothing) -> None:
        self.settings, self.only, self.progress, self.between = settings, only, progress, between
        self.os = clients.opensearch(settings)
        self.names = Names(settings.index_prefix)
        self.targets = generations.Targets(self.os, self.names)
        self.backend = store.OpenSearchStore(self.os, settings.bulk_max_bytes)
        self._heartbeat: Heartbeat | None = None
        self.lookups: dict[Generation, Lookups] = {}  # per generation written, what its pipelines read of its records

    def prepare(self) -> None:
        """Before the first batch of the live indexer: a first generation exists (created when none does)."""
        if self.only is None:
            generations.ensure_first(self.os, self.names, Layout.of(self.settings))

    def heartbeat(self, group: str, fields: dict[str, Any]) -> None:
        if self._heartbeat is None:
            self._heartbeat = Heartbeat(self.os, self.names, Layout.of(self.settings), group)
        self._heartbeat.beat(fields)

    def pipeline(self, generation: Generation) -> Pipeline:
        return Pipeline(self.backend, generation, self.settings.fan_out_slice, self.progress,
                        self.settings.batch_max_bytes, lookups=self.lookups.setdefault(generation, Lookups()))

    def apply(self, changes: list[Change]) -> Outcome:
        """Apply to every generation written now (`between` runs between two); the first one's outcome is the
        batch's, the others add the documents they wrote."""
        targets = [self.only] if self.only else self.targets.current()
        # A generation no longer written takes its records with it: one written again later (a number rebuilt after
        # a cleanup) is a new index, whose versions start over.
        self.lookups = {generation: held for generation, held in self.lookups.items() if generation in targets}
        if not targets:
            raise NoGeneration("no generation has this version's mappings: run `runsearch reindex` with this version "
                               "(the indexer waits meanwhile, applying and committing nothing)")
        outcome = self.pipeline(targets[0]).apply(changes)
        for generation in targets[1:]:
            self.between()
            outcome.documents_written += self.pipeline(generation).apply(changes).documents_written
        return outcome
