"""The request parameters of the runs listing, with the constraints and defaults the platform documents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Header, Query
from pydantic import BaseModel, Field

from runsearch.api.query import CURSOR_PATTERN, RunFilters
from runsearch.contract import WorkflowRun, WorkflowRunStatus

DESCRIPTION = """List workflow runs across all workflows for the current organization.

Results are paginated, newest first, and can be filtered by **status**, **search_key** and
**error_code**. Filters combine with AND: a run is returned only if it matches every filter given.

### search_key
Case-insensitive substring of any of: the run id (`workflow_run_id`), the `key` or `description`
of a parameter definition the run has a value for (soft-deleted definitions excluded), any
parameter value of the run, or the raw JSON text of its `extra_http_headers`. Every character is
literal.

### error_code
Exact, case-sensitive match of the `error_code` of any error object of any task of the run
(for example `INVALID_CREDENTIALS`, `LOGIN_FAILED`, `CAPTCHA_DETECTED`).

### Combining filters
- `?status=failed`: failed runs only
- `?status=failed&error_code=LOGIN_FAILED`: failed runs with a LOGIN_FAILED error
- `?status=failed&error_code=LOGIN_FAILED&search_key=prod_credential`: all three must hold
"""

SEARCH_KEY = ("Case-insensitive substring search across: workflow run ID, parameter key, parameter description, "
              "run parameter value, and extra HTTP headers. A run is returned if any of these fields match. "
              "Soft-deleted parameter definitions are excluded from key/description matching.")
ERROR_CODE = ("Exact-match filter on the error_code field inside each task's errors JSON array. A run matches if "
              "any of its tasks contains an error with a matching error_code. Error codes are user-defined strings "
              "set during workflow execution.")
API_KEY = "Skyvern API key for authentication. API key can be found at https://app.skyvern.com/settings."

Page = Annotated[int, Query(ge=1, description="Page number for pagination.")]
PageSize = Annotated[int, Query(ge=1, description="Number of runs to return per page.")]
Status = Annotated[list[WorkflowRunStatus] | None, Query(description="Filter by one or more run statuses.")]
SearchKey = Annotated[str | None, Query(max_length=500, description=SEARCH_KEY,
                                        examples=["login_url", "credential_value", "wr_abc123"])]
ErrorCode = Annotated[str | None, Query(max_length=500, description=ERROR_CODE,
                                        examples=["INVALID_CREDENTIALS", "LOGIN_FAILED", "CAPTCHA_DETECTED"])]
ApiKey = Annotated[str | None, Header(alias="x-api-key", description=API_KEY)]


def _filters(status: list[WorkflowRunStatus] | None, search_key: str | None, error_code: str | None) -> RunFilters:
    """The filters every endpoint of the listing's shape takes; an empty `search_key` or `error_code` filters
    nothing."""
    return RunFilters(tuple(s.value for s in status or ()), search_key or None, error_code or None)


@dataclass(frozen=True)
class Listing:
    """What a request asks for: the filters and the page."""

    filters: RunFilters
    page: int
    page_size: int


async def listing(page: Page = 1, page_size: PageSize = 10, status: Status = None, search_key: SearchKey = None,
                  error_code: ErrorCode = None) -> Listing:
    """The request's parameters as a dependency, shared by every endpoint of this shape. An empty
    `search_key` or `error_code` filters nothing. Async: a plain function would run in a thread pool."""
    return Listing(_filters(status, search_key, error_code), page, page_size)


STATS_DESCRIPTION = """For the filters of the listing (same parameters, same meaning, same key and organization): the
exact number of matching runs, their counts by status, the most frequent error codes, and, when `from` and `to` are
given, their counts per hour or day of `created_at` in a time zone (the range is widened to whole buckets; at most
1,000 buckets; times without an offset are read in `time_zone`)."""


@dataclass(frozen=True)
class StatsRequest:
    filters: RunFilters
    error_codes: int
    start: datetime | None
    end: datetime | None
    interval: Literal["hour", "day"]
    time_zone: str


async def stats_request(
    status: Status = None, search_key: SearchKey = None, error_code: ErrorCode = None,
    error_codes: Annotated[int, Query(ge=1, le=100, description="How many of the most frequent error codes")] = 10,
    start: Annotated[datetime | None, Query(alias="from", description="Start of the timeline (ISO 8601)",
                                            examples=["2026-11-01T00:00:00Z"])] = None,
    end: Annotated[datetime | None, Query(alias="to", description="End of the timeline (ISO 8601, exclusive)",
                                          examples=["2026-11-29T00:00:00Z"])] = None,
    interval: Annotated[Literal["hour", "day"], Query(description="Bucket of the timeline")] = "day",
    time_zone: Annotated[str, Query(max_length=64, description="IANA time zone of the buckets",
                                    examples=["UTC", "Europe/Paris"])] = "UTC",
) -> StatsRequest:
    return StatsRequest(_filters(status, search_key, error_code), error_codes, start, end, interval, time_zone)


PAGES_DESCRIPTION = """The listing's runs (same filters, same order: newest first), a page at a time after a cursor
instead of by page number, so any depth can be reached (the listing's own paging stops at the result window) and
costs the same. Start without `cursor`; pass each answer's `next_cursor` to get the next page, until it is null.
Runs created meanwhile are newer than any cursor: they never shift or repeat the pages of a walk in progress."""


class RunPage(BaseModel):
    runs: list[WorkflowRun]
    next_cursor: str | None = Field(description="Pass it as `cursor` for the next page; null after the last page")


@dataclass(frozen=True)
class PagesRequest:
    filters: RunFilters
    page_size: int
    cursor: str | None


async def pages_request(
    status: Status = None, search_key: SearchKey = None, error_code: ErrorCode = None,
    page_size: Annotated[int, Query(ge=1, le=1000, description="Runs per page")] = 100,
    # URL-safe base64, as `next_cursor` is made: so the longest valid URL stays within the API's URL limit (`limits`).
    cursor: Annotated[str | None, Query(max_length=2000, pattern=CURSOR_PATTERN,
                                        description="`next_cursor` of the previous page")] = None,
) -> PagesRequest:
    return PagesRequest(_filters(status, search_key, error_code), page_size, cursor or None)
