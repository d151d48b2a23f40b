"""Filters of `GET /v1/agents/runs` -> one OpenSearch search body. Pure.

Every clause sits in `bool.filter` (all must hold, no scoring). The search term is matched as a
literal substring by a `regexp` query on the `wildcard` field: every regular-expression operator is
escaped, a backslash becomes the stand-in the indexer stores (see runsearch.searchable), and case
folding is the field's lowercase normalizer, which OpenSearch applies to the pattern too.

Why `regexp` and not `wildcard`: both build the same matcher, but only `regexp` lets the query raise
the determinization limit; with the default one, a long repetitive term (400 x "x") was refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runsearch.searchable import BACKSLASH_STAND_IN, searchable

SEARCH_FIELD = "search_text"  # the run id, live parameter keys and descriptions, parameter values, header text
SORT = [{"created_at_us": {"order": "desc"}}, {"workflow_run_id": {"order": "desc"}}]


class PageTooDeep(ValueError):
    """The page lies beyond the deepest result the index serves by offset."""


@dataclass(frozen=True)
class RunFilters:
    statuses: tuple[str, ...] = ()
    search_key: str | None = None
    error_code: str | None = None


REGEXP_OPERATORS = frozenset('.?+*|{}[]()"\\#@&<>~^$')
# The matcher of `.*term.*` has at most one state per character of the term (500 at most), but building
# it for a repetitive term takes more work than the default limit (10,000) allows.
MAX_DETERMINIZED_STATES = 1_000_000


def substring_pattern(term: str) -> str:
    """A Lucene regular expression matching the texts that contain `term`, every character literal."""
    literal = "".join(f"\\{c}" if c in REGEXP_OPERATORS else c for c in searchable(term))
    return f".*{literal}.*"


def search_clause(term: str) -> dict[str, Any]:
    """The runs having `term` as a case-insensitive substring of one of their searched texts."""
    return {"regexp": {SEARCH_FIELD: {"value": substring_pattern(term), "flags": "NONE",
                                      "max_determinized_states": MAX_DETERMINIZED_STATES}}}


def translate(organization_id: str, filters: RunFilters, page: int, page_size: int, max_window: int) -> dict[str, Any]:
    if page * page_size > max_window:
        raise PageTooDeep(f"page * page_size must not exceed {max_window}: only the first {max_window} runs of a "
                          f"listing can be paged to; narrow the filters to reach older runs")
    clauses: list[dict[str, Any]] = [
        {"term": {"organization_id": organization_id}},
        {"term": {"listed": True}},  # known, not deleted, not a child run, not a copilot run
    ]
    if filters.statuses:
        clauses.append({"terms": {"status": sorted(set(filters.statuses))}})
    if filters.error_code:
        clauses.append({"term": {"error_codes": filters.error_code}})
    if filters.search_key and BACKSLASH_STAND_IN in filters.search_key:
        clauses.append({"match_none": {}})  # the stand-in never stands for itself (see runsearch.searchable)
    elif filters.search_key:
        clauses.append(search_clause(filters.search_key))
    return {
        "query": {"bool": {"filter": clauses}},
        "sort": SORT,
        "from": (page - 1) * page_size,
        "size": page_size,
        "_source": ["run"],
        "track_total_hits": False,
    }
