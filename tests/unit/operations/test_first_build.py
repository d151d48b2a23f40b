"""When the live indexer builds the first generation itself, waits for another process's build, or goes live at once.
Its collaborators are stood in for here; against real servers (two indexers started together on a large history):
tests/integration/test_generations.py."""

from __future__ import annotations

from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaConnectionError

from runsearch.operations import first_build, lease
from runsearch.settings import Settings

TP = TopicPartition("rs.public.workflow_runs", 0)


class World:
    """What the build decides from: the live group's offsets, the rebuild lease, the generation served, the topics'
    events; and the rebuilds it starts. Another process's build (`other_build` polls long) holds the lease, then
    serves its generation and hands the live group its positions; `raced` rebuilds find the lease just taken."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, events: int, served: int | None = None, committed: int = 0,
                 exists: bool = False, other_build: int = 0, raced: int = 0, kafka_down: int = 0) -> None:
        self.served, self.committed, self.events, self.exists = served, committed, events, exists
        self.kafka_down = kafka_down  # polls while the broker cannot be reached
        self.other_build, self.raced, self.rebuilds, self.waits = other_build, raced, 0, 0
        world = self

        class Rebuild:
            def __init__(self, settings: Settings) -> None:
                self.plan = type("Plan", (), {"generation": 1})()

            def run(self, sample: int | None, progress: Any) -> Any:
                world.rebuilds += 1
                if world.raced:
                    world.raced -= 1
                    world.other_build = 1  # the winner builds on
                    raise lease.Held("another rebuild took the lease at the same moment")
                world.served, world.committed = 1, 5
                return type("Rebuilt", (), {"served": True, "folded": None, "merge_seconds": 0.0})()

            def close(self) -> None:
                pass

        monkeypatch.setattr(first_build, "context", lambda settings: (None, None))
        monkeypatch.setattr(first_build.lease, "current", lambda os, names: world.lease())
        monkeypatch.setattr(first_build.generations, "serving", lambda os, names: world.served)
        monkeypatch.setattr(first_build.generations, "survey", lambda os, names: {1: None} if world.exists else {})
        monkeypatch.setattr(first_build.offsets, "committed_offsets", lambda settings, group: world.offsets())
        monkeypatch.setattr(first_build.offsets, "end_offsets", lambda settings: {TP: world.events})
        monkeypatch.setattr(first_build, "Reindex", Rebuild)

    def offsets(self) -> dict[TopicPartition, int]:
        if self.kafka_down:
            raise KafkaConnectionError
        return {TP: self.committed}

    def lease(self) -> lease.Lease | None:
        if not self.other_build:
            return None
        self.other_build -= 1
        if not self.other_build:  # its last poll: served, handed over, about to let go
            self.served, self.committed = 1, 5
        return lease.Lease("other:1", 1, 0.0, 2e9)

    def wait(self, seconds: float) -> None:
        self.waits += 1
        self.kafka_down = max(self.kafka_down - 1, 0)


def build(world: World, threshold: int = 1_000) -> Any:
    return first_build.build_first(Settings(first_build_events=threshold), world.wait)  # type: ignore[call-arg]


def test_a_large_history_with_nothing_built_is_folded_first(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(monkeypatch, events=1_000)
    assert build(world) is not None and world.rebuilds == 1 and world.served == 1


@pytest.mark.parametrize("state", [dict(events=999), dict(events=10**6, served=1), dict(events=10**6, committed=5)])
def test_a_small_history_a_served_generation_or_a_group_that_consumed_goes_live_at_once(
        monkeypatch: pytest.MonkeyPatch, state: dict[str, Any]) -> None:
    world = World(monkeypatch, **state)
    assert build(world) is None and world.rebuilds == 0
    assert build(World(monkeypatch, events=10**6), threshold=0) is None  # 0: never


def test_an_unserved_generation_is_built_on_whatever_the_history_size(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(monkeypatch, events=10, exists=True)  # a stopped first build
    assert build(world) is not None and world.rebuilds == 1


@pytest.mark.parametrize("served", [None, 1])
def test_while_another_process_holds_the_lease_it_waits_until_the_live_group_has_its_positions(
        monkeypatch: pytest.MonkeyPatch, served: int | None) -> None:
    world = World(monkeypatch, events=1_000, served=served, other_build=3)  # served: the other is handing over
    assert build(world) is None and world.waits == 3 and world.rebuilds == 0 and world.committed


def test_a_process_that_loses_the_race_for_the_lease_waits_for_the_winner(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(monkeypatch, events=1_000, raced=1)
    assert build(world) is None and world.rebuilds == 1 and world.waits == 2 and world.committed


def test_while_kafka_cannot_be_reached_it_waits_as_the_live_indexer_would(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(monkeypatch, events=1_000, kafka_down=2)
    assert build(world) is not None and world.waits == 2 and world.rebuilds == 1
