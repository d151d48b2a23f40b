"""Index generations: which exist, which the API serves, which the live indexer writes, and moving between them.

A generation is written by the live indexer while it has its write aliases (`Names.write_alias`): from
the moment a rebuild registers it until cleanup removes it. So a generation being built receives every
change the live indexer applies from then on, and a generation that was served before a swap keeps
receiving them, to be rolled back to: neither ever serves data older than the other. Writes are
versioned per row, so the live indexer and a rebuild writing one generation converge.

An indexer writes only generations created with its own mappings (`mappings.schema`); another version's
generation is left alone, and said so.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from opensearchpy import NotFoundError, OpenSearch

from runsearch import mappings
from runsearch.mappings import KINDS, READ_KINDS, Generation, Layout, Names

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Info:
    """One generation as it stands."""

    number: int
    documents: dict[str, int]  # kind -> documents
    schema: str
    serving: bool  # the API's read aliases point at it
    written: bool  # it has its write aliases: the live indexer keeps it current

    @property
    def compatible(self) -> bool:
        """Created with this version's mappings: this version's indexer writes it, and its API can read it."""
        return self.schema == mappings.schema()


def survey(os: OpenSearch, names: Names) -> dict[int, Info]:
    """Every generation that exists, by number (an incomplete one, some of whose indices are missing, too)."""
    pattern = f"{names.prefix}-*-v*"
    rows = os.cat.indices(index=pattern, format="json", h="index,docs.count", expand_wildcards="open")
    aliases = os.indices.get_alias(index=pattern)
    meta = os.indices.get_mapping(index=pattern)
    documents: dict[int, dict[str, int]] = {}
    stamps: dict[int, dict[str, str]] = {}
    for row in rows:
        parsed = names.parse(row["index"])
        if parsed is None:
            continue
        kind, number = parsed
        documents.setdefault(number, {})[kind] = int(row["docs.count"] or 0)
        stamps.setdefault(number, {})[kind] = mappings.stamp(meta.get(row["index"], {}).get("mappings", {}))
    out = {}
    for number in sorted(documents):
        held = {alias for kind in KINDS for alias in aliases.get(names.index(kind, number), {}).get("aliases", {})}
        schema = stamps[number].get("runs") or next(iter(stamps[number].values()))
        out[number] = Info(number, documents[number], schema,
                           serving={names.read_alias(k) for k in READ_KINDS} <= held,
                           written={names.write_alias(k, number) for k in KINDS} <= held)
    return out


def serving(os: OpenSearch, names: Names) -> int | None:
    """The generation the API's runs read alias points at."""
    try:
        (index,) = os.indices.get_alias(name=names.read_alias("runs"))
    except NotFoundError:
        return None
    parsed = names.parse(index)
    return parsed[1] if parsed else None


class Targets:
    """The generations the live indexer writes: read again before every batch, since a rebuild registers its
    generation while the indexer runs. Each index's schema is read once (it never changes)."""

    def __init__(self, os: OpenSearch, names: Names) -> None:
        self.os, self.names = os, names
        self._schemas: dict[str, str] = {}
        self._skipped: set[int] = set()

    def current(self) -> list[Generation]:
        kinds: dict[int, set[str]] = {}
        found = _holders(self.os, self.names.every_write_alias())
        for index in found:
            parsed = self.names.parse(index)
            if parsed is not None:
                kinds.setdefault(parsed[1], set()).add(parsed[0])
        out = []
        for number in sorted(n for n, held in kinds.items() if held == set(KINDS)):
            if all(self._schema(self.names.index(kind, number)) == mappings.schema() for kind in KINDS):
                out.append(self.names.generation(number))
            elif number not in self._skipped:
                self._skipped.add(number)
                log.warning("not writing a generation of another schema", extra={"fields": {
                    "generation": number, "schema": self._schema(self.names.index("runs", number)),
                    "own_schema": mappings.schema()}})
        return out

    def _schema(self, index: str) -> str:
        if index not in self._schemas:
            meta = self.os.indices.get_mapping(index=index)
            self._schemas[index] = mappings.stamp(next(iter(meta.values()))["mappings"])
        return self._schemas[index]


def create(os: OpenSearch, names: Names, number: int, layout: Layout) -> None:
    """Create a generation's indices (with this version's mappings) unless they exist."""
    for kind in KINDS:
        index = names.index(kind, number)
        if not os.indices.exists(index=index):
            os.indices.create(index=index, body=mappings.body(kind, layout))


def _holders(os: OpenSearch, alias: str) -> dict[str, set[str]]:
    """index -> the aliases it holds, of those `alias` (a name, a comma-separated list or a pattern) names."""
    try:
        found = os.indices.get_alias(name=alias)
    except NotFoundError:
        return {}
    return {index: set(info["aliases"]) for index, info in found.items()}


