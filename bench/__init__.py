"""`make bench`: runsearch against the platform's SQL on PostgreSQL, at scale."""

from runsearch.errors import RunsearchError


class BenchError(RunsearchError):
    """The benchmark could not measure what it set out to (a process died, events went missing)."""
