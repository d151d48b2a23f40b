"""Rebuilding a generation beside the live one: plan it, register it (so the live indexer keeps it current), replay
the topics into it, verify it, serve it. Each step is a method, so tests can act between them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from opensearchpy import OpenSearch

from runsearch import clients
from runsearch.indexer import generations, offsets
from runsearch.indexer.consumer import Indexer
from runsearch.mappings import Layout, Names
from runsearch.operations import REQUEST_TIMEOUT_SECONDS, Refused, fold, lease, verification
from runsearch.operations.fold import Folded
from runsearch.settings import Settings

Progress = Callable[[str, int, int], None]  # phase, done, total


def _ignore(_: object) -> None:
    pass


@dataclass(frozen=True)
class Rebuilt:
    folded: Folded | None  # None: it did not fold (it resumed, or was asked not to)
    report: verification.Report
    merge_seconds: float

    @property
    def served(self) -> bool:
        return not self.report.differences


def context(settings: Settings) -> tuple[OpenSearch, Names]:
    return clients.opensearch(settings, timeout=REQUEST_TIMEOUT_SECONDS), Names(settings.index_prefix)


def delete_groups(settings: Settings, groups: list[str]) -> list[str]:
    """Delete consumer groups; one still in use is a refusal (its consumer leaves 10 s after its process ends)."""
    try:
        return offsets.delete_groups(settings, groups)
    except offsets.GroupInUse as err:
        raise Refused(f"{err}; a consumer leaves its group 10 s after its process ends: try again then") from None


class Replanned(Refused):
    """Another rebuild ended between this one's planning and its taking the lease."""


@dataclass(frozen=True)
class Plan:
    generation: int
    resumed: bool  # it exists and is not served yet: the rebuild continues it
    serving: int | None


def plan(settings: Settings) -> Plan:
    """The generation a rebuild would build: the newest one if nothing serves it yet, else a new one."""
    os, names = context(settings)
    found = generations.survey(os, names)
    serving = generations.serving(os, names)
    newest = max(found, default=0)
    if newest and newest != serving and (serving is None or newest > serving) and found[newest].compatible:
        # Registered: its rebuild goes on. Not yet: its fold stopped, and it is built again from the start.
        return Plan(newest, found[newest].written, serving)
    return Plan(newest + 1, False, serving)


