"""Latency against the shard layout: the benchmark's runs copied into indices of other primary shard counts (no
replicas, merged to one segment a shard as a settled index is), and each query class's OpenSearch `took` measured
on each. What the capacity model's shards-per-size rule is checked against."""

from __future__ import annotations

from typing import Any

from opensearchpy import OpenSearch, helpers

from runsearch.bench import latency
from runsearch.bench.classes import QueryClass
from runsearch.indexer.document import indexed
from runsearch.mappings import Layout, body
from runsearch.settings import Settings


def took_by_shards(os: OpenSearch, settings: Settings, source: str, queries: list[QueryClass], counts: tuple[int, ...],
                   requests: int) -> dict[str, Any]:
    """{"documents": n, "classes": {class: {shards: {p50, p99, ...}}}} for the documents of `source`."""
    took: dict[str, dict[str, dict[str, float]]] = {q.name: {} for q in queries}
    documents = 0
    for shards in counts:
        target = f"{settings.index_prefix}-shards-{shards}"
        os.indices.delete(index=target, ignore_unavailable=True)
        os.indices.create(index=target, body=body("runs", Layout(shards, "0")))
        try:
            # Copied through `indexed`: the response's doc values are not in `_source` (helpers.reindex would drop them).
            hits = helpers.scan(os, index=source, size=2000, query={"query": {"match_all": {}}})
            documents, _ = helpers.bulk(os, ({"_index": target, "_id": hit["_id"], "_source": indexed(hit["_source"])}
                                             for hit in hits), chunk_size=2000, request_timeout=300)
            os.indices.refresh(index=target)
            os.indices.forcemerge(index=target, max_num_segments=1, request_timeout=3600)
            for q in queries:
                took[q.name][str(shards)] = latency.opensearch_took(os, target, q, requests, settings.max_result_window)
        finally:
            os.indices.delete(index=target)
    return {"documents": documents, "classes": took}
