"""Prometheus metrics of the indexer."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter("runsearch_indexer_events_total", "Change events consumed, by topic and outcome "
                 "(applied, stale, deadlettered)", ["topic", "outcome"])
UNAVAILABLE = Counter("runsearch_indexer_unavailable_values_total", "Events applied with a placeholder "
                      "(unavailable value) whose previous value the index did not know: indexed without it until "
                      "the row's next complete event", ["topic"])
FAN_OUT_RUNS = Counter("runsearch_indexer_fan_out_runs_total", "Runs re-embedded because a workflow title or a "
                       "parameter definition they use changed")
FAN_OUT_REMAINING = Gauge("runsearch_indexer_fan_out_remaining_runs", "Runs the fan-out in progress has still to update")
COMMIT_FAILURES = Counter("runsearch_indexer_commit_failures_total", "Offset commits that failed (the batch is "
                          "delivered again: harmless, but a rising count means the consumer keeps losing its group)")
BATCH_SECONDS = Histogram("runsearch_indexer_batch_seconds", "Time to apply one polled batch to OpenSearch",
                          buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
BULK_SECONDS = Histogram("runsearch_indexer_bulk_seconds", "Latency of one OpenSearch bulk request",
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
DOCUMENTS = Counter("runsearch_indexer_documents_written_total", "Run documents written (created or updated)")
RETRIES = Counter("runsearch_indexer_retries_total", "Batches retried because OpenSearch failed")
LAG = Gauge("runsearch_indexer_consumer_lag", "Messages not yet consumed, per partition", ["topic", "partition"])
NEWEST_CHANGE = Gauge("runsearch_indexer_newest_change_timestamp_seconds",
                      "Source commit time of the newest change applied")
CHANGE_AGE = Gauge("runsearch_indexer_newest_change_age_seconds",
                   "Seconds since the source committed the newest change applied")
_newest = 0.0


def newest_change() -> float | None:
    """Source commit time (epoch seconds) of the newest change applied, None before the first."""
    return _newest or None


def change_age() -> float:
    """Seconds since the source committed the newest change applied (0 before the first)."""
    return time.time() - _newest if _newest else 0.0


CHANGE_AGE.set_function(change_age)


def change_applied(ts_ms: int) -> None:
    global _newest
    if ts_ms / 1000 > _newest:
        _newest = ts_ms / 1000
        NEWEST_CHANGE.set(_newest)
