"""API latency per query kind, over HTTP with keep-alive, against a running `make up`."""

from __future__ import annotations

import statistics
import time

import httpx

QUERIES: dict[str, dict[str, object]] = {
    "no filter": {},
    "status": {"status": ["failed", "completed"]},
    "error_code": {"error_code": "LOGIN_FAILED"},
    "search_key, 3 chars": {"search_key": "log"},
    "search_key, 12 chars": {"search_key": "invoice port"},
    "search_key, rare": {"search_key": "ÉCOLE Straße"},
    "all filters": {"status": "failed", "error_code": "LOGIN_FAILED", "search_key": "login"},
    "page 50": {"page": 50, "page_size": 10},
}


def measure(base_url: str, api_key: str, requests: int) -> dict[str, dict[str, float]]:
    results = {}
    with httpx.Client(base_url=base_url, headers={"x-api-key": api_key}, timeout=10) as client:
        for name, params in QUERIES.items():
            client.get("/v1/agents/runs", params=params).raise_for_status()  # warm up
            timings = []
            for _ in range(requests):
                started = time.perf_counter()
                client.get("/v1/agents/runs", params=params).raise_for_status()
                timings.append((time.perf_counter() - started) * 1000)
            timings.sort()
            results[name] = {"p50_ms": statistics.median(timings), "p99_ms": timings[int(len(timings) * 0.99) - 1]}
    return results
