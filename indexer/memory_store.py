"""An in-memory document store with OpenSearch's versioning rules: the pipeline over it computes what
the index should hold (`verify`), and unit tests run the pipeline without servers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from runsearch.indexer.ports import Version, Versioned, Writes


class MemoryStore:
    def __init__(self) -> None:
        self.indices: dict[str, dict[str, Versioned]] = {}
        self.seq = 0

    def mget(self, index: str, ids: Iterable[str]) -> dict[str, Versioned]:
        docs = self.indices.get(index, {})
        # Copies, as OpenSearch hands out; through JSON, which is what they hold, several times faster than deepcopy.
        return {i: Versioned(orjson.loads(orjson.dumps(v.source)), v.seq_no, v.primary_term, v.size)
                for i in ids if (v := docs.get(i)) is not None}

    def versions(self, index: str, ids: Iterable[str]) -> dict[str, Version]:
        docs = self.indices.get(index, {})
        return {i: (v.seq_no, v.primary_term) for i in ids if (v := docs.get(i)) is not None}

    def write(self, index: str, docs: Writes) -> set[str]:
        stored = self.indices.setdefault(index, {})
        conflicts = set()
        for doc_id, (source, seen) in docs.items():
            current = stored.get(doc_id)
            if (seen is None) != (current is None) or (seen and current and seen.seq_no != current.seq_no):
                conflicts.add(doc_id)
                continue
            self.seq += 1
            raw = orjson.dumps(source)
            stored[doc_id] = Versioned(orjson.loads(raw), self.seq, 1, len(raw))  # a copy, as OpenSearch keeps one
        return conflicts

    def matching(self, index: str, query: dict[str, Any]) -> tuple[int, Iterator[str]]:
        wanted = [next(iter(clause["terms"].items())) for clause in query["bool"]["should"]]
        out = []
        for doc_id, doc in self.indices.get(index, {}).items():
            for field, values in wanted:
                have = doc.source.get(field)
                have = have if isinstance(have, list) else [have]
                if set(have) & set(values):
                    out.append(doc_id)
                    break
        return len(out), iter(out)
