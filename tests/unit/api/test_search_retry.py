"""A search sent once more when a node dropped out of it, and only then. Against real servers (a node killed while
clients query two nodes): tests/integration/test_cluster.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import ConnectionTimeout, RequestError, TransportError

from runsearch.api import search_retry

ANSWER = {"hits": {"hits": []}}


class FailingFirst:
    """Fails the first `failures` searches with `error`, then answers."""

    def __init__(self, error: TransportError, failures: int) -> None:
        self.error, self.failures, self.searches = error, failures, 0

    async def search(self, index: str, body: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        self.searches += 1
        if self.searches <= self.failures:
            raise self.error
        return ANSWER


def searched(os: FailingFirst) -> dict[str, Any]:
    return asyncio.run(search_retry.search(os, "runs", {"query": {}}, {}))  # type: ignore[arg-type]


LOST_NODE = [TransportError(500, "search_phase_execution_exception"), TransportError(503, "search_phase_execution_exception"),
             OpenSearchConnectionError("N/A", "ServerDisconnectedError", None)]


@pytest.mark.parametrize("error", LOST_NODE)
def test_a_search_a_lost_node_failed_is_answered_by_the_second(error: TransportError) -> None:
    os = FailingFirst(error, 1)
    assert searched(os) == ANSWER and os.searches == 2


@pytest.mark.parametrize("error", LOST_NODE)
def test_a_search_failing_twice_is_not_sent_a_third_time(error: TransportError) -> None:
    os = FailingFirst(error, 2)
    with pytest.raises(TransportError):
        searched(os)
    assert os.searches == 2


@pytest.mark.parametrize("error", [RequestError(400, "parsing_exception", {}), TransportError(429, "rejected"),
                                   ConnectionTimeout("TIMEOUT", "timed out", None)])
def test_a_search_that_another_cannot_help_is_sent_once(error: TransportError) -> None:
    os = FailingFirst(error, 1)
    with pytest.raises(type(error)):
        searched(os)
    assert os.searches == 1
