"""Values an update left out (Debezium's unavailable-value placeholder: an unchanged TOASTed value). Pure.

A newer event's missing value is taken from what the index holds (`carry`), and the slot remembers which
version it came from; an older event arriving later completes a value taken from a version older than it
(`repair`): a placeholder's value is the one of the newest earlier version that sent it. So placeholders stay
right when a row's events are applied out of order (a rebuild beside the live indexer, a partition moving
between group members).
"""

from __future__ import annotations

import copy
from typing import Any

from runsearch.indexer.rows import Path
from runsearch.indexer.tables import TABLES

Carried = dict[str, int]  # column -> lsn of the version its value was taken from (-1: none known yet)


def stand_in(table: str, column: str) -> str | None:
    """What an unavailable column reads as while its row is rendered: null, or an empty string where the column
    is required. Every field it feeds is then replaced by the value held before (`carry`)."""
    return "" if TABLES[table].row.model_fields[column].is_required() else None


def carry(table: str, data: dict[str, Any], unavailable: frozenset[str], previous: dict[str, Any] | None,
          previous_lsn: int) -> tuple[dict[str, Any], Carried]:
    """A newer event's `data`, with every field fed by an unavailable column taken from `previous` (the same
    table's data as the index holds it at `previous_lsn`, with its own `carried`; None: nothing held), and where
    each taken value came from. Pure; `data` is not modified."""
    if not unavailable:
        return data, {}
    out = copy.deepcopy(data)
    carried: Carried = {}
    for column in sorted(unavailable):
        if previous is None:
            carried[column] = -1
            continue
        carried[column] = previous.get("carried", {}).get(column, previous_lsn)
        for path in TABLES[table].row.FEEDS[column]:
            _put(out, path, _get(previous, path))
    return out, carried


def repair(table: str, held: dict[str, Any], lsn: int, data: dict[str, Any], unavailable: frozenset[str]
           ) -> dict[str, Any] | None:
    """`held` (data with its `carried`) with the values of an older upsert (`lsn`, `data`) for every column whose
    value `held` took from a version older than it, or None when it has none to give. An update applied before
    the versions preceding it (two writers, or a partition moving between indexers) is thereby completed by them
    when they arrive: the value a placeholder stands for is the one of the newest earlier version that sent it."""
    better = [c for c, src in held.get("carried", {}).items() if src < lsn and c not in unavailable]
    if not better:
        return None
    out = copy.deepcopy(held)
    for column in better:
        for path in TABLES[table].row.FEEDS[column]:
            _put(out, path, _get(data, path))
        out["carried"][column] = lsn
    return out


def unknown(carried: Carried) -> list[str]:
    """The columns whose value no event has given yet."""
    return sorted(c for c, src in carried.items() if src < 0) if carried else []  # mostly empty: skip the sort


def _get(data: dict[str, Any], path: Path) -> Any:
    for key in path[:-1]:
        data = data[key]
    return data.get(path[-1])


def _put(data: dict[str, Any], path: Path, value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value
