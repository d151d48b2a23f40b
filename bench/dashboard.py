"""The dashboard's endpoints at the benchmark's scale, for the biggest organization: stats with and without a search
term beside the platform's SQL for the counts it can give (`COUNT(*) ... GROUP BY status`, the same filters), and a
cursor walk deep into the listing, each page timed."""

from __future__ import annotations

from typing import Any

import httpx

from runsearch.bench import latency
from runsearch.bench.classes import QueryClass

STATS = "/v1/agents/runs/stats"
PAGES = "/v1/agents/runs/pages"


def stats(ours: httpx.Client, theirs: httpx.Client, key: str, organization: str, search_key: str, requests: int,
          baseline_budget_seconds: float) -> list[dict[str, Any]]:
    """Per filter set: both endpoints' latency, and whether their totals and status counts agree."""
    measured = []
    for name, params in (("stats", {}), ("stats, search", {"search_key": search_key})):
        query = QueryClass(name, organization, params)
        ours_counts, their_counts = (latency.fetch(c, key, params, STATS) for c in (ours, theirs))
        measured.append({
            "name": name, "params": params, "total": ours_counts["total"],
            "agree": (ours_counts["total"], ours_counts["by_status"]) == (their_counts["total"], their_counts["by_status"]),
            "runsearch_ms": latency.endpoint(ours, key, query, requests, budget_seconds=60, path=STATS),
            "baseline_ms": latency.endpoint(theirs, key, query, requests, baseline_budget_seconds, minimum=5, path=STATS),
        })
    return measured


def cursor_walk(ours: httpx.Client, key: str, pages: int, page_size: int) -> dict[str, Any]:
    """`pages` pages of the plain listing by cursor from the newest run: each page's milliseconds, early and deep."""
    cursor, samples = None, []
    for _ in range(pages):
        page, taken = latency.timed_fetch(ours, key, {"page_size": page_size, **({"cursor": cursor} if cursor else {})},
                                          PAGES)
        samples.append(taken)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    half = len(samples) // 2
    return {"page_size": page_size, "pages": len(samples), "deepest_run": len(samples) * page_size,
            "all_ms": latency.percentiles(samples), "deeper_half_ms": latency.percentiles(samples[half:] or samples)}
