"""The operators' protocols on index generations: reindex, verify, rollback, cleanup, status.

Plain functions and one class over settings, which the CLI renders and tests call step by step. The
guarantees (the README's operator section says what proves each):

- A swap serves data at least as fresh as the generation it replaces: the new generation is registered (the
  live indexer writes it from its next batch on) before the end offsets the rebuild catches up to are read,
  so every change is in it either from the rebuild or from the live indexer.
- A rollback target is current: a generation keeps its write aliases after a swap, until cleanup, so the live
  indexer keeps it up to date; rollback refuses a generation that is not kept current.
- Operations are safe to combine: a rebuild holds a lease (`indexer.lease`); a second `reindex` and any
  `cleanup` refuse while it is held; cleanup removes the rebuild consumer groups of what it deletes, so a
  generation number used again starts from the beginning; writes name aliases only, so nothing re-creates an
  index.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition
from opensearchpy import OpenSearch

import mappings
from indexer import generations, lease, offsets, store, verification
from indexer.consumer import Indexer
from mappings import KINDS, Names
from runsearch.errors import RunsearchError
from runsearch.settings import Settings

Progress = Callable[[str, int, int], None]  # phase, done, total


class Refused(RunsearchError):
    """An operation that would break a guarantee; the message says why and what to do."""


def _context(settings: Settings) -> tuple[OpenSearch, Names]:
    return store.client(settings.opensearch_url, timeout=120), Names(settings.index_prefix)


# --- reindex ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    generation: int
    resumed: bool  # it exists and is not served yet: the rebuild continues it
    serving: int | None


def plan(settings: Settings) -> Plan:
    """The generation a rebuild would build: the newest one if nothing serves it yet, else a new one."""
    os, names = _context(settings)
    found = generations.survey(os, names)
    serving = generations.serving(os, names)
    newest = max(found, default=0)
    if newest and newest != serving and (serving is None or newest > serving) and found[newest].compatible:
        return Plan(newest, True, serving)
    return Plan(newest + 1, False, serving)


class Reindex:
    """One rebuild, step by step: `prepare`, `build`, `verify`, `swap`, `finish` (and `close` whatever happens)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.os, self.names = _context(settings)
        self.plan = plan(settings)
        self.holder: lease.Holder | None = None
        self.indexer: Indexer | None = None

    def prepare(self) -> Plan:
        """Take the lease, create the generation (or resume it) and register it, so that the live indexer writes
        it from its next batch on."""
        self.holder = lease.Holder(self.os, self.names, self.plan.generation, self.settings.lease_seconds)
        if plan(self.settings) != self.plan:  # another rebuild ended between planning and taking the lease
            raise Refused("the generations changed while this rebuild started: run `runsearch reindex` again")
        number = self.plan.generation
        if not self.plan.resumed:  # a group of that number left by an earlier generation would skip the start
            _delete_groups(self.settings, [offsets.rebuild_group(self.settings, number)])
        generations.create(self.os, self.names, number)
        generations.register(self.os, self.names, number)
        self.indexer = Indexer(self.settings, rebuild=self.names.generation(number))
        return self.plan

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
        """Compare the generation with the topics up to where the rebuild stands."""
        consumer = self._indexer().consumer
        cut = {tp: consumer.position(tp) for tp in consumer.assignment()}
        index = self.names.index("runs", self.plan.generation)
        return verification.verify(self.settings, self.os, index, cut, sample, progress)

    def swap(self) -> None:
        """Serve the generation (read aliases moved in one atomic update); the previous one stays written."""
        if self.holder is not None:
            self.holder.check()
        generations.serve(self.os, self.names, self.plan.generation)

    def finish(self) -> None:
        """After the swap: the rebuild's consumer group is not needed any more."""
        self.close()
        _delete_groups(self.settings, [offsets.rebuild_group(self.settings, self.plan.generation)])

    def close(self) -> None:
        if self.indexer is not None:
            self.indexer.close()
            self.indexer = None
        if self.holder is not None:
            self.holder.release()
            self.holder = None

    def _indexer(self) -> Indexer:
        if self.indexer is None:
            raise RuntimeError("prepare() first")
        return self.indexer


# --- verify, rollback, cleanup ----------------------------------------------------------------------


def verify_serving(settings: Settings, sample: int | None, progress: Progress) -> verification.Report:
    """Compare the generation the API serves with the topics, up to where the live indexer has committed."""
    os, names = _context(settings)
    cut = offsets.committed_offsets(settings, settings.consumer_group)
    return verification.verify(settings, os, names.read_alias("runs"), cut, sample, progress)


