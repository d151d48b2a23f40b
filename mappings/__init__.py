"""Index settings and mappings, their schema stamp, and the names of the versioned indices and their aliases.

One generation `N` is three indices: `<prefix>-runs-vN` (one document per run, read by the API),
`<prefix>-lookup-vN` (rows shared by many runs, for the indexer) and `<prefix>-keys-vN` (API keys).
The API reads through the read aliases `<prefix>-runs` and `<prefix>-keys`; they move to another
generation in one atomic update. A generation has write aliases `<prefix>-<kind>-vN-write` for as long as
the live indexer is to keep it current (while it is built, served, or kept to roll back to); writes name
only aliases, so a write never creates an index.

Every index carries, in its mapping's `_meta`, the schema stamp of the mappings it was created with: an
indexer writes only the generations of its own schema (documents of another shape could be refused).
How an index spreads over the cluster (`Layout`: shards and replicas, from the settings) is given at creation and
is not part of the schema: the documents are the same whatever the layout.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runsearch.settings import Settings

KINDS = ("runs", "lookup", "keys")
# The run's response text again, as base64 binary doc values, left out of `_source` (runs.json): what the API reads.
# Doc values rather than a stored field: Lucene decompresses a block of stored fields for every hit (5 of the 6 ms
# a page of 100 runs took in OpenSearch at 1,000,000 runs; 1 ms from doc values).
RESPONSE_FIELD = "response"
READ_KINDS = ("runs", "keys")  # what the API reads; the lookup index serves the indexer only
# The schema of the indices created before they carried a stamp (their mappings are this version's).
LEGACY_SCHEMA = "5252dd1b058a4bab"


@cache
def _files() -> dict[str, dict[str, Any]]:
    return {kind: json.loads(resources.files(__package__).joinpath(f"{kind}.json").read_text()) for kind in KINDS}


@cache
def schema() -> str:
    """The stamp of these mappings: a digest of the three index bodies."""
    canonical = json.dumps(_files(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# Runs per primary shard of the runs index when its shard count is not set (README, "Capacity"): the slowest class's
# `took` grows with the runs a shard holds (7 ms p50 at 1,000,000), so about 14 ms at this size; 3.9 GB a shard at
# the 1,947 bytes a run measured, about 5.4 GB since the response is also kept as doc values (2,695 bytes a run).
RUNS_PER_SHARD = 2_000_000


@dataclass(frozen=True)
class Layout:
    """Shards and replicas of new indices. `replicas` is a count, or a range OpenSearch keeps the count in as nodes
    come and go (`auto_expand_replicas`: "0-1" is one replica as soon as a second data node exists)."""

    runs_shards: int = 1
    replicas: str = "0-1"

    @classmethod
    def of(cls, settings: Settings) -> Layout:
        """RUNSEARCH_RUNS_SHARDS, else one shard per RUNS_PER_SHARD of RUNSEARCH_EXPECTED_RUNS; RUNSEARCH_INDEX_REPLICAS."""
        shards = settings.runs_shards or max(1, -(-settings.expected_runs // RUNS_PER_SHARD))
        return cls(shards, settings.index_replicas)

    def index_settings(self, kind: str) -> dict[str, Any]:
        # The lookup and keys indices stay small (rows shared by many runs, API keys): one shard each.
        shards = self.runs_shards if kind == "runs" else 1
        if self.replicas.isdigit():
            return {"number_of_shards": shards, "number_of_replicas": int(self.replicas), "auto_expand_replicas": False}
        return {"number_of_shards": shards, "auto_expand_replicas": self.replicas}


def body(kind: str, layout: Layout | None = None) -> dict[str, Any]:
    """The create-index body (settings and mappings, stamped with the schema) of one kind of index, laid out as
    `layout` says (the files' single shard without replicas when None)."""
    created: dict[str, Any] = json.loads(json.dumps(_files()[kind]))
    created["mappings"]["_meta"] = {"runsearch": {"schema": schema()}}
    if layout is not None:
        created["settings"] = {key: value for key, value in created["settings"].items()
                               if key not in ("number_of_shards", "number_of_replicas")} | layout.index_settings(kind)
    return created


def stamp(mapping: dict[str, Any]) -> str:
    """The schema an existing index was created with, from its mapping (as `GET <index>/_mapping` gives it)."""
    return str(mapping.get("_meta", {}).get("runsearch", {}).get("schema", LEGACY_SCHEMA))


@dataclass(frozen=True)
class Names:
    prefix: str

    def index(self, kind: str, generation: int) -> str:
        return f"{self.prefix}-{kind}-v{generation}"

    def indices(self, generation: int) -> str:
        """Every index of a generation, as one comma-separated target of a request."""
        return ",".join(self.index(kind, generation) for kind in KINDS)

    def read_alias(self, kind: str) -> str:
        return f"{self.prefix}-{kind}"

    def write_alias(self, kind: str, generation: int) -> str:
        return f"{self.index(kind, generation)}-write"

    def fold_alias(self, kind: str, generation: int) -> str:
        """What a rebuild's fold writes a generation through before registering it: no write alias, so the live
        indexer leaves the generation alone meanwhile."""
        return f"{self.index(kind, generation)}-fold"

    def every_write_alias(self) -> str:
        """A pattern matching the write aliases of every generation."""
        return f"{self.prefix}-*-v*-write"

    def operations_index(self) -> str:
        """Where operators' state lives (the rebuild lease); it belongs to no generation."""
        return f"{self.prefix}-operations"

    def parse(self, name: str) -> tuple[str, int] | None:
        """(kind, generation) of one of our index or generation write-alias names, else None."""
        rest = name.removeprefix(f"{self.prefix}-").removesuffix("-write")
        kind, _, number = rest.rpartition("-v")
        if not name.startswith(f"{self.prefix}-") or kind not in KINDS or not number.isdigit():
            return None
        return kind, int(number)

    def generation(self, number: int) -> Generation:
        return Generation(self, number)


@dataclass(frozen=True)
class Generation:
    """The names the indexer writes one generation through."""

    names: Names
    number: int

    def write_alias(self, kind: str) -> str:
        return self.names.write_alias(kind, self.number)
