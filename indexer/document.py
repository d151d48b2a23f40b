"""One search document per run: merging changes into it, and deriving its searchable fields.

Pure. A document keeps, under `state`, the version (`lsn`) of every row it was built from, so that
any change can be applied in any order, any number of times, and the result is the same: each row's
newest version wins, deletes leave versioned tombstones. `finalize` derives every indexed field
from that state, so the indexed fields are always a function of the rows alone.
"""

from __future__ import annotations

from typing import Any

import orjson

from indexer.decode import Change
from indexer.records import Record

Document = dict[str, Any]


def new_document(run_id: str) -> Document:
    return {"workflow_run_id": run_id, "run": None, "created_at_us": None,
            "state": {"run": None, "headers_text": None, "workflow": None, "params": {}, "defs": {}, "tasks": {}}}


def _newer(slot: dict[str, Any] | None, lsn: int) -> bool:
    return slot is None or lsn > slot["lsn"]


def apply(doc: Document, change: Change) -> bool:
    """Merge a change of the run's own rows (its run row, run parameters, tasks). True if it changed anything."""
    state = doc["state"]
    if change.table == "workflow_runs":
        if not _newer(state["run"], change.lsn):
            return False
        data = change.data or {}
        # The workflow id is kept beside the version: embedding reads it for every document of every batch.
        state["run"] = {"lsn": change.lsn, "deleted": change.data is None,
                        "workflow_id": data["response"]["workflow_id"] if data else None}
        doc["run"] = orjson.dumps(data["response"]).decode() if data else None
        doc["created_at_us"] = data.get("created_at_us")
        state["headers_text"] = data.get("headers_text")
        return True
    if change.table == "workflow_run_parameters":
        slots, name, value = state["params"], change.key[1], "value"
    else:
        slots, name, value = state["tasks"], change.key[0], "codes"
    if not _newer(slots.get(name), change.lsn):
        return False
    # A task that moved to another run leaves a tombstone in the run it left.
    gone = change.data is None or (change.table == "tasks" and change.data["run_id"] != doc["workflow_run_id"])
    slots[name] = {"lsn": change.lsn, "deleted": gone, value: None if gone else change.data[value]}
    return True


def embed_definition(doc: Document, parameter_id: str, record: Record) -> bool:
    """Take a parameter definition's searchable state, if newer than the one embedded."""
    defs = doc["state"]["defs"]
    if not _newer(defs.get(parameter_id), record["lsn"]):
        return False
    defs[parameter_id] = {"lsn": record["lsn"], "key": record.get("key"), "description": record.get("description"),
                          "active": not record["deleted"] and bool(record.get("active"))}
    return True


def embed_workflow(doc: Document, workflow_id: str, record: Record) -> bool:
    """Take the title of the run's workflow, if newer than the one embedded (or of another workflow)."""
    current = doc["state"]["workflow"]
    if current is not None and current["id"] == workflow_id and record["lsn"] <= current["lsn"]:
        return False
    doc["state"]["workflow"] = {"id": workflow_id, "lsn": record["lsn"], "title": record.get("title")}
    return True


def parameter_ids(doc: Document) -> list[str]:
    return sorted(pid for pid, p in doc["state"]["params"].items() if not p["deleted"])


def response(doc: Document) -> dict[str, Any] | None:
    """The run as the API returns it. Stored as JSON text so that the API can return it byte for byte."""
    return orjson.loads(doc["run"]) if doc["run"] is not None else None


def workflow_id(doc: Document) -> str | None:
    run = doc["state"]["run"]
    return run.get("workflow_id") if run else None


def finalize(doc: Document) -> Document:
    """Derive the indexed fields from the state. Returns the document for convenience."""
    state, run = doc["state"], response(doc)
    params = state["params"]
    live = parameter_ids(doc)
    workflow = state["workflow"]
    if run is not None:
        run["workflow_title"] = workflow["title"] if workflow and workflow["id"] == run["workflow_id"] else None
        doc["run"] = orjson.dumps(run).decode()
    definitions = [state["defs"].get(pid) for pid in live]
    texts = [t for d in definitions if d and d["active"] for t in (d["key"], d["description"]) if t is not None]
    values = [params[pid]["value"] for pid in live]
    doc.update(
        organization_id=run["organization_id"] if run else None,
        workflow_id=run["workflow_id"] if run else None,
        status=run["status"] if run else None,
        listed=run is not None and run["parent_workflow_run_id"] is None and run["copilot_session_id"] is None,
        param_ids=live,
        error_codes=sorted({c for t in state["tasks"].values() if not t["deleted"] for c in t["codes"]}),
        # Every searched text as one value of one field: one clause per query, matched value by value.
        search_text=[t for t in (doc["workflow_run_id"], *texts, *values, state["headers_text"]) if t is not None],
    )
    return doc
