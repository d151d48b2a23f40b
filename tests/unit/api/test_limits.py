"""Oversized requests are refused at once by the real server process, before authentication or search."""

from __future__ import annotations

import http.client
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import pytest

from runsearch.api.app import create_app
from runsearch.api.limits import MAX_URL_BYTES
from runsearch.contract import WorkflowRunStatus
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
    # the largest valid URLs
    ("/v1/agents/runs?search_key=" + "%F0%9F%9A%80" * 500 + "&error_code=" + "%F0%9F%9A%80" * 500, {}, 403),
    ("/v1/agents/runs/pages?search_key=" + "%F0%9F%9A%80" * 500 + "&error_code=" + "%F0%9F%9A%80" * 500
     + "&cursor=" + "A" * 2000, {}, 403),
    ("/v1/agents/runs", {"x-api-key": "k" * 1_000_000}, 431),
    ("/v1/agents/runs", {f"x-filler-{i}": "v" * 100 for i in range(500)}, 431),
    ("/v1/agents/runs", {"x-api-key": "not-a-key"}, 403),  # within the limits: answered as usual
])
def test_oversized_requests_are_refused_fast(api: tuple[str, int], path: str, headers: dict[str, str], status: int) -> None:
    got, seconds = _get(api, path, headers)
    assert got == status
    assert seconds < 1.0


def _longest(schema: dict[str, Any]) -> str | None:
    """The longest value a bounded string parameter admits, of the widest characters its pattern allows (percent-encoded,
    a 4-byte character takes 12 bytes of the URL)."""
    string = next((s for s in schema.get("anyOf", [schema]) if s.get("type") == "string" and "maxLength" in s), None)
    if string is None:
        return None
    for char in ("\U0001F680", "\u00e9", "a"):
        value = char * string["maxLength"]
        if re.fullmatch(string.get("pattern", ".*"), value):
            return value
    raise AssertionError(f"no value of {schema} found")


def test_the_longest_valid_url_of_every_operation_is_within_the_limit() -> None:
    # Every bounded string parameter at its longest, and every status once: a valid request is never a 414.
    for path, item in create_app().openapi()["paths"].items():
        parameters = item["get"]["parameters"]
        values = {p["name"]: value for p in parameters if p["in"] == "query" and (value := _longest(p["schema"]))}
        query = "&".join(f"{name}={quote(value)}" for name, value in values.items())
        statuses = "".join(f"&status={s.value}" for s in WorkflowRunStatus)
        url = f"{path}?{query}{statuses}"
        assert "search_key" in values and len(url.encode()) <= MAX_URL_BYTES, (path, len(url.encode()))
