"""Versioned rows shared by many runs (workflows, parameter definitions), task owners and API keys.

Pure. A record is the latest known state of one source row: `{"lsn", "deleted", **Row.data()}`, plus
`carried` (where the values of unavailable columns came from, see `unavailable.carry`) and `at` (the Kafka
position it came from). Deletes keep a record (a versioned tombstone) so that an older event delivered
again cannot bring the row back.
"""

from __future__ import annotations

from typing import Any

from runsearch.indexer import unavailable
from runsearch.indexer.decode import Change
from runsearch.indexer.versions import lsn_after, stamp, supersedes

Record = dict[str, Any]



def record_id(change: Change) -> str:
    return f"{change.table}:{':'.join(change.key)}"


def merge(current: Record | None, change: Change) -> Record | None:
    """The record after `change`, or None when the change adds nothing to what `current` holds."""
    owners = _owners(current, change)
    live = current if current is not None and not current["deleted"] else None
    if not supersedes(change, current):
        # Stale, but it may complete a value the record carried from an older version, and a task still
        # teaches which run it belonged to: that run must see its tombstone.
        stale = None
        if live is not None and change.data is not None:
            stale = unavailable.repair(change.table, live, change.lsn, change.data, change.unavailable)
        if current is not None and change.table == "tasks" and owners != current["run_ids"]:
            stale = {**(stale or current), "run_ids": owners}
        return stale
    record: Record = {"table": change.table, "lsn": lsn_after(change, current), "deleted": change.kind != "upsert",
                      **stamp(change)}
    if change.data is not None:
        data, carried = unavailable.carry(change.table, change.data, change.unavailable, live, live["lsn"] if live else 0)
        record.update(data)
        if carried:
            record["carried"] = carried
    if change.table == "tasks":
        record["run_ids"] = owners
    return record


def is_current(change: Change, record: Record | None) -> bool:
    """Whether `record` is the state `change` leads to (true again when the change is delivered again)."""
    if record is None:
        return False
    if change.kind == "tombstone":
        return bool(record["deleted"])
    if change.lsn in record.get("carried", {}).values():
        return True  # it completed a carried value
    return bool(record["lsn"] == change.lsn and record["deleted"] == (change.kind == "delete"))


def _owners(current: Record | None, change: Change) -> list[str]:
    """Every run a task ever belonged to: a task delete names no run, so its runs come from here."""
    owners = set(current.get("run_ids", ()) if current else ())
    if change.table == "tasks" and change.data and change.data["run_id"]:
        owners.add(change.data["run_id"])
    return sorted(owners)
