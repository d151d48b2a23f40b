"""Which buffered events to apply next, so that every topic is applied in step with the others. Pure.

Kafka serves a consumer partition by partition, in chunks bounded by bytes, so while a backlog drains
a topic of small records (tasks) runs far ahead of one of large records (runs): the events of one run
then reach the indexer in different batches, and its document is written once per batch instead of
once. The indexer therefore buffers what it polls and applies, oldest first by the records' own
timestamps, only the events up to the *horizon*: the newest time up to which every partition that
still has records to read has been read. Each run's events then share a batch. Partitions with
nothing left to read do not hold anything back, so live traffic flows as before.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence, Set
from typing import TypeVar

P = TypeVar("P")


def take(buffered: Mapping[P, Sequence[int]], more: Set[P], limit: int, force: bool = False) -> dict[P, int]:
    """How many records to take from the head of each partition's buffer, given the timestamps (ms) of
    the buffered records in offset order and the partitions that still have records to read.

    Up to `limit` records, oldest first, of those not newer than the horizon, each partition's taken
    records a prefix of its buffer. None while a partition with more to read has nothing buffered (its
    time is unknown). With `force`, or when the horizon admits nothing (timestamps out of order), the
    oldest records regardless: reading never stalls on the horizon.
    """
    if not force and any(p in more and not buffered.get(p) for p in more):
        return {}
    ends = [times[-1] for p, times in buffered.items() if p in more and times]
    horizon = min(ends) if ends and not force else None
    counts = {p: _prefix(times, horizon) for p, times in buffered.items()}
    if not any(counts.values()):
        counts = {p: len(times) for p, times in buffered.items()}
    if sum(counts.values()) <= limit:
        return {p: n for p, n in counts.items() if n}
    # Merge the prefixes, oldest head first, until `limit` records are taken.
    parts = [p for p, n in counts.items() if n]
    heads = [(buffered[p][0], i) for i, p in enumerate(parts)]
    heapq.heapify(heads)
    taken = [0] * len(parts)
    for _ in range(limit):
        _, i = heapq.heappop(heads)
        taken[i] += 1
        if taken[i] < counts[parts[i]]:
            heapq.heappush(heads, (buffered[parts[i]][taken[i]], i))
    return {p: n for p, n in zip(parts, taken) if n}


def _prefix(times: Sequence[int], horizon: int | None) -> int:
    """How many leading timestamps are not newer than the horizon (None: all)."""
    if horizon is None:
        return len(times)
    for n, t in enumerate(times):
        if t > horizon:
            return n
    return len(times)
