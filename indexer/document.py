"""One search document per run: merging changes into it, and deriving its searchable fields.

Pure. A document keeps, under `state`, the version (`lsn`, `deleted`) of every row it was built from, so
that any change can be applied in any order, any number of times, and the result is the same: each row's
newest version wins, deletes leave versioned tombstones (indexer.versions). `finalize` derives every
indexed field from that state, so the indexed fields are always a function of the rows alone.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

import orjson

from runsearch.indexer import unavailable
from runsearch.indexer.decode import Change
from runsearch.indexer.records import Record
from runsearch.indexer.versions import held, lsn_after, stamp, supersedes
from runsearch.mappings import RESPONSE_FIELD

Applied = Literal["applied", "stale", "incomplete"]  # incomplete: applied, but a placeholder's value is not known

Document = dict[str, Any]


def new_document(run_id: str) -> Document:
    return {"workflow_run_id": run_id, "run": None, "created_at_us": None,
            "state": {"run": None, "headers_text": None, "workflow": None, "params": {}, "defs": {}, "tasks": {}}}


def apply(doc: Document, change: Change) -> Applied:
    """Merge a change of the run's own rows (its run row or a run parameter) into the document."""
    if change.table == "workflow_runs":
        slot = doc["state"]["run"]
        # The held run (its response parsed again) only matters to a placeholder, sent by this change or carried
        # by the slot: most changes need none.
        needed = _live(slot) is not None and (change.unavailable or "carried" in slot)
        held_data = _run_data(doc) if needed else None
    else:
        slot = doc["state"]["params"].get(change.key[1])
        held_data = _live(slot)
    if not supersedes(change, slot):
        repaired = None
        if slot is not None and held_data is not None and change.data is not None:
            repaired = unavailable.repair(change.table, held_data, change.lsn, change.data, change.unavailable)
        if repaired is None:
            return "stale"
        _store(doc, change, {**slot, "carried": repaired["carried"]}, repaired)
        return "applied"
    if change.data is None:
        _store(doc, change, {"lsn": lsn_after(change, slot), "deleted": True, **stamp(change)}, None)
        return "applied"
    data, carried = unavailable.carry(change.table, change.data, change.unavailable, held_data, slot["lsn"] if slot else 0)
    _store(doc, change, {"lsn": change.lsn, "deleted": False, **({"carried": carried} if carried else {}),
                         **stamp(change)}, data)
    return "incomplete" if unavailable.unknown(carried) else "applied"


def _run_data(doc: Document) -> dict[str, Any]:
    """The run row's data as the document holds it, in the shape of `WorkflowRunRow.data()`."""
    state = doc["state"]
    return {"response": response(doc), "headers_text": state["headers_text"], "created_at_us": doc["created_at_us"],
            "carried": state["run"].get("carried", {})}


def _store(doc: Document, change: Change, version: dict[str, Any], data: dict[str, Any] | None) -> None:
    """Keep a run row's or run parameter's new state: its version (lsn, deleted, carried, at) and its data
    (None: deleted)."""
    state = doc["state"]
    if change.table == "workflow_run_parameters":
        state["params"][change.key[1]] = {**version, "value": data["value"] if data else None}
        return
    # The workflow id is kept beside the version: embedding reads it for every document of every batch.
    state["run"] = {**version, "workflow_id": data["response"]["workflow_id"] if data else None}
    doc["run"] = orjson.dumps(data["response"]).decode() if data else None
    doc["created_at_us"] = data["created_at_us"] if data else None
    state["headers_text"] = data["headers_text"] if data else None


def _live(slot: dict[str, Any] | None) -> dict[str, Any] | None:
    return slot if slot is not None and not slot.get("deleted") else None


def embed_task(doc: Document, task_id: str, record: Record) -> bool:
    """Take a task's error codes from its record, if newer than the ones held. A task that moved to another run
    leaves a tombstone in the run it left."""
    tasks = doc["state"]["tasks"]
    slot = tasks.get(task_id)
    if slot is not None and held(record) <= held(slot):
        return False
    gone = record["deleted"] or record["run_id"] != doc["workflow_run_id"]
    tasks[task_id] = {**_version(record), "deleted": gone, "codes": None if gone else record["codes"]}
    return True


def _version(record: Record) -> dict[str, Any]:
    """What an embedding keeps of a record's version, to compare it with the record's next state (`held`)."""
    return {"lsn": record["lsn"], "deleted": record["deleted"],
            **({"carried": record["carried"]} if record.get("carried") else {})}


def embed_definition(doc: Document, parameter_id: str, record: Record) -> bool:
    """Take a parameter definition's searchable state, if newer than the one embedded."""
    defs = doc["state"]["defs"]
    slot = defs.get(parameter_id)
    if slot is not None and held(record) <= held(slot):
        return False
    defs[parameter_id] = {**_version(record), "key": record.get("key"), "description": record.get("description"),
                          "active": not record["deleted"] and bool(record.get("active"))}
    return True


def embed_workflow(doc: Document, workflow_id: str, record: Record) -> bool:
    """Take the title of the run's workflow, if newer than the one embedded (or of another workflow)."""
    current = doc["state"]["workflow"]
    if current is not None and current["id"] == workflow_id and held(record) <= held(current):
        return False
    doc["state"]["workflow"] = {"id": workflow_id, **_version(record), "title": record.get("title")}
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


def indexed(source: dict[str, Any]) -> dict[str, Any]:
    """A document as OpenSearch takes it: a run document (the only kind with a `state`) also carries its response as
    the doc values the API reads (`RESPONSE_FIELD`). The mapping leaves that field out of `_source`, so a document
    read back is the one merged, and only what writes to OpenSearch adds it (the live store, the fold's writes)."""
    if "state" not in source:
        return source
    # Made from `run` alone: a document read back in real time (from the translog) may still hold an older one.
    rest = {key: value for key, value in source.items() if key != RESPONSE_FIELD}
    return rest if rest["run"] is None else {**rest, RESPONSE_FIELD: base64.b64encode(rest["run"].encode()).decode()}
