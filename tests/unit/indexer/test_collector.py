"""The cycle collector of a replay and of the live indexer: off while batches are read and applied, run by hand after
each."""

from __future__ import annotations

import gc
import weakref

from runsearch.indexer import collector


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_a_batch_leaves_its_cycles_until_collected_and_the_collector_is_restored_after() -> None:
    with collector.per_batch() as collect:
        assert not gc.isenabled() and gc.get_freeze_count() > 0  # what existed before is left out of collections
        first, second = Node(), Node()
        first.other, second.other = second, first
        gone = weakref.ref(first)
        del first, second
        for _ in range(100_000):  # enough allocations to have triggered an automatic collection
            Node()
        assert gone() is not None
        assert collect() >= 2 and gone() is None
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_collector_turned_off_by_someone_else_stays_off() -> None:
    gc.disable()
    try:
        with collector.per_batch():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
