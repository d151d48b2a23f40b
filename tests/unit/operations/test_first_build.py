"""When the live indexer builds the first generation itself, waits for another process's build, or goes live at once.
Its collaborators are stood in for here; against real servers (two indexers started together on a large history):
tests/integration/test_generations.py."""

from __future__ import annotations

from typing import Any

import pytest
from kafka import TopicPartition

from runsearch.operations import first_build, lease
from runsearch.settings import Settings

TP = TopicPartition("rs.public.workflow_runs", 0)


class World:
    """What the build decides from: the generation served, the live group's offsets, the topics' events; and the
    rebuilds it starts (each may find the lease held)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, events: int, served: int | None = None, committed: int = 0,
                 exists: bool = False, held: int = 0) -> None:
        self.served, self.committed, self.events, self.exists, self.held = served, committed, events, exists, held
        self.rebuilds, self.waits = 0, 0
        world = self

        class Rebuild:
            def __init__(self, settings: Settings) -> None:
                self.plan = type("Plan", (), {"generation": 1})()

            def run(self, sample: int | None, progress: Any) -> Any:
                world.rebuilds += 1
                if world.held:
                    world.held -= 1
                    world.served = 1 if not world.held else None  # the other process's build ends
                    raise lease.Held("a rebuild holds the lease")
                world.served = 1
                return type("Rebuilt", (), {"served": True, "folded": None, "merge_seconds": 0.0})()

            def close(self) -> None:
                pass

        monkeypatch.setattr(first_build, "context", lambda settings: (None, None))
        monkeypatch.setattr(first_build.generations, "serving", lambda os, names: world.served)
        monkeypatch.setattr(first_build.generations, "survey", lambda os, names: {1: None} if world.exists else {})
        monkeypatch.setattr(first_build.offsets, "committed_offsets", lambda settings, group: {TP: world.committed})
        monkeypatch.setattr(first_build.offsets, "end_offsets", lambda settings: {TP: world.events})
        monkeypatch.setattr(first_build, "Reindex", Rebuild)

    def wait(self, seconds: float) -> None:
        self.waits += 1


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


def test_while_another_process_builds_it_waits_then_goes_live(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(monkeypatch, events=1_000, held=2)
    assert build(world) is None and world.waits == 2 and world.rebuilds == 2
