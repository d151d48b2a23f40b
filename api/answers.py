"""Answers reused for identical listings: dashboards poll the same page again and again, and within the runs index's
refresh interval OpenSearch could not answer anything newer. A bounded in-process cache (bytes, not entries), keyed
by the exact search body (organization, filters and page are all in it), whose answers live at most `seconds`.
API keys are checked on every request before it is consulted."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from cachetools import TTLCache
from prometheus_client import Counter

LOOKUPS = Counter("runsearch_api_answer_cache_total", "Listings answered from the answer cache (hit) or by OpenSearch "
                  "(miss)", ["outcome"])


class Answers:
    def __init__(self, seconds: float, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = seconds > 0 and max_bytes > 0
        self._cache: TTLCache[bytes, bytes] = TTLCache(maxsize=max(max_bytes, 1), ttl=max(seconds, 1e-9), timer=clock,
                                                       getsizeof=len)

    @staticmethod
    def key(body: dict[str, Any]) -> bytes:
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)

    def get(self, key: bytes) -> bytes | None:
        if not self.enabled:
            return None
        found = self._cache.get(key)
        LOOKUPS.labels("hit" if found is not None else "miss").inc()
        return found

    def put(self, key: bytes, answer: bytes) -> None:
        if self.enabled and len(answer) <= self._cache.maxsize:  # one answer larger than the whole cache is not kept
            self._cache[key] = answer
