"""Latency of one query class, layer by layer: the endpoint (sequential requests over a keep-alive connection, each
timed until its answer is received), the same search sent to OpenSearch directly (its client and HTTP, without the
API), and OpenSearch's own `took`."""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from opensearchpy import OpenSearch

from runsearch.api.query import SEARCH_PARAMS, translate
from runsearch.bench.classes import QueryClass

PATH = "/v1/agents/runs"


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"n": len(ordered), "p50": statistics.median(ordered), "p95": at(0.95), "p99": at(0.99)}


def fetch(client: httpx.Client, key: str, params: dict[str, Any], path: str = PATH) -> Any:
    return timed_fetch(client, key, params, path)[0]


def timed_fetch(client: httpx.Client, key: str, params: dict[str, Any], path: str = PATH) -> tuple[Any, float]:
    """The answer, and the milliseconds until the whole of it was received. Parsing its JSON after that is the
    client's work, not the service's: Python's `json` took 2.2 ms more than the 13-18 ms a cursor page (117 KB) took
    to arrive on a slow host, and counted in every figure before 2026-12-02."""
    started = time.perf_counter()
    response = client.get(path, params=params, headers={"x-api-key": key})  # returns once the body is read (inflated)
    taken = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return response.json(), taken


def _timed(calls: Sequence[Callable[[], float | None]], requests: int, budget_seconds: float,
           minimum: int) -> list[dict[str, float]]:
    """`requests` samples of each call (its own figure, or else its wall time in ms), the calls taking turns, or fewer
    (at least `minimum`) once `budget_seconds` is spent: a slow class must not hold the benchmark for hours. Taking
    turns, the calls share whatever else the machine is doing meanwhile (an engine still warming up, a merge)."""
    for call in calls:
        call()  # warm up
    samples: list[list[float]] = [[] for _ in calls]
    deadline = time.monotonic() + budget_seconds
    while len(samples[0]) < requests and (len(samples[0]) < minimum or time.monotonic() < deadline):
        for call, taken in zip(calls, samples, strict=True):
            started = time.perf_counter()
            own = call()
            taken.append(own if own is not None else (time.perf_counter() - started) * 1000)
    return [percentiles(taken) for taken in samples]


def endpoints(clients: Sequence[httpx.Client], key: str, query: QueryClass, requests: int, budget_seconds: float,
              minimum: int = 10, path: str = PATH) -> list[dict[str, float]]:
    """Milliseconds per request through each endpoint, one request to each in turn."""
    return _timed([functools.partial(_fetched, client, key, query.params, path) for client in clients], requests,
                  budget_seconds, minimum)


def endpoint(client: httpx.Client, key: str, query: QueryClass, requests: int, budget_seconds: float,
             minimum: int = 10, path: str = PATH) -> dict[str, float]:
    """Milliseconds per request through an endpoint."""
    return endpoints([client], key, query, requests, budget_seconds, minimum, path)[0]


def _fetched(client: httpx.Client, key: str, params: dict[str, Any], path: str) -> float:
    return timed_fetch(client, key, params, path)[1]


def opensearch_took(os: OpenSearch, index: str, query: QueryClass, requests: int, max_window: int,
                    budget_seconds: float = 60) -> dict[str, float]:
    """OpenSearch's `took` (ms) of the very search body the API sends for this class."""
    body = translate(query.organization, query.filters(), query.page, query.page_size, max_window)
    return _timed([lambda: float(os.search(index=index, body=body)["took"])], requests, budget_seconds, minimum=10)[0]


def opensearch_direct(os: OpenSearch, index: str, query: QueryClass, requests: int, max_window: int,
                      budget_seconds: float = 60) -> dict[str, float]:
    """Milliseconds at the client of the very search the API sends (its body and parameters), sent directly."""
    body = translate(query.organization, query.filters(), query.page, query.page_size, max_window)

    def call() -> None:
        os.search(index=index, body=body, params=SEARCH_PARAMS)

    return _timed([call], requests, budget_seconds, minimum=10)[0]
