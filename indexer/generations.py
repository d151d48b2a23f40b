"""Index generations for operators: rebuild one from Kafka, verify it, swap the aliases, roll back, clean up.

A rebuild replays every topic from its earliest offset into generation N+1 with a consumer group of
its own (so Ctrl-C or kill -9 resumes where its commits stand), while the live indexer keeps writing
generation N. The swap moves every read and write alias in one atomic update; the rebuild then keeps
consuming until it has caught up with the end offsets read *after* the swap. Every change the live
indexer applied before the swap sits below those offsets, so the new generation holds it too; after
the swap the live indexer writes the new generation itself. Applying twice is harmless (versions).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from opensearchpy import OpenSearch, helpers

import mappings
from indexer.consumer import Indexer, decode_batch
from indexer.memory_store import MemoryStore
from indexer.pipeline import Pipeline
from mappings import Names, Pinned
from runsearch.settings import Settings

Progress = Callable[[dict[str, tuple[int, int]]], None]  # topic -> (consumed, end)


def generations(os: OpenSearch, names: Names) -> dict[int, dict[str, int]]:
    """Every generation that exists -> document count per kind."""
    found: dict[int, dict[str, int]] = {}
    for row in os.cat.indices(index=f"{names.prefix}-*-v*", format="json", h="index,docs.count"):
        kind, _, generation = row["index"].removeprefix(f"{names.prefix}-").rpartition("-v")
        if kind in mappings.KINDS and generation.isdigit():
            found.setdefault(int(generation), {})[kind] = int(row["docs.count"] or 0)
    return dict(sorted(found.items()))


def aliases(os: OpenSearch, names: Names) -> dict[str, int]:
    """Alias -> the generation it points at."""
    wanted = [names.read_alias(k) for k in ("runs", "keys")] + [names.write_alias(k) for k in mappings.KINDS]
    out = {}
    for index, info in os.indices.get_alias(index=f"{names.prefix}-*-v*").items():
        for alias in info["aliases"]:
            if alias in wanted:
                out[alias] = int(index.rsplit("-v", 1)[1])
    return out


def swap(os: OpenSearch, names: Names, to: int) -> None:
    """Point every read and write alias at generation `to`, in one atomic update."""
    current = aliases(os, names)
    actions: list[dict[str, Any]] = []
    for kind in mappings.KINDS:
        targets = [names.write_alias(kind)] + ([names.read_alias(kind)] if kind != "lookup" else [])
        for alias in targets:
            if alias in current:
                actions.append({"remove": {"index": names.index(kind, current[alias]), "alias": alias}})
            actions.append({"add": {"index": names.index(kind, to), "alias": alias}})
    os.indices.update_aliases(body={"actions": actions})


def unused(os: OpenSearch, names: Names) -> list[int]:
    live = set(aliases(os, names).values())
    return [g for g in generations(os, names) if g not in live]


def end_offsets(settings: Settings) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        parts = [TopicPartition(t, p) for t in settings.topics() for p in consumer.partitions_for_topic(t) or ()]
        return consumer.end_offsets(parts)
    finally:
        consumer.close()


@dataclass
class Rebuild:
    settings: Settings
    generation: int
    indexer: Indexer = field(init=False)

    def __post_init__(self) -> None:
        self.indexer = Indexer(self.settings, rebuild=Pinned(self.settings.index_prefix, generation=self.generation))

    def catch_up(self, progress: Progress) -> None:
        """Consume until every partition reaches the end offsets read now."""
        ends = end_offsets(self.settings)
        consumer = self.indexer.consumer
        while not self.indexer.stopping.is_set():
            assigned = consumer.assignment()
            done = {tp: consumer.position(tp) if tp in assigned else 0 for tp in ends}
            per_topic: dict[str, tuple[int, int]] = {}
            for tp, end in ends.items():
                consumed, total = per_topic.get(tp.topic, (0, 0))
                per_topic[tp.topic] = (consumed + min(done[tp], end), total + end)
            progress(per_topic)
            if len(assigned) == len(ends) and all(done[tp] >= end for tp, end in ends.items()):
                return
            self.indexer.run_once()

    def positions(self) -> dict[TopicPartition, int]:
        """Where the rebuild stands: every change below these offsets is applied."""
        return {tp: self.indexer.consumer.position(tp) for tp in self.indexer.consumer.assignment()}

    def close(self) -> None:
        self.indexer.close()


def next_generation(os: OpenSearch, names: Names) -> tuple[int, bool]:
    """The generation to rebuild, and whether it is resumed (it exists, but no alias uses it yet)."""
    existing = generations(os, names)
    live = set(aliases(os, names).values())
    newest = max(existing, default=0)
    if newest and newest not in live:
        return newest, True
    return newest + 1, False


# --- verification ---------------------------------------------------------------------------------

def committed_offsets(settings: Settings, group: str) -> dict[TopicPartition, int]:
    """Where a consumer group stands on every partition (for the live indexer: what it has applied,
    give or take its batch in hand); 0 where it has committed nothing."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return {tp: consumer.committed(tp) or 0 for tp in end_offsets(settings)}
    finally:
        consumer.close()


def expected_documents(settings: Settings, cut: dict[TopicPartition, int]) -> dict[str, dict[str, Any]]:
    """What the runs index must hold once every change below `cut` is applied: the topics replayed
    from their earliest offsets, in memory. (Events keep flowing, so the cut is where the index
    stands, not where the topics end.)"""
    ends = {tp: end for tp, end in cut.items() if end > 0}
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    memory, names = MemoryStore(), Names("verify")
    pipeline = Pipeline(memory, names)
    try:
        consumer.assign(list(ends))
        consumer.seek_to_beginning()
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            polled = consumer.poll(timeout_ms=500, max_records=5000)
            records = [r for tp, batch in polled.items() for r in batch if r.offset < ends[tp]]
            pipeline.apply([change for _, change in decode_batch(records, settings.topics(), settings).changes])
    finally:
        consumer.close()
    return {rid: v.source for rid, v in memory.indices.get(names.write_alias("runs"), {}).items()}


SEARCHED = ("workflow_run_id", "organization_id", "workflow_id", "status", "listed", "created_at_us", "param_ids",
            "error_codes", "search_text", "run")


def differences(os: OpenSearch, index: str, expected: dict[str, dict[str, Any]], sample: int | None) -> list[str]:
    """Every difference between the index and the expected documents, each naming its run id."""
    os.indices.refresh(index=index)  # the scan below must see every write acknowledged so far
    actual = {hit["_id"]: hit["_source"] for hit in helpers.scan(os, index=index, query={"query": {"match_all": {}}},
                                                                   _source_includes=list(SEARCHED))}
    problems = []
    listed = lambda docs: sum(1 for d in docs.values() if d.get("listed"))  # noqa: E731
    if listed(actual) != listed(expected):
        problems.append(f"listed runs: index has {listed(actual)}, topics give {listed(expected)}")
    problems += [f"{rid}: in the index, not in the topics" for rid in sorted(actual.keys() - expected.keys())
                 if actual[rid].get("listed")]
    ids = sorted(expected)
    if sample is not None and sample < len(ids):
        ids = sorted(random.sample(ids, sample))
    for rid in ids:
        want = {k: expected[rid].get(k) for k in SEARCHED}
        got = actual.get(rid)
        if got is None:
            if want["listed"]:
                problems.append(f"{rid}: missing from the index")
            continue
        wrong = sorted(k for k in SEARCHED if got.get(k) != want[k])
        if wrong:
            problems.append(f"{rid}: differs in {', '.join(wrong)}")
    return problems

