"""The latest row of every key of a change stream, kept compactly: what the source database holds."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from runsearch.bench.platform import columns
from runsearch.demo.dataset import RowChange, primary_key
from runsearch.indexer.tables import TABLES


class Snapshot:
    """Rows are kept as tuples of the columns runsearch reads (in the Debezium encoding), so that the
    final state of a million runs fits in a few gigabytes."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[tuple[str, ...], tuple[Any, ...]]] = {table: {} for table in TABLES}
        self.last_lsn = 0

    def add(self, change: RowChange) -> None:
        key = primary_key(change.table, change.row)
        if change.op == "d":
            self.rows[change.table].pop(key, None)
        else:
            self.rows[change.table][key] = tuple(change.row.get(c) for c in columns(change.table))
        self.last_lsn = max(self.last_lsn, change.lsn)

    def tee(self, changes: Iterable[RowChange]) -> Iterator[RowChange]:
        """Pass the changes on, remembering each."""
        for change in changes:
            self.add(change)
            yield change

    def row(self, table: str, key: tuple[str, ...]) -> dict[str, Any]:
        return dict(zip(columns(table), self.rows[table][key], strict=True))

    def table(self, table: str) -> Iterator[dict[str, Any]]:
        names = columns(table)
        for values in self.rows[table].values():
            yield dict(zip(names, values, strict=True))

    def listed_runs(self, organization: str) -> list[dict[str, Any]]:
        """The organization's runs the endpoint lists (no child runs, no copilot runs)."""
        return [r for r in self.table("workflow_runs") if r["organization_id"] == organization
                and r["parent_workflow_run_id"] is None and r["copilot_session_id"] is None]
