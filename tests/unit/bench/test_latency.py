"""The benchmark's timing loop: calls taking turns, a budget that stops slow ones, percentiles of what was taken."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from runsearch.bench import latency
from runsearch.bench.classes import QueryClass


def test_calls_take_turns_and_each_gets_its_samples() -> None:
    order: list[str] = []

    def call(name: str, figure: float) -> float:
        order.append(name)
        return figure

    fast, slow = latency._timed([lambda: call("a", 1.0), lambda: call("b", 3.0)], requests=5, budget_seconds=60,
                                minimum=1)
    assert order == ["a", "b"] * 6  # one warm-up call each, then five turns
    assert (fast["n"], fast["p50"], slow["n"], slow["p50"]) == (5, 1.0, 5, 3.0)


def test_a_spent_budget_stops_after_the_minimum() -> None:
    calls: list[int] = []

    def call() -> float:
        calls.append(1)
        return 2.0

    (taken,) = latency._timed([call], requests=1000, budget_seconds=0, minimum=3)
    assert taken["n"] == 3 and len(calls) == 4  # the warm-up call is not a sample


def test_wall_time_is_taken_when_a_call_has_no_figure_of_its_own() -> None:
    (taken,) = latency._timed([lambda: None], requests=4, budget_seconds=60, minimum=1)
    assert taken["n"] == 4 and 0 <= taken["p50"] < 50


def test_an_endpoint_is_timed_until_its_answer_is_received_not_while_the_client_parses_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        time.sleep(0.02)
        return httpx.Response(200, json={"runs": [], "asked": dict(request.url.params)})

    parse = httpx.Response.json

    def slow_parse(response: httpx.Response, **kwargs: Any) -> Any:
        time.sleep(0.2)  # a large page parsed by a slow client
        return parse(response, **kwargs)

    monkeypatch.setattr(httpx.Response, "json", slow_parse)
    client = httpx.Client(transport=httpx.MockTransport(answer), base_url="http://runsearch")
    found, taken = latency.timed_fetch(client, "key", {"page_size": 3})
    assert found == {"runs": [], "asked": {"page_size": "3"}} and 20 <= taken < 200
    (measured,) = latency.endpoints([client], "key", QueryClass("plain", "o_1", {}), requests=2, budget_seconds=60,
                                    minimum=1)
    assert 20 <= measured["p99"] < 200
