"""The source tables runsearch consumes: one description each, read by every module that treats tables apart.

How a table's rows reach the index (`runs`):
- "own": a run's own rows (the run row, its parameter values), merged into its run document;
- "record": kept as a record in the lookup index, whose state each run it names embeds (tasks: a task delete
  names no run, so the record remembers which runs it belonged to);
- "fan-out": kept as a record many runs embed (workflow titles, parameter definitions); a change is re-embedded
  into every run holding its id in `fan_out_field`;
- None: not part of run documents (API keys: their records are what the API checks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from runsearch.indexer.rows import (
    AuthTokenRow,
    Row,
    TaskRow,
    WorkflowParameterRow,
    WorkflowRow,
    WorkflowRunParameterRow,
    WorkflowRunRow,
)
from runsearch.settings import Settings


@dataclass(frozen=True)
class Table:
    name: str
    row: type[Row]  # its columns, as Debezium's JSON converter encodes them
    key: tuple[str, ...]  # primary-key columns: the message key
    runs: Literal["own", "record", "fan-out"] | None
    records: Literal["lookup", "keys"] | None = None  # the index its records are kept in
    fan_out_field: str | None = None  # the run-document field holding its rows' ids ("fan-out")
    secret: bool = False  # rows hold secrets: dead letters withhold them, logs never show them

    @property
    def per_run(self) -> bool:
        """Rows that belong to one run each (its own rows, tasks), unlike the rows many runs share and API keys: a
        replay reads them in step, after the shared ones, and a verification splits them between its readers."""
        return self.runs in ("own", "record")


TABLES: dict[str, Table] = {t.name: t for t in (
    Table("workflow_runs", WorkflowRunRow, ("workflow_run_id",), "own"),
    Table("workflows", WorkflowRow, ("workflow_id",), "fan-out", "lookup", "workflow_id"),
    Table("workflow_parameters", WorkflowParameterRow, ("workflow_parameter_id",), "fan-out", "lookup", "param_ids"),
    Table("workflow_run_parameters", WorkflowRunParameterRow, ("workflow_run_id", "workflow_parameter_id"), "own"),
    Table("tasks", TaskRow, ("task_id",), "record", "lookup"),
    Table("organization_auth_tokens", AuthTokenRow, ("id",), None, "keys", secret=True),
)}


def topics(settings: Settings) -> dict[str, str]:
    """Topic name -> table, for every table the indexer consumes."""
    return {settings.topic(table): table for table in TABLES}
