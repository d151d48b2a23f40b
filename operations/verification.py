"""Compare a generation's run documents with what the topics say they must be, in bounded memory.

The topics are replayed up to a cut (offsets below which every change is applied to the index) through the
same merge code, into memory (`MemoryStore`). With a sample of N, only N runs picked from the index (at random)
and about N from the topics (those whose salted hash falls in the share N / documents in the index, drawn while
replaying) are replayed, with the rows many runs share: memory in proportion to N, not to the dataset. Without a
sample, every run is.

The live indexer keeps writing while this runs, so a document can be newer than the replay: a run whose
document holds a newer version of any of its rows than the replay is not a difference but has moved on.
The replay then continues to where the live indexer has committed since, and those runs are compared
again, for up to three rounds; runs still moving are reported as such, not as differences.
"""

from __future__ import annotations

import os as os_module  # `os` names the OpenSearch client here
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from opensearchpy import OpenSearch, helpers

from runsearch.indexer.memory_store import MemoryStore
from runsearch.indexer.offsets import Offsets, committed_offsets
from runsearch.indexer.replay import Progress, Replay, Scope
from runsearch.indexer.versions import held
from runsearch.mappings import Names
from runsearch.settings import Settings

SEARCHED = ("workflow_run_id", "organization_id", "workflow_id", "status", "listed", "created_at_us", "param_ids",
            "error_codes", "search_text", "run")
ROUNDS = 3
COMPARE_CHUNK = 200


@dataclass
class Report:
    compared: int = 0
    differences: list[str] = field(default_factory=list)
    moved_on: list[str] = field(default_factory=list)  # still changing after every round: not compared
    replayed: int = 0  # events
    documents: int = 0  # run documents the replay built in memory (what its memory grows with)


def verify(settings: Settings, os: OpenSearch, index: str, cut: Offsets, sample: int | None,
           progress: Progress) -> Report:
    """Every difference between the run documents of `index` and the topics replayed up to `cut`, each naming its
    run id; with `sample`, for that many runs from the index and about as many from the topics."""
    scope = None
    if sample is not None:
        named = frozenset(_sample_index(os, index, sample))  # after its refresh, the count below holds every write
        indexed = os.count(index=index)["count"]
        scope = Scope(named, min(sample / max(indexed, 1), 1.0), os_module.urandom(16))
    report = Report()
    memory = MemoryStore()
    target = Names("verify").generation(0)

    def documents() -> dict[str, dict[str, Any]]:
        return {rid: v.source for rid, v in memory.indices.get(target.write_alias("runs"), {}).items()}

    with Replay(settings, memory, target, scope) as replay:
        report.replayed += replay.advance(cut, progress)
        if scope is None:
            ids = sorted(set(documents()) | set(_index_ids(os, index)))
        else:  # not a run the replay met only through a task that moved to it from a run in scope: it holds that alone
            ids = sorted(scope.named | {rid for rid in documents() if rid in scope})
        for round_ in range(ROUNDS):
            differences, moved = _compare(os, index, ids, documents(), progress)
            report.compared += len(ids) - len(moved)
            report.differences += differences
            ids = moved
            if not ids or round_ == ROUNDS - 1:
                break
            # Where the live indexer stands now: every change below is in the index, too.
            cut = {tp: max(end, cut.get(tp, 0)) for tp, end in committed_offsets(settings, settings.consumer_group).items()}
            report.replayed += replay.advance(cut, progress)
        report.moved_on = ids
        report.documents = len(documents())
    return report


def _sample_index(os: OpenSearch, index: str, n: int) -> set[str]:
    """`n` document ids drawn at random from the index (every one when it holds fewer)."""
    os.indices.refresh(index=index)
    found = os.search(index=index, body={"size": n, "_source": False, "query": {
        "function_score": {"query": {"match_all": {}}, "random_score": {"seed": int(time.time()), "field": "_seq_no"}}}})
    return {hit["_id"] for hit in found["hits"]["hits"]}


def _index_ids(os: OpenSearch, index: str) -> Iterator[str]:
    os.indices.refresh(index=index)
    for hit in helpers.scan(os, index=index, query={"query": {"match_all": {}}, "_source": False}):
        yield hit["_id"]


def _compare(os: OpenSearch, index: str, ids: list[str], expected: dict[str, dict[str, Any]],
             progress: Progress) -> tuple[list[str], list[str]]:
    """The differences, and the runs whose documents moved on past the replay."""
    problems, moved = [], []
    for start in range(0, len(ids), COMPARE_CHUNK):
        chunk = ids[start:start + COMPARE_CHUNK]
        docs = os.mget(index=index, body={"ids": chunk}, params={"realtime": "true"})["docs"]
        actual = {d["_id"]: d["_source"] for d in docs if d.get("found")}
        for rid in chunk:
            got, want = actual.get(rid), expected.get(rid)
            if got is None and want is None:
                continue
            if got is not None and _ahead(got, want):
                moved.append(rid)
            elif got is None:
                if want is not None and want.get("listed"):
                    problems.append(f"{rid}: missing from the index")
            elif want is None:
                if got.get("listed"):
                    problems.append(f"{rid}: in the index, not in the topics")
            elif wrong := sorted(k for k in SEARCHED if got.get(k) != want.get(k)):
                problems.append(f"{rid}: differs in {', '.join(wrong)}")
        progress("comparing", min(start + COMPARE_CHUNK, len(ids)), len(ids))
    return problems, moved


def _ahead(got: dict[str, Any], want: dict[str, Any] | None) -> bool:
    """Whether the index holds a newer version of any row of the run than the replay does."""
    state, replayed = got.get("state") or {}, (want or {}).get("state") or {}
    pairs = [(state.get("run"), replayed.get("run"))]
    for group in ("params", "tasks", "defs"):
        pairs += [(slot, (replayed.get(group) or {}).get(name)) for name, slot in (state.get(group) or {}).items()]
    workflow, replayed_workflow = state.get("workflow"), replayed.get("workflow")
    if workflow and replayed_workflow and workflow.get("id") == replayed_workflow.get("id"):
        pairs.append((workflow, replayed_workflow))
    return any(slot is not None and (other is None or held(slot) > held(other)) for slot, other in pairs)
