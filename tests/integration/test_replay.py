"""A replay of the topics (what a rebuild folds, what verification compares with) through real Kafka: it reads the
partitions in step, so a run's rows meet in one or two batches, and a cut that moves on loses no event."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from runsearch.demo.dataset import final_rows, generate
from runsearch.demo.publish import publish
from runsearch.indexer.memory_store import MemoryStore
from runsearch.indexer.offsets import end_offsets
from runsearch.indexer.ports import Writes
from runsearch.indexer.replay import Replay
from runsearch.indexer.topic_reader import ReadFailed
from runsearch.mappings import Names
from runsearch.settings import Settings
from tests.harness import create_again, produce
from tests.model import assert_documents_match, expected

pytestmark = pytest.mark.integration

TARGET = Names("replay").generation(0)


class CountingStore(MemoryStore):
    """Counts the writes of every run document."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: Counter[str] = Counter()

    def write(self, index: str, docs: Writes) -> set[str]:
        conflicts = super().write(index, docs)
        if index == TARGET.write_alias("runs"):
            self.writes.update(set(docs) - conflicts)
        return conflicts

    def runs(self) -> dict[str, dict[str, Any]]:
        return {rid: v.source for rid, v in self.indices.get(TARGET.write_alias("runs"), {}).items()}


def test_a_replay_reads_the_topics_in_step_and_merges_each_run_once_or_twice(settings: Settings) -> None:
    """3,000 runs (about 26,000 events in three large topics), replayed 8,000 events a batch: most runs are
    written once, the rest (their rows on both sides of a batch's end) twice, rarely three times. Read as Kafka serves
    them, the topics drift apart by their bytes per run and a run's rows are spread over three batches or more.
    The history's closing edits of workflows and definitions are in it (the replay reads their small topics first;
    at this size Kafka serves them whole in the first polls anyway)."""
    changes = generate(runs=3_000, organizations=3, seed=11).changes
    produce(settings, changes)
    store = CountingStore()
    with Replay(settings, store, TARGET, batch=8_000) as replay:
        assert replay.advance(end_offsets(settings), lambda *_: None) == len(changes)
    assert_documents_match(store.runs(), expected(final_rows(changes)))
    spread = Counter(store.writes.values())  # writes -> runs written that often
    assert spread[1] > len(store.writes) / 2 and max(spread) <= 3, spread


def test_a_replay_whose_cut_moves_on_misses_no_event(settings: Settings) -> None:
    """Verification replays up to one cut, then on to a later one. Polls fetch past the first cut while the topics
    hold more; those events belong to the next advance, not to nobody."""
    history = generate(runs=600, organizations=2, seed=12)
    half = len(history.changes) // 2
    produce(settings, history.changes[:half])
    first = end_offsets(settings)
    produce(settings, history.changes[half:])
    store = CountingStore()
    with Replay(settings, store, TARGET, batch=500) as replay:
        assert replay.advance(first, lambda *_: None) == half
        assert_documents_match(store.runs(), expected(final_rows(history.changes[:half])))
        assert replay.advance(end_offsets(settings), lambda *_: None) == len(history.changes) - half
    assert_documents_match(store.runs(), expected(final_rows(history.changes)))


def test_a_topic_created_again_under_a_replay_stops_it(settings: Settings) -> None:
    """librdkafka reads a topic deleted and created again (with more records than before) on from the old topic's
    positions, without a word: the replay would mix both and skip the new topic's first records. It stops instead,
    naming the topic. (Created again with fewer records, nothing comes: `test_topic_reader.py`.)"""
    history = generate(runs=300, organizations=1, seed=15)
    produce(settings, history.changes)
    tasks = [c for c in history.changes if c.table == "tasks"]
    recreated: list[str] = []

    def midway(phase: str, done: int, total: int) -> None:
        if not recreated and done > total // 2:
            create_again(settings, "tasks")
            publish(settings, tasks * 3)
            recreated.append(phase)

    gone = rf"{settings.topic('tasks')} was deleted and created again during the replay"
    with Replay(settings, MemoryStore(), TARGET, batch=500) as replay, pytest.raises(ReadFailed, match=gone):
        replay.advance(end_offsets(settings), midway)
    assert recreated
