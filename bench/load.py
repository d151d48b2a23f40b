"""Throughput: concurrent clients on loopback, each sending requests back to back for a bounded time."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass

import httpx

from runsearch.bench.classes import QueryClass
from runsearch.bench.latency import PATH, percentiles


@dataclass
class Load:
    clients: int
    seconds: float
    requests: int
    errors: int
    latency_ms: dict[str, float]

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds


async def _client(base_url: str, keys: dict[str, str], queries: list[QueryClass], offset: int, until: float,
                  samples: list[float], errors: list[str]) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        for query in itertools.islice(itertools.cycle(queries), offset, None):
            if time.monotonic() >= until:
                return
            started = time.perf_counter()
            try:
                response = await client.get(PATH, params=query.params, headers={"x-api-key": keys[query.organization]})
                if response.status_code != 200:
                    errors.append(f"{response.status_code} on {query.name}")
            except httpx.HTTPError as err:
                errors.append(f"{type(err).__name__} on {query.name}")
            samples.append((time.perf_counter() - started) * 1000)


def run(base_url: str, keys: dict[str, str], queries: list[QueryClass], clients: int, seconds: float) -> Load:
    """`clients` concurrent clients cycling through the query classes for `seconds`."""
    samples: list[float] = []
    errors: list[str] = []

    async def main() -> None:
        until = time.monotonic() + seconds
        await asyncio.gather(*(_client(base_url, keys, queries, i, until, samples, errors) for i in range(clients)))

    started = time.perf_counter()
    asyncio.run(main())
    elapsed = time.perf_counter() - started
    return Load(clients, elapsed, len(samples), len(errors), percentiles(samples))