def _update(os: OpenSearch, add: list[tuple[str, str]], remove: list[tuple[str, str]]) -> None:
    """Add and remove (index, alias) pairs in one atomic update."""
    actions = [{"remove": {"index": i, "alias": a}} for i, a in remove] + [{"add": {"index": i, "alias": a}} for i, a in add]
    if actions:
        os.indices.update_aliases(body={"actions": actions})


def fold_into(os: OpenSearch, names: Names, number: int) -> None:
    """Give a generation its fold aliases (a rebuild's fold writes through them; the live indexer does not)."""
    _update(os, [(names.index(k, number), names.fold_alias(k, number)) for k in KINDS], [])


def register(os: OpenSearch, names: Names, number: int) -> None:
    """Add a generation's write aliases (and drop its fold aliases, in the same atomic update): from the live
    indexer's next batch on, it keeps the generation current."""
    folds = _holders(os, ",".join(names.fold_alias(k, number) for k in KINDS))
    _update(os, [(names.index(k, number), names.write_alias(k, number)) for k in KINDS],
            [(index, alias) for index, aliases in folds.items() for alias in aliases])


def drop(os: OpenSearch, names: Names, number: int) -> None:
    """Delete a generation's indices (their aliases go with them)."""
    os.indices.delete(index=names.indices(number), ignore_unavailable=True)


def unregister(os: OpenSearch, names: Names, number: int) -> None:
    """Remove a generation's write aliases (before it is deleted): nothing writes it from then on."""
    held = _holders(os, ",".join(names.write_alias(k, number) for k in KINDS))
    _update(os, [], [(index, alias) for index, aliases in held.items() for alias in aliases])


class MergeLost(Exception):
    """A generation's merge ended without a result (its node restarted, say)."""


def merge(os: OpenSearch, names: Names, number: int, segments: int, poll_seconds: float = 1.0) -> float:
    """Merge a generation's indices down to at most `segments` segments per shard. A sorted search collects a page of
    hits in every segment, so a listing's cost grows with their count (page 50 of 1,000,000 runs in 22 segments:
    11 ms of OpenSearch's time, in one: 1 ms). The seconds it ran."""
    return await_merge(os, names, number, start_merge(os, names, number, segments), poll_seconds)


def start_merge(os: OpenSearch, names: Names, number: int, segments: int) -> str:
    """The merge (`merge`) started as a task, which a big shard's merge needs (it outlasts any request): its id."""
    return str(os.indices.forcemerge(index=names.indices(number), max_num_segments=segments,
                                     wait_for_completion=False)["task"])


def await_merge(os: OpenSearch, names: Names, number: int, task: str, poll_seconds: float = 1.0) -> float:
    """Poll the merge task until it ends; then the merged segments are searched. The seconds the merge ran."""
    while True:
        try:
            status = os.tasks.get(task_id=task)
        except NotFoundError:
            raise MergeLost(f"the merge of generation {number} (task {task}) is gone") from None
        if status.get("completed"):
            if "error" in status:
                raise MergeLost(f"the merge of generation {number} failed: {status['error'].get('type')}")
            # Searched from now on, not from the next scheduled refresh, which a shard no search reached for 30 s skips.
            os.indices.refresh(index=names.indices(number))
            return float(status["task"]["running_time_in_nanos"]) / 1e9
        time.sleep(poll_seconds)


def serve(os: OpenSearch, names: Names, number: int) -> None:
    """Point the API's read aliases at generation `number`, in one atomic update."""
    aliases = [names.read_alias(k) for k in READ_KINDS]
    held = _holders(os, ",".join(aliases))
    _update(os, [(names.index(k, number), names.read_alias(k)) for k in READ_KINDS],
            [(index, alias) for index, held_aliases in held.items() for alias in held_aliases])


def ensure_first(os: OpenSearch, names: Names, layout: Layout) -> None:
    """Before the indexer's first batch: create generation 1 and serve it when no generation exists, and give
    a generation made by an earlier version (one write alias per kind, `<prefix>-<kind>-write`) its own."""
    # An earlier version wrote through `<prefix>-<kind>-write` and also had a read alias for the lookup index.
    legacy = [f"{names.read_alias(kind)}-write" for kind in KINDS] + [names.read_alias("lookup")]
    held = _holders(os, ",".join(legacy))
    if held:
        adopted = [(index, names.write_alias(*parsed)) for index, aliases in held.items()
                   if (parsed := names.parse(index)) is not None and any(a.endswith("-write") for a in aliases)]
        _update(os, adopted, [(index, alias) for index, aliases in held.items() for alias in aliases])
        log.info("aliases of an earlier version replaced by the generation's own", extra={"fields": {"indices": sorted(held)}})
    if survey(os, names):
        return
    create(os, names, 1, layout)
    register(os, names, 1)
    serve(os, names, 1)
