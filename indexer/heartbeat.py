"""The live indexers' heartbeats in `<prefix>-operations`: each writes, with every progress line, when it last
applied a change and how far behind it is, so `runsearch status` reads freshness from OpenSearch on any host
instead of scraping one indexer's metrics port. An indexer that stopped stops beating; status leaves out beats older
than `STALE_SECONDS`."""

from __future__ import annotations

import os as os_module
import socket
import time
from typing import Any

from opensearchpy import NotFoundError, OpenSearch, helpers

from runsearch.mappings import Layout, Names

STALE_SECONDS = 600.0


def ensure_operations_index(os: OpenSearch, names: Names, layout: Layout) -> None:
    """The operators' index, created explicitly: a write must not auto-create it with a dynamic mapping, nor with
    OpenSearch's default replica, which a single node never assigns (the cluster would stay yellow for good)."""
    if not os.indices.exists(index=names.operations_index()):
        os.indices.create(index=names.operations_index(), ignore=400, body={
            "settings": layout.index_settings("operations"), "mappings": {"dynamic": False}})
    # Created by another process a moment ago, its shard may still be starting: reads would fail (503) until then. The
    # health of a new index is yellow while its primary starts, so the active shard is waited for, not a status.
    os.cluster.health(index=names.operations_index(), wait_for_active_shards="1")


class Heartbeat:
    def __init__(self, os: OpenSearch, names: Names, layout: Layout, group: str) -> None:
        self.os, self.names, self.layout, self.group = os, names, layout, group
        self.holder = f"{socket.gethostname()}:{os_module.getpid()}"
        self.id = f"indexer:{group}:{self.holder}"
        self._ready = False

    def beat(self, fields: dict[str, Any]) -> None:
        if not self._ready:
            ensure_operations_index(self.os, self.names, self.layout)
            self._ready = True
        self.os.index(index=self.names.operations_index(), id=self.id,
                      body={"kind": "indexer", "group": self.group, "holder": self.holder, "at": time.time(), **fields})


def beats(os: OpenSearch, names: Names, group: str, now: float | None = None) -> list[dict[str, Any]]:
    """The recent heartbeats of the live indexers of `group`, newest first."""
    now = time.time() if now is None else now
    try:
        found = [hit["_source"] for hit in helpers.scan(os, index=names.operations_index(), query={"query": {"match_all": {}}})]
    except NotFoundError:
        return []
    recent = [b for b in found if b.get("kind") == "indexer" and b.get("group") == group and now - b["at"] < STALE_SECONDS]
    return sorted(recent, key=lambda b: -b["at"])
