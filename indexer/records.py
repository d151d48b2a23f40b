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
    """The record after `change`, or None when the change adds nothing to what `current` holds."""
    owners = _owners(current, change)
    if current is not None and change.lsn <= current["lsn"]:
        # Stale, but a task still teaches which run it belonged to: that run must see its tombstone.
        if change.table == "tasks" and owners != current["run_ids"]:
            return {**current, "run_ids": owners}
        return None
    record: Record = {"table": change.table, "lsn": change.lsn, "deleted": change.kind == "delete"}
    if change.data is not None:
        record.update(change.data)
    if change.table == "tasks":
        record["run_ids"] = owners
    return record


def _owners(current: Record | None, change: Change) -> list[str]:
    """Every run a task ever belonged to: a task delete names no run, so its runs come from here."""
    owners = set(current.get("run_ids", ()) if current else ())
    if change.table == "tasks" and change.data and change.data["run_id"]:
        owners.add(change.data["run_id"])
    return sorted(owners)


def task_state(task_id: str, record: Record, ts_ms: int | None) -> Change:
    """The latest known state of a task, as the change each run it belonged to must apply."""
    data = None if record["deleted"] else {"run_id": record["run_id"], "codes": record["codes"]}
    return Change("tasks", (task_id,), "delete" if data is None else "upsert", record["lsn"], data, ts_ms)
