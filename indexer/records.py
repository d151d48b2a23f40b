"""Versioned rows shared by many runs (workflows, parameter definitions), task owners and API keys.

Pure. A record is the latest known state of one source row: `{"lsn", "deleted", **Row.data()}`.
Deletes keep a record (a tombstone) so that an older event delivered again cannot bring the row back.
"""

from __future__ import annotations

from typing import Any

from indexer.decode import Change

Record = dict[str, Any]

# Tables kept as records, and in which index: "lookup" serves the indexer, "keys" the API.
RECORD_TABLES = {"workflows": "lookup", "workflow_parameters": "lookup", "tasks": "lookup",
                 "organization_auth_tokens": "keys"}


def record_id(change: Change) -> str:
    return f"{change.table}:{':'.join(change.key)}"


def merge(current: Record | None, change: Change) -> Record | None:
    """The record after `change`, or None when the change is not newer than what `current` holds."""
    if current is not None and change.lsn <= current["lsn"]:
        return None
    record: Record = {"table": change.table, "lsn": change.lsn, "deleted": change.kind == "delete"}
    if change.data is not None:
        record.update(change.data)
    if change.table == "tasks":
        # Every run the task ever belonged to: a task delete names no run, so its runs come from here.
        owners = set(current.get("run_ids", ()) if current else ())
        if change.data and change.data["run_id"]:
            owners.add(change.data["run_id"])
        record["run_ids"] = sorted(owners)
    return record