class Reindex:
    """One rebuild, step by step: `prepare`, `fold`, `build`, `verify`, `merge`, `swap`, `finish` (and `close` whatever
    happens). Without the fold (`fold=False`), `build` replays every event into the registered generation."""

    def __init__(self, settings: Settings, fold: bool = True) -> None:
        self.settings = settings
        self.os, self.names = context(settings)
        self.plan = plan(settings)
        self.folds = fold
        # A first build (the live group never consumed) sends dead letters: no live indexer will replay its events.
        self.first = not any(offsets.committed_offsets(settings, settings.consumer_group).values())
        self.holder: lease.Holder | None = None
        self.indexer: Indexer | None = None
        self.merging: str | None = None  # the merge task

    def run(self, sample: int | None, progress: Progress, folded: Callable[[Folded], None] = _ignore,
            verified: Callable[[verification.Report], None] = _ignore) -> Rebuilt:
        """Every step in order (`close` is the caller's): the generation is served when its verification finds no
        difference. `folded` and `verified` hear of the fold and of the verification as they end."""
        self.prepare()
        done = self.fold(progress)
        if done is not None:
            folded(done)
        self.build(progress)
        report = self.verify(sample, progress)
        verified(report)
        merged = 0.0
        if not report.differences:
            merged = self.merge(progress)
            self.swap()
            self.finish()
        return Rebuilt(done, report, merged)

    def prepare(self) -> Plan:
        """Take the lease, and create the generation unless it resumes: with fold aliases for `fold`, or else
        registered at once, so that the live indexer writes it from its next batch on."""
        self.holder = lease.Holder(self.os, self.names, Layout.of(self.settings), self.plan.generation,
                                   self.settings.lease_seconds)
        if plan(self.settings) != self.plan:  # another rebuild ended between planning and taking the lease
            raise Replanned("the generations changed while this rebuild started: run `runsearch reindex` again")
        number = self.plan.generation
        if self.plan.resumed:
            self.folds = False  # registered: the live indexer writes it, and its rebuild group goes on
            return self.plan
        # From the start: a group of that number left by an earlier generation would skip it, and a stopped fold's
        # indices hold part of it.
        delete_groups(self.settings, [offsets.rebuild_group(self.settings, number)])
        generations.drop(self.os, self.names, number)
        generations.create(self.os, self.names, number, Layout.of(self.settings))
        if self.folds:
            generations.fold_into(self.os, self.names, number)
        else:
            generations.register(self.os, self.names, number)
        return self.plan

    def fold(self, progress: Progress) -> Folded | None:
        """Fold the topics up to their ends now into the generation (each document written once), then point the
        rebuild's group at those ends and register the generation: `build` goes on from there. None when the
        rebuild does not fold (it resumes, or was asked not to)."""
        if not self.folds:
            return None
        number = self.plan.generation
        ends = offsets.stamped_ends(self.settings)
        folded = fold.fold(self.settings, self.os, self.names, number, {tp: end.offset for tp, end in ends.items()},
                           progress, dead_letters=self.first)
        offsets.commit(self.settings, offsets.rebuild_group(self.settings, number), ends)
        generations.register(self.os, self.names, number)
        return folded

    def build(self, progress: Progress) -> None:
        """Replay every topic into the generation, up to the end offsets read now (after it was registered: every
        later change reaches it through the live indexer)."""
        indexer = self._indexer()
        ends = offsets.end_offsets(self.settings)
        consumer = indexer.consumer
        while not indexer.stopping.is_set():
            assigned = consumer.assignment()
            done = {tp: consumer.position(tp) if tp in assigned else 0 for tp in ends}
            for topic in sorted({tp.topic for tp in ends}):
                parts = [tp for tp in ends if tp.topic == topic]
                progress(topic, sum(min(done[tp], ends[tp]) for tp in parts), sum(ends[tp] for tp in parts))
            if len(assigned) == len(ends) and all(done[tp] >= end for tp, end in ends.items()):
                return
            indexer.run_once()
        raise Refused("the rebuild was stopped; run `runsearch reindex` again to resume it")

    def verify(self, sample: int | None, progress: Progress) -> verification.Report:
        """Compare the generation with the topics up to where the rebuild stands. Meanwhile OpenSearch merges the
        generation's segments (`merge_segments`; awaited by `merge`): at 1,000,000 runs the verification's replay
        takes 70 s and the merge 40-49 s of one core, side by side instead of one after the other."""
        if self.settings.merge_segments:
            self._merging()
        consumer = self._indexer().consumer
        cut = {tp: consumer.position(tp) for tp in consumer.assignment()}
        index = self.names.index("runs", self.plan.generation)
        return verification.verify(self.settings, self.os, index, cut, sample, progress)

    def merge(self, progress: Progress) -> float:
        """The generation merged (`merge_segments`) before it is served: the merge `verify` started (or one started
        now) awaited; the seconds the merge ran. A merge whose task is lost stops the rebuild, which `reindex`
        resumes."""
        if not self.settings.merge_segments:
            return 0.0
        progress("merging the segments", 0, 1)
        try:
            seconds = generations.await_merge(self.os, self.names, self.plan.generation, self._merging())
        except generations.MergeLost as err:
            raise Refused(f"{err}; run `runsearch reindex` again to resume the rebuild") from None
        progress("merging the segments", 1, 1)
        return seconds

    def swap(self) -> None:
        """Serve the generation (read aliases moved in one atomic update); the previous one stays written."""
        if self.holder is not None:
            self.holder.check()
        generations.serve(self.os, self.names, self.plan.generation)

    def finish(self) -> None:
        """After the swap: the rebuild's consumer group is not needed any more. A live group that never consumed (a
        first build: `reindex` before any `indexer`) is handed the rebuild's positions, so that the live indexer goes
        on from where the served generation stands instead of replaying every topic into it again."""
        group = offsets.rebuild_group(self.settings, self.plan.generation)
        if self.first and not any(offsets.committed_offsets(self.settings, self.settings.consumer_group).values()):
            offsets.commit(self.settings, self.settings.consumer_group, offsets.committed(self.settings, group))
        self.close()
        delete_groups(self.settings, [group])

    def close(self) -> None:
        if self.indexer is not None:
            self.indexer.close()
            self.indexer = None
        if self.holder is not None:
            self.holder.release()
            self.holder = None

    def _merging(self) -> str:
        """The generation's merge task, started at the first call."""
        if self.merging is None:
            self.merging = generations.start_merge(self.os, self.names, self.plan.generation,
                                                   self.settings.merge_segments)
        return self.merging

    def _indexer(self) -> Indexer:
        """The rebuild's consumer, made once the generation is registered."""
        if self.indexer is None:
            self.indexer = Indexer(self.settings, rebuild=self.names.generation(self.plan.generation),
                                   dead_letters=self.first)
        return self.indexer


