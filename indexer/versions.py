"""Which of two versions of a row wins. Pure.

A version is `(lsn, deleted)`: the source's commit order, and a delete beating a live state of the same lsn.
What a record held is compared with a third member, how far its carried values were repaired (`unavailable.repair`),
so that a record completed by an older event still reaches the documents that embed it.
A tombstone carries no lsn: it deletes the row at the newest version known for it, so a later re-create (a
higher lsn, later in the partition) still wins, and the create it deletes, delivered again, does not.

A tombstone delivered again after its row was re-created (a consumer restarting replays `[tombstone,
re-create]` over a document that holds the re-create) must not delete the new row: a slot remembers the
Kafka position (`at`: partition, offset) of the event it came from, and a tombstone only deletes what an
event before it in the partition produced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runsearch.indexer.decode import Change

Slot = Mapping[str, Any]  # what a record or a document holds of one row: at least `lsn` and `deleted`


def held(slot: Slot) -> tuple[int, bool, int]:
    return slot["lsn"], bool(slot.get("deleted")), sum(src + 1 for src in slot.get("carried", {}).values())


def supersedes(change: Change, slot: Slot | None) -> bool:
    """Whether applying `change` replaces what `slot` (None: nothing yet) holds."""
    if change.kind == "tombstone":
        return slot is not None and not slot.get("deleted") and _before(slot.get("at"), change.position)
    return slot is None or (change.lsn, change.kind == "delete") > held(slot)[:2]


def _before(at: list[int] | None, position: tuple[int, int] | None) -> bool:
    """Whether the event at `at` came before `position` in its partition (when either is unknown, or they are in
    different partitions since the topic was repartitioned, it is taken to have)."""
    if at is None or position is None or at[0] != position[0]:
        return True
    return at[1] < position[1]


def lsn_after(change: Change, slot: Slot | None) -> int:
    """The lsn a slot holds once `change` applies (a tombstone keeps the slot's own)."""
    if change.kind == "tombstone":
        return slot["lsn"] if slot is not None else 0
    return change.lsn


def stamp(change: Change) -> dict[str, Any]:
    """What a slot keeps of where `change` came from."""
    return {"at": list(change.position)} if change.position is not None else {}