def rollback(settings: Settings) -> tuple[int, int]:
    """Serve the newest generation older than the one served, if the live indexer keeps it current; (from, to)."""
    os, names = _context(settings)
    found = generations.survey(os, names)
    serving = generations.serving(os, names)
    if serving is None:
        raise Refused("no generation is served: nothing to roll back")
    older = [info for number, info in found.items() if number < serving]
    if not older:
        raise Refused(f"no generation older than {serving} exists")
    target = older[-1]
    if not target.written:
        raise Refused(f"generation {target.number} has not been kept current (it has no write aliases): serving it "
                      f"would go back in time; run `runsearch reindex` instead")
    if not target.compatible:
        raise Refused(f"generation {target.number} was created by another version's mappings ({target.schema}); this "
                      f"version's indexer does not keep it current: roll back with that version")
    generations.serve(os, names, target.number)
    return serving, target.number


@dataclass
class Cleaned:
    generations: list[int] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)


def cleanup_plan(settings: Settings) -> list[int]:
    """The generations cleanup would delete: every one the API does not serve."""
    os, names = _context(settings)
    held = lease.current(os, names)
    if held is not None:
        raise Refused(f"a rebuild is in progress ({held.describe()}): cleanup waits until it ends")
    serving = generations.serving(os, names)
    return [number for number in generations.survey(os, names) if number != serving]


def cleanup(settings: Settings, doomed: list[int]) -> Cleaned:
    """Delete generations (their write aliases first, so nothing writes them meanwhile) and their rebuild groups."""
    os, names = _context(settings)
    held = lease.current(os, names)
    if held is not None:
        raise Refused(f"a rebuild is in progress ({held.describe()}): cleanup waits until it ends")
    if generations.serving(os, names) in doomed:
        raise Refused("the generation the API serves cannot be deleted")
    cleaned = Cleaned()
    # The groups first: if one is still in use, nothing is deleted (a generation without its group, never the reverse).
    cleaned.groups = _delete_groups(settings, [offsets.rebuild_group(settings, n) for n in doomed])
    for number in doomed:
        generations.unregister(os, names, number)
        os.indices.delete(index=",".join(names.index(kind, number) for kind in KINDS), ignore_unavailable=True)
        cleaned.generations.append(number)
    return cleaned


def _delete_groups(settings: Settings, groups: list[str]) -> list[str]:
    try:
        return offsets.delete_groups(settings, groups)
    except offsets.GroupInUse as err:
        raise Refused(f"{err}; a consumer leaves its group 10 s after its process ends: try again then") from None


# --- status -------------------------------------------------------------------------------------------


@dataclass
class Status:
    generations: list[generations.Info]
    schema: str  # this version's
    lease: lease.Lease | None
    rebuild_lag: int | None  # events the rebuild in progress has still to replay
    live_lag: dict[str, int]  # topic:partition -> events the live indexer has not committed
    dead_letters: int
    newest_change_age_seconds: float | None  # from the indexer's metrics, on its host


def status(settings: Settings) -> Status:
    os, names = _context(settings)
    held = lease.current(os, names)
    ends = offsets.end_offsets(settings)
    committed = offsets.committed_offsets(settings, settings.consumer_group)
    rebuild_lag = None
    if held is not None:
        rebuild_lag = offsets.lag(ends, offsets.committed_offsets(settings, offsets.rebuild_group(settings, held.generation)))
    return Status(list(generations.survey(os, names).values()), mappings.schema(), held, rebuild_lag,
                  {f"{tp.topic}:{tp.partition}": max(end - committed[tp], 0) for tp, end in sorted(ends.items())},
                  _dead_letters(settings), _newest_change_age(settings))


def _dead_letters(settings: Settings) -> int:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        parts = [TopicPartition(settings.deadletter_topic, p) for p in consumer.partitions_for_topic(settings.deadletter_topic) or ()]
        return sum(consumer.end_offsets(parts).values()) - sum(consumer.beginning_offsets(parts).values())
    finally:
        consumer.close()


def _newest_change_age(settings: Settings) -> float | None:
    url = f"http://{settings.bind_host}:{settings.indexer_metrics_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            for line in response.read().decode().splitlines():
                if line.startswith("runsearch_indexer_newest_change_age_seconds "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None
