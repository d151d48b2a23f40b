"""The stats search: the listing's own query, and timeline buckets of a time zone's hours and days, daylight saving
time included. Against real OpenSearch and the model of the rows: tests/integration/test_api.py."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from runsearch.api.query import RunFilters, translate
from runsearch.api.stats import MAX_BUCKETS, BadTimeline, Timeline, read, stats_body

PARIS = "Europe/Paris"


def _local(zone: str, *fields: int) -> dt.datetime:
    return dt.datetime(*fields, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


def test_days_follow_the_clocks_of_the_time_zone() -> None:
    # Paris moved from UTC+1 to UTC+2 on 2026-03-29: that day had 23 hours.
    starts = Timeline.of(_local(PARIS, 2026, 3, 28, 9), _local(PARIS, 2026, 3, 30, 18), "day", PARIS).edges
    assert [s.isoformat() for s in starts] == ["2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00",
                                               "2026-03-30T00:00:00+02:00", "2026-03-31T00:00:00+02:00"]
    utc = [s.astimezone(dt.UTC) for s in starts]  # subtracted in UTC: within one zone Python subtracts wall-clock times
    assert [(b - a).total_seconds() / 3600 for a, b in itertools.pairwise(utc)] == [24, 23, 24]


def test_hours_start_on_the_local_hour_and_the_range_widens_to_whole_buckets() -> None:
    kolkata = "Asia/Kolkata"  # UTC+5:30: a local hour starts at half past a UTC hour
    start = dt.datetime(2026, 11, 29, 4, 45, tzinfo=dt.UTC)  # 10:15 in Kolkata
    starts = Timeline.of(start, start + dt.timedelta(hours=1, minutes=1), "hour", kolkata).edges
    assert [s.isoformat() for s in starts] == ["2026-11-29T10:00:00+05:30", "2026-11-29T11:00:00+05:30",
                                               "2026-11-29T12:00:00+05:30"]
    naive = Timeline.of(dt.datetime(2026, 11, 29, 10), dt.datetime(2026, 11, 29, 11), "hour", kolkata)
    assert naive.start == _local(kolkata, 2026, 11, 29, 10)  # no offset given: read in the time zone


@pytest.mark.parametrize("start, end, interval, zone, message", [
    (dt.datetime(2026, 1, 2), dt.datetime(2026, 1, 1), "day", "UTC", "must be after"),
    (dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2), "day", "Mars/Olympus", "unknown time zone"),
    (dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 1) + dt.timedelta(hours=MAX_BUCKETS + 1), "hour", "UTC", "buckets"),
    (dt.datetime(9999, 12, 31, 1), dt.datetime(9999, 12, 31, 2), "day", "UTC", "years 1 to 9999"),
    (dt.datetime(1, 1, 1, 0, 30), dt.datetime(1, 1, 1, 2), "hour", "Asia/Kolkata", "years 1 to 9999"),
])
def test_timelines_that_cannot_be_drawn_are_refused(start: dt.datetime, end: dt.datetime, interval: str, zone: str,
                                                    message: str) -> None:
    with pytest.raises(BadTimeline, match=message):
        Timeline.of(start, end, interval, zone)  # type: ignore[arg-type]


def test_the_stats_count_what_the_listing_lists() -> None:
    filters = RunFilters(("failed", "completed"), "login", "LOGIN_FAILED")
    timeline = Timeline.of(dt.datetime(2026, 11, 1), dt.datetime(2026, 11, 3), "day", "UTC")
    body = stats_body("o_1", filters, 5, timeline)
    assert body["query"] == translate("o_1", filters, 1, 10, 10_000)["query"]
    assert body["size"] == 0 and body["track_total_hits"] is True and body["aggs"]["error_codes"]["terms"]["size"] == 5
    day = 86_400 * 10**6
    first = 1_793_491_200 * 10**6  # 2026-11-01T00:00Z in microseconds
    assert body["aggs"]["timeline"]["range"]["ranges"] == [{"from": first, "to": first + day},
                                                           {"from": first + day, "to": first + 2 * day}]
    found = {"hits": {"total": {"value": 7}}, "aggregations": {
        "statuses": {"buckets": [{"key": "failed", "doc_count": 4}, {"key": "completed", "doc_count": 3}]},
        "error_codes": {"buckets": [{"key": "LOGIN_FAILED", "doc_count": 7}]},
        "timeline": {"buckets": [{"doc_count": 5}, {"doc_count": 2}]}}}
    stats = read(found, timeline)
    assert stats.total == 7 and stats.by_status == {"failed": 4, "completed": 3}
    assert [(c.error_code, c.runs) for c in stats.error_codes] == [("LOGIN_FAILED", 7)]
    assert stats.timeline is not None and [(b.start.day, b.runs) for b in stats.timeline.buckets] == [(1, 5), (2, 2)]
    assert stats_body("o_1", RunFilters(), 5, None)["aggs"].keys() == {"statuses", "error_codes"}
