"""The query classes of the benchmark, with search terms picked from the data itself.

A search term of a class is a substring of one kind of searched text (run id, parameter key or
description, parameter value, headers) of sampled runs of the biggest organization, preferably one
found in no other kind of text of a larger sample (so the class measures that kind), chosen as the
one with the most (common) or the fewest (rare) matching runs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from opensearchpy import OpenSearch

from runsearch.api.query import RunFilters, search_clause
from runsearch.bench.snapshot import Snapshot
from runsearch.demo.dataset import ERROR_CODES

FIELDS = ("run id", "param key/description", "param value", "headers")
LENGTHS = (3, 6, 12)
COUNT_LIMIT = 10_000


@dataclass(frozen=True)
class QueryClass:
    name: str
    organization: str
    params: dict[str, Any] = field(default_factory=dict)
    hits: int | None = None  # runs the search term matches, where there is one
    index_served: bool = False  # PostgreSQL answers it straight from an index

    def filters(self) -> RunFilters:
        statuses = self.params.get("status", ())
        return RunFilters(tuple([statuses] if isinstance(statuses, str) else statuses),
                          self.params.get("search_key"), self.params.get("error_code"))

    @property
    def page(self) -> int:
        return int(self.params.get("page", 1))

    @property
    def page_size(self) -> int:
        return int(self.params.get("page_size", 10))


def _field_texts(snapshot: Snapshot, organization: str, rng: random.Random, runs: int) -> dict[str, list[str]]:
    """The searchable texts of a sample of the organization's listed runs, per searched field."""
    listed = snapshot.listed_runs(organization)
    sample = {r["workflow_run_id"]: r for r in rng.sample(listed, min(runs, len(listed)))}
    texts: dict[str, list[str]] = {name: [] for name in FIELDS}
    texts["run id"] = list(sample)
    texts["headers"] = [r["extra_http_headers"] for r in sample.values() if r["extra_http_headers"]]
    for (run_id, pid), values in snapshot.rows["workflow_run_parameters"].items():
        if run_id not in sample:
            continue
        value = dict(zip(("workflow_run_id", "workflow_parameter_id", "value"), values, strict=True))["value"]
        if value:
            texts["param value"].append(value)
        definition = snapshot.row("workflow_parameters", (pid,))
        if definition["deleted_at"] is None:
            texts["param key/description"] += [t for t in (definition["key"], definition["description"]) if t]
    return texts


def _candidates(texts: list[str], length: int, rng: random.Random, count: int) -> set[str]:
    found: set[str] = set()
    usable = [t for t in texts if len(t) >= length]
    for _ in range(count * 20):
        if len(found) >= count or not usable:
            break
        text = rng.choice(usable)
        start = rng.randrange(len(text) - length + 1)
        term = text[start:start + length]
        if term.strip() == term and any(ch.isalnum() for ch in term):
            found.add(term)
    return found


def _count(os: OpenSearch, index: str, organization: str, term: str) -> int:
    query = {"bool": {"filter": [{"term": {"organization_id": organization}}, {"term": {"listed": True}},
                                 search_clause(term)]}}
    # Counting stops at COUNT_LIMIT matches: at a million runs, counting every match of a common term took seconds.
    return os.count(index=index, body={"query": query}, params={"terminate_after": COUNT_LIMIT})["count"]


def search_classes(os: OpenSearch, index: str, snapshot: Snapshot, organization: str, seed: int = 3,
                   candidates: int = 8) -> list[QueryClass]:
    rng = random.Random(seed)
    texts = _field_texts(snapshot, organization, rng, runs=2000)
    lowered = {name: [t.lower() for t in found] for name, found in texts.items()}
    classes = []
    for name in FIELDS:
        elsewhere = [t for other, found in lowered.items() if other != name for t in found]
        for length in LENGTHS:
            counted = [(not any(term.lower() in t for t in elsewhere), _count(os, index, organization, term), term)
                       for term in sorted(_candidates(texts[name][:300], length, rng, candidates))]
            pool = [c for c in counted if c[0]] or counted
            if not pool:
                continue
            rare, common = min(pool, key=lambda c: c[1]), max(pool, key=lambda c: c[1])
            for label, (_, hits, term) in (("common", common), ("rare", rare)):
                classes.append(QueryClass(f"search {name}, {length} chars, {label}", organization, {"search_key": term}, hits))
    return classes


def all_classes(os: OpenSearch, index: str, snapshot: Snapshot, big: str, small: str) -> list[QueryClass]:
    searches = search_classes(os, index, snapshot, big)
    common_value = next(c for c in searches if c.name == "search param value, 6 chars, common")
    return [
        QueryClass("no filter (page 1)", big, index_served=True),
        QueryClass("no filter, small organization", small, index_served=True),
        QueryClass("status", big, {"status": ["failed", "timed_out"]}, index_served=True),
        QueryClass("error_code, common", big, {"error_code": ERROR_CODES[0]}, index_served=True),
        QueryClass("error_code, rare", big, {"error_code": ERROR_CODES[-1]}, index_served=True),
        *searches,
        QueryClass("search, small organization", small, {"search_key": common_value.params["search_key"]}),
        QueryClass("all filters", big, {"status": ["failed", "completed"], "error_code": ERROR_CODES[0],
                                        "search_key": common_value.params["search_key"]}),
        QueryClass("page 50", big, {"page": 50}, index_served=True),
        QueryClass("page 50, search", big, {"page": 50, "search_key": common_value.params["search_key"]}),
    ]
