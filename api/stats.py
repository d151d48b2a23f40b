"""`GET /v1/agents/runs/stats`: for the listing's filters, how many runs match, how they split by status and error
code, and how they spread over time. One OpenSearch search of no hits and three aggregations. Pure.

The timeline counts runs by `created_at` in buckets of an hour or a day of a time zone. Runs are indexed by their
creation time in microseconds (a number, not a date field), so the buckets are computed here, daylight saving time
included (a day may have 23 or 25 hours), and counted with one `range` aggregation. The range asked for is widened
to whole buckets.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from runsearch.api.query import RunFilters, run_filter
from runsearch.errors import RunsearchError

Interval = Literal["hour", "day"]
MAX_BUCKETS = 1000
STATUS_BUCKETS = 64  # more than the statuses there are, unknown ones served as stored included


class BadTimeline(RunsearchError):
    """The timeline asked for cannot be drawn (an unknown time zone, an empty range, too many buckets): a 422."""


@dataclass(frozen=True)
class Timeline:
    start: dt.datetime  # aware
    end: dt.datetime  # aware, after start
    interval: Interval
    zone: ZoneInfo
    # The start of every bucket from the one holding `start` to the one holding the last instant before `end`, and
    # the end of the last: len(buckets) + 1 instants, in the time zone. Computed once, when the timeline is made.
    edges: tuple[dt.datetime, ...]

    @classmethod
    def of(cls, start: dt.datetime, end: dt.datetime, interval: Interval, time_zone: str) -> Timeline:
        """From the request: times without an offset are read in `time_zone`."""
        try:
            zone = ZoneInfo(time_zone)
        except (ValueError, KeyError, OSError) as err:  # ZoneInfoNotFoundError is a KeyError
            raise BadTimeline(f"unknown time zone {time_zone!r}: use an IANA name such as UTC or Europe/Paris") from err
        start, end = (t if t.tzinfo else t.replace(tzinfo=zone) for t in (start, end))
        if end <= start:
            raise BadTimeline("`to` must be after `from`")
        try:
            edges = _edges(start, end, interval, zone)
        except OverflowError as err:  # a bucket edge before year 1 or after 9999
            raise BadTimeline("the timeline reaches past the dates that can be written (years 1 to 9999)") from err
        return cls(start, end, interval, zone, edges)


def _edges(start: dt.datetime, end: dt.datetime, interval: Interval, zone: ZoneInfo) -> tuple[dt.datetime, ...]:
    local = start.astimezone(zone)
    first = local.replace(minute=0, second=0, microsecond=0)
    if interval == "day":
        first = dt.datetime.combine(local.date(), dt.time(0), tzinfo=zone)
    edges = [first]
    last = end.astimezone(dt.UTC)  # compared in UTC: within one zone Python compares wall-clock times
    while edges[-1].astimezone(dt.UTC) < last:
        if len(edges) > MAX_BUCKETS:
            raise BadTimeline(f"more than {MAX_BUCKETS} buckets: ask for a shorter range or a longer interval")
        edges.append(_next(edges[-1], interval, zone))
    return tuple(edges)


def _next(start: dt.datetime, interval: Interval, zone: ZoneInfo) -> dt.datetime:
    if interval == "hour":  # an hour is 3,600 seconds whatever the clocks do
        return (start.astimezone(dt.UTC) + dt.timedelta(hours=1)).astimezone(zone)
    return dt.datetime.combine(start.date() + dt.timedelta(days=1), dt.time(0), tzinfo=zone)


def _micros(t: dt.datetime) -> int:
    return (t - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def stats_body(organization_id: str, filters: RunFilters, error_codes: int, timeline: Timeline | None) -> dict[str, Any]:
    aggs: dict[str, Any] = {
        "statuses": {"terms": {"field": "status", "size": STATUS_BUCKETS}},
        # Exact on one shard; on several, OpenSearch's usual top-terms estimate (a larger shard_size keeps it close).
        "error_codes": {"terms": {"field": "error_codes", "size": error_codes, "shard_size": max(100, error_codes * 5)}},
    }
    if timeline is not None:
        edges = [_micros(t) for t in timeline.edges]
        aggs["timeline"] = {"range": {"field": "created_at_us",
                                      "ranges": [{"from": a, "to": b} for a, b in itertools.pairwise(edges)]}}
    return {"query": run_filter(organization_id, filters), "size": 0, "track_total_hits": True, "aggs": aggs}


class ErrorCodeCount(BaseModel):
    error_code: str
    runs: int = Field(description="Matching runs with at least one task error of this code")


class Bucket(BaseModel):
    start: dt.datetime = Field(description="Start of the bucket, in the requested time zone")
    runs: int


class TimelineCounts(BaseModel):
    interval: Interval
    time_zone: str
    buckets: list[Bucket]


class RunStats(BaseModel):
    total: int = Field(description="Runs matching the filters (exact)")
    by_status: dict[str, int] = Field(description="Matching runs per status (statuses without runs left out)")
    error_codes: list[ErrorCodeCount] = Field(description="The most frequent error codes among the matching runs")
    timeline: TimelineCounts | None = Field(None, description="Matching runs per bucket of `created_at`, when asked")


def read(found: dict[str, Any], timeline: Timeline | None) -> RunStats:
    aggs = found["aggregations"]
    counts = None
    if timeline is not None:
        counts = TimelineCounts(interval=timeline.interval, time_zone=str(timeline.zone), buckets=[
            Bucket(start=start, runs=bucket["doc_count"])
            for start, bucket in zip(timeline.edges, aggs["timeline"]["buckets"], strict=False)])
    return RunStats(
        total=found["hits"]["total"]["value"],
        by_status={b["key"]: b["doc_count"] for b in aggs["statuses"]["buckets"]},
        error_codes=[ErrorCodeCount(error_code=b["key"], runs=b["doc_count"]) for b in aggs["error_codes"]["buckets"]],
        timeline=counts,
    )
