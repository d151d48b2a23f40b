"""A straightforward model of what the index must hold: a join over the final rows (no versions,
no order, no merging), and the endpoint's filters as api.md states them, in plain Python."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import orjson


def fold(text: str) -> str:
    """Per-character Unicode lowercasing, as Lucene's lowercase filter does it (one code point each)."""
    return "".join("i" if c == "\u0130" else (c.lower() if len(c.lower()) == 1 else c) for c in text)


def expected(rows: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """run id -> the searchable facts of every run that exists."""
    tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for table, row in rows:
        tables[table].append(row)
    titles = {w["workflow_id"]: w.get("title") for w in tables["workflows"]}
    definitions = {d["workflow_parameter_id"]: d for d in tables["workflow_parameters"]}
    values: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in tables["workflow_run_parameters"]:
        values[p["workflow_run_id"]].append(p)
    codes: dict[str, set[str]] = defaultdict(set)
    for task in tables["tasks"]:
        for error in json.loads(task.get("errors") or "[]"):
            if isinstance(error, dict) and isinstance(error.get("error_code"), str):
                codes[task["workflow_run_id"]].add(error["error_code"])
    out = {}
    for run in tables["workflow_runs"]:
        rid = run["workflow_run_id"]
        texts = []
        for p in values[rid]:
            d = definitions.get(p["workflow_parameter_id"])
            if d is not None and d["deleted_at"] is None:
                texts += [t for t in (d["key"], d["description"]) if t is not None]
        out[rid] = {
            "organization_id": run["organization_id"],
            "status": run["status"],
            "created_at": run["created_at"],
            "listed": run.get("parent_workflow_run_id") is None and run.get("copilot_session_id") is None,
            "workflow_title": titles.get(run["workflow_id"]),
            "error_codes": sorted(codes[rid]),
            "param_texts": sorted(texts),
            "values": sorted(p["value"] for p in values[rid] if p.get("value") is not None),
            "headers": run.get("extra_http_headers"),
        }
        out[rid]["search_text"] = sorted([rid, *texts, *out[rid]["values"], *([run["extra_http_headers"]]
                                                                           if out[rid]["headers"] is not None else [])])
    return out


def responses(rows: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """run id -> the WorkflowRun the endpoint returns for it: the run row as the platform renders it (the
    rendering is the indexer's own, `indexer.rows`; what this checks is which row version and title end up
    served), with the title of its workflow."""
    from runsearch.indexer.rows import WorkflowRunRow

    rows = list(rows)
    titles = {row["workflow_id"]: row.get("title") for table, row in rows if table == "workflows"}
    out = {}
    for table, row in rows:
        if table == "workflow_runs":
            response = WorkflowRunRow.model_validate(row).data()["response"]
            out[row["workflow_run_id"]] = {**response, "workflow_title": titles.get(row["workflow_id"])}
    return out


def facts(doc: dict[str, Any]) -> dict[str, Any]:
    """The same facts, read back from an indexed document."""
    return {
        "organization_id": doc["organization_id"], "status": doc["status"], "created_at": doc["created_at_us"],
        "listed": doc["listed"], "workflow_title": orjson.loads(doc["run"])["workflow_title"] if doc["run"] else None,
        "error_codes": doc["error_codes"],
        "param_texts": sorted(d[f] for pid in doc["param_ids"] if (d := doc["state"]["defs"].get(pid)) and d["active"]
                              for f in ("key", "description") if d[f] is not None),
        "values": sorted(v for pid in doc["param_ids"] if (v := doc["state"]["params"][pid]["value"]) is not None),
        "headers": doc["state"]["headers_text"] if doc["run"] else None,
        "search_text": sorted(doc["search_text"]),
    }


def assert_documents_match(docs: dict[str, dict[str, Any]], model: dict[str, dict[str, Any]]) -> None:
    """Every run of the model is indexed with exactly its facts; no other document is listed."""
    assert {rid for rid, d in docs.items() if d["listed"]} == {rid for rid, m in model.items() if m["listed"]}
    for rid, want in model.items():
        assert rid in docs, rid
        assert facts(docs[rid]) == want, (rid, facts(docs[rid]), want)


def search(model: dict[str, dict[str, Any]], organization_id: str, statuses: list[str] | None = None,
           search_key: str | None = None, error_code: str | None = None) -> list[str]:
    """The run ids the endpoint must return, in order, for these filters (all pages)."""
    hits = []
    for rid, run in model.items():
        if run["organization_id"] != organization_id or not run["listed"]:
            continue
        if statuses and run["status"] not in statuses:
            continue
        if error_code and error_code not in run["error_codes"]:
            continue
        if search_key:
            needle = fold(search_key)
            fields = [rid, *run["param_texts"], *run["values"], *([run["headers"]] if run["headers"] else [])]
            if not any(needle in fold(f) for f in fields):
                continue
        hits.append(rid)
    return sorted(hits, key=lambda rid: (model[rid]["created_at"], rid), reverse=True)
