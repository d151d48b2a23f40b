"""Filters of `GET /v1/agents/runs` -> one OpenSearch search body. Pure.

Every clause sits in `bool.filter` (all must hold, no scoring). The search term is matched as a
literal, case-insensitive substring through n-grams of the searched texts (mappings/runs.json):

- 3 characters or more: a phrase of the term's trigrams on `search_text`, whose positions are the
  trigrams' start offsets, so consecutive positions mean consecutive characters: the phrase matches
  exactly the texts containing the term. (Each text is one value; values are 100 positions apart, so
  no phrase spans two of them.)
- 1 or 2 characters: every 1- and 2-gram of the term on `search_text.short`; a text holding the term's
  own n-gram (the term itself) holds the others too, so this is exact as well.

Both sides are analysed by OpenSearch (n-grams of code points, then Lucene's lowercasing), so the term
needs no escaping: no character is an operator.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson

from runsearch.errors import RunsearchError
from runsearch.mappings import RESPONSE_FIELD

SEARCH_FIELD = "search_text"  # the run id, live parameter keys and descriptions, parameter values, header text
TRIGRAM = 3
SORT = [{"created_at_us": {"order": "desc"}}, {"workflow_run_id": {"order": "desc"}}]


class PageTooDeep(RunsearchError):
    """The page lies beyond the deepest result the index serves by offset."""


@dataclass(frozen=True)
class RunFilters:
    statuses: tuple[str, ...] = ()
    search_key: str | None = None
    error_code: str | None = None


def search_clause(term: str) -> dict[str, Any]:
    """The runs having `term` as a case-insensitive substring of one of their searched texts."""
    if len(term) >= TRIGRAM:
        return {"match_phrase": {SEARCH_FIELD: {"query": term}}}
    return {"match": {f"{SEARCH_FIELD}.short": {"query": term, "operator": "and"}}}


# The request parameters of the searches: a shard that cannot answer (its node lost, no copy left yet) fails the
# search rather than leaving its runs out of a 200 (a filter path would hide `_shards.failed`); listings get back
# only the responses, cursor pages also each hit's sort values. Each hit's index too (not its `_id`, a stored
# field): without it, the filter path would silently drop the hits of a generation whose runs lack the response's
# doc values (`OtherSchema`).
WHOLE = {"allow_partial_search_results": "false"}
SEARCH_PARAMS = {**WHOLE, "filter_path": f"hits.hits._index,hits.hits.fields.{RESPONSE_FIELD}"}
PAGE_PARAMS = {**WHOLE, "filter_path": f"hits.hits._index,hits.hits.fields.{RESPONSE_FIELD},hits.hits.sort"}
# The response of a run is read from doc values of its own (`RESPONSE_FIELD`), with no stored field loaded: neither
# the whole `_source` (three times larger, with the indexer's state) nor a stored field (`_id` included), each of
# which costs Lucene a block's decompression per hit.
FETCH = {"_source": False, "stored_fields": "_none_", "docvalue_fields": [RESPONSE_FIELD]}


def run_filter(organization_id: str, filters: RunFilters) -> dict[str, Any]:
    """The query of the runs an organization lists with these filters (every listing, stats, and their pages)."""
    clauses: list[dict[str, Any]] = [
        {"term": {"organization_id": organization_id}},
        {"term": {"listed": True}},  # known, not deleted, not a child run, not a copilot run
    ]
    if filters.statuses:
        clauses.append({"terms": {"status": sorted(set(filters.statuses))}})
    if filters.error_code:
        clauses.append({"term": {"error_codes": filters.error_code}})
    if filters.search_key:
        clauses.append(search_clause(filters.search_key))
    return {"bool": {"filter": clauses}}


class BadCursor(RunsearchError):
    """A cursor this service did not make (or made for another order): a 422."""


CURSOR_PATTERN = r"^[A-Za-z0-9_-]*$"  # every cursor `encode_cursor` makes: URL-safe base64 without its padding


def encode_cursor(sort_values: list[Any]) -> str:
    """The position after a run, opaque to clients: its sort values (creation time, id) as URL-safe text."""
    return base64.urlsafe_b64encode(orjson.dumps(sort_values)).decode().rstrip("=")


class OtherSchema(RunsearchError):
    """The served generation was built with another version's mappings, which do not hold the response as doc values."""


def run_responses(found: dict[str, Any]) -> list[bytes]:
    """The response texts (JSON, UTF-8) of a search's hits, in order."""
    hits = found.get("hits", {}).get("hits", ())
    if any("fields" not in hit for hit in hits):  # every listed run has its response
        raise OtherSchema
    # OpenSearch gives binary doc values as base64 without its padding.
    return [base64.b64decode(text + "=" * (-len(text) % 4)) for hit in hits for text in hit["fields"][RESPONSE_FIELD]]


def decode_cursor(cursor: str) -> list[Any]:
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError) as err:
        raise BadCursor("not a cursor of this listing: pass `next_cursor` as it was returned") from err
    if not (isinstance(values, list) and len(values) == len(SORT) and isinstance(values[0], int)
            and isinstance(values[1], str)):
        raise BadCursor("not a cursor of this listing: pass `next_cursor` as it was returned")
    return values


def after(organization_id: str, filters: RunFilters, cursor: str | None, page_size: int) -> dict[str, Any]:
    """A page of the listing's order after the run `cursor` points past (from the newest without one): `search_after`
    on the sort values, so any depth costs the same, and runs created meanwhile (all newer) never shift the pages."""
    body: dict[str, Any] = {"query": run_filter(organization_id, filters), "sort": SORT, "size": page_size, **FETCH,
                            "track_total_hits": False}
    if cursor is not None:
        body["search_after"] = decode_cursor(cursor)
    return body


def translate(organization_id: str, filters: RunFilters, page: int, page_size: int, max_window: int) -> dict[str, Any]:
    if page * page_size > max_window:
        raise PageTooDeep(f"page * page_size must not exceed {max_window}: only the first {max_window} runs of a "
                          f"listing can be paged to; narrow the filters to reach older runs")
    return {
        "query": run_filter(organization_id, filters),
        "sort": SORT,
        "from": (page - 1) * page_size,
        "size": page_size,
        **FETCH,
        "track_total_hits": False,
    }
