"""Filters of `GET /v1/agents/runs` -> one OpenSearch search body. Pure.

Every clause sits in `bool.filter` (all must hold, no scoring). The search term is matched as a
literal substring: `*` and `?` are escaped, a backslash becomes the stand-in the indexer stores
(see runsearch.searchable), and case folding is the wildcard fields' lowercase normalizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runsearch.searchable import BACKSLASH_STAND_IN, searchable

SEARCH_FIELDS = ("search_run_id", "search_params", "search_values", "search_headers")
SORT = [{"created_at_us": {"order": "desc"}}, {"workflow_run_id": {"order": "desc"}}]


class PageTooDeep(ValueError):
    """The page lies beyond the deepest result the index serves by offset."""


class TermTooComplex(ValueError):
    """OpenSearch refused to build the matcher of a search term (a long, highly repetitive one)."""

    MESSAGE = ("search_key is too repetitive to search (OpenSearch's matcher for it would be too large); "
               "search a shorter part of it")

    @staticmethod
    def caused(error_text: str) -> bool:
        return "Determinizing automaton" in error_text or "too_complex_to_determinize" in error_text


@dataclass(frozen=True)
class RunFilters:
    statuses: tuple[str, ...] = ()
    search_key: str | None = None
    error_code: str | None = None


def substring_pattern(term: str) -> str:
    literal = searchable(term).replace("*", "\\*").replace("?", "\\?")
    return f"*{literal}*"


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
        pattern = substring_pattern(filters.search_key)
        clauses.append({"bool": {"should": [{"wildcard": {f: {"value": pattern}}} for f in SEARCH_FIELDS],
                                 "minimum_should_match": 1}})
    return {
        "query": {"bool": {"filter": clauses}},
        "sort": SORT,
        "from": (page - 1) * page_size,
        "size": page_size,
        "_source": ["run"],
        "track_total_hits": False,
    }
