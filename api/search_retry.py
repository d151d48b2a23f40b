"""A search of the served runs, sent once more when a node that took part in it dropped out.

A search runs in two phases: the query phase finds the page on one copy of each shard, and moves to another copy by
itself when a node is lost; the fetch phase reads the page's stored responses from the very copies that found them,
so a node lost between the two fails the whole search (partial results are not allowed: a page missing runs would be
a wrong answer). The client's own retry does not rescue it: it takes the failing node for dead and sends the retry
to the other node, the lost one (seen once, as a 503, in the two-node test that kills a node mid-load). Sent again,
the search runs on the copies left.
"""

from __future__ import annotations

from typing import Any

from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import ConnectionTimeout, TransportError


def worth_retrying(err: TransportError) -> bool:
    """A node unreachable, or a search that failed on the server (5xx): the copies left may answer at once. Not a
    timeout: OpenSearch is slow, and a second search would only add to its load."""
    if isinstance(err, ConnectionTimeout):
        return False
    return isinstance(err, OpenSearchConnectionError) or (isinstance(err.status_code, int) and err.status_code >= 500)


async def search(os: AsyncOpenSearch, index: str, body: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    """OpenSearch's answer; raises the second failure (or the first, when another search cannot help)."""
    try:
        found: dict[str, Any] = await os.search(index=index, body=body, params=params)
    except TransportError as err:
        if not worth_retrying(err):
            raise
        found = await os.search(index=index, body=body, params=params)
    return found
