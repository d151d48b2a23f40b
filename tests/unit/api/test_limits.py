"""Oversized requests are refused at once by the real server process, before authentication or search."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from runsearch.settings import Settings
from tests.harness import served_api


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    # No OpenSearch is needed to refuse a request: the API points at a closed port.
    with served_api(Settings(opensearch_url="http://127.0.0.1:9"), Path(tmp_path_factory.mktemp("api")) / "api.log") as base:
        url = urlparse(base)
        yield url.hostname, url.port


def _get(api: tuple[str, int], path: str, headers: dict[str, str]) -> tuple[int, float]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection(*api, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        status = conn.getresponse().status
    finally:
        conn.close()
    return status, time.perf_counter() - started


@pytest.mark.parametrize("path, headers, status", [
    ("/v1/agents/runs?search_key=" + "a" * 40_000, {}, 414),
    ("/v1/agents/runs?search_key=" + "a" * 100_000, {}, 400),  # refused by the HTTP parser itself
    ("/v1/agents/runs?" + "&".join(["status=failed"] * 2_600), {}, 414),
    # the largest valid URL
    ("/v1/agents/runs?search_key=" + "%F0%9F%9A%80" * 500 + "&error_code=" + "%F0%9F%9A%80" * 500, {}, 403),
    ("/v1/agents/runs", {"x-api-key": "k" * 1_000_000}, 431),
    ("/v1/agents/runs", {f"x-filler-{i}": "v" * 100 for i in range(500)}, 431),
    ("/v1/agents/runs", {"x-api-key": "not-a-key"}, 403),  # within the limits: answered as usual
])
def test_oversized_requests_are_refused_fast(api: tuple[str, int], path: str, headers: dict[str, str], status: int) -> None:
    got, seconds = _get(api, path, headers)
    assert got == status
    assert seconds < 1.0
