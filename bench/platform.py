"""What users have today: the platform's tables, indexes and SQL for `GET /v1/agents/runs`. Pure.

The tables hold the columns runsearch consumes (the row models of `indexer.rows`) with the
platform's column types: `timestamp` for `*_at`, `json` for the JSON columns. The query is the
platform's: `ILIKE` with an escaped pattern over the run id, `EXISTS` over run parameters joined to
live definitions (key, description) and over run parameter values, `extra_http_headers::text ILIKE`,
`EXISTS` over tasks with JSONB containment for the error code, then `ORDER BY created_at DESC`
(ties by run id, as runsearch orders them) with `LIMIT`/`OFFSET`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, get_args, get_origin

import orjson

from runsearch.api.query import RunFilters
from runsearch.indexer.rows import EPOCH, JSON_COLUMNS
from runsearch.indexer.tables import TABLES

# The platform's secondary indexes that serve this endpoint.
INDEXES = [
    "CREATE INDEX ON workflow_runs (organization_id, created_at DESC, workflow_run_id DESC)",
    "CREATE INDEX ON workflow_runs (organization_id, status)",
    "CREATE INDEX ON tasks (workflow_run_id)",
    "CREATE INDEX ON organization_auth_tokens (organization_id, token_type)",
]


def _sql_type(column: str, annotation: Any) -> str:
    if column in JSON_COLUMNS:
        return "json"
    if column.endswith("_at"):
        return "timestamp"
    python = next(t for t in (*get_args(annotation), annotation) if t is not type(None))
    if get_origin(python) is Annotated:  # an id: a constrained str
        python = get_args(python)[0]
    return {str: "text", int: "bigint", bool: "boolean"}[python]


def columns(table: str) -> list[str]:
    return list(TABLES[table].row.model_fields)


def create_tables() -> list[str]:
    statements = []
    for table, described in TABLES.items():
        cols = [f"{c} {_sql_type(c, f.annotation)}" for c, f in described.row.model_fields.items()]
        statements.append(f"CREATE TABLE {table} ({', '.join(cols)}, PRIMARY KEY ({', '.join(described.key)}))")
    return statements


def copy_values(table: str, row: dict[str, Any]) -> tuple[Any, ...]:
    """A change's row (Debezium encoding) as the values of a COPY into the platform's table."""
    return tuple(EPOCH + timedelta(microseconds=row[c]) if c.endswith("_at") and row.get(c) is not None else row.get(c)
                 for c in columns(table))


def row_from_database(record: dict[str, Any]) -> dict[str, Any]:
    """A selected run row back in the encoding the row models read (micros, JSON text)."""
    return {c: int((v - EPOCH) / timedelta(microseconds=1)) if isinstance(v, datetime) else v for c, v in record.items()}


def _like_pattern(term: str) -> str:
    """A literal substring pattern for ILIKE (whose escape character is the backslash)."""
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _where(organization_id: str, filters: RunFilters) -> tuple[list[str], dict[str, Any]]:
    """The platform's conditions for the runs an organization lists with these filters."""
    where = ["r.organization_id = %(org)s", "r.parent_workflow_run_id IS NULL", "r.copilot_session_id IS NULL"]
    params: dict[str, Any] = {"org": organization_id}
    if filters.statuses:
        where.append("r.status = ANY(%(statuses)s)")
        params["statuses"] = list(filters.statuses)
    if filters.search_key:
        params["pattern"] = _like_pattern(filters.search_key)
        where.append("""(r.workflow_run_id ILIKE %(pattern)s
            OR EXISTS (SELECT 1 FROM workflow_run_parameters rp
                       JOIN workflow_parameters p ON p.workflow_parameter_id = rp.workflow_parameter_id
                       WHERE rp.workflow_run_id = r.workflow_run_id AND p.deleted_at IS NULL
                         AND (p.key ILIKE %(pattern)s OR p.description ILIKE %(pattern)s))
            OR EXISTS (SELECT 1 FROM workflow_run_parameters rp
                       WHERE rp.workflow_run_id = r.workflow_run_id AND rp.value ILIKE %(pattern)s)
            OR r.extra_http_headers::text ILIKE %(pattern)s)""")
    if filters.error_code:
        params["codes"] = orjson.dumps([{"error_code": filters.error_code}]).decode()
        where.append("EXISTS (SELECT 1 FROM tasks t WHERE t.workflow_run_id = r.workflow_run_id "
                     "AND t.errors::jsonb @> %(codes)s::jsonb)")
    return where, params


def list_runs(organization_id: str, filters: RunFilters, page: int, page_size: int) -> tuple[str, dict[str, Any]]:
    """The platform's SQL for one page of runs, and its parameters."""
    selected = ", ".join(f"r.{c}::text AS {c}" if c in JSON_COLUMNS else f"r.{c}" for c in columns("workflow_runs"))
    where, params = _where(organization_id, filters)
    params.update(limit=page_size, offset=(page - 1) * page_size)
    sql = (f"SELECT {selected}, w.title AS workflow_title FROM workflow_runs r "
           f"LEFT JOIN workflows w ON w.workflow_id = r.workflow_id WHERE {' AND '.join(where)} "
           "ORDER BY r.created_at DESC, r.workflow_run_id DESC LIMIT %(limit)s OFFSET %(offset)s")
    return sql, params


def count_by_status(organization_id: str, filters: RunFilters) -> tuple[str, dict[str, Any]]:
    """The platform's count of the same runs by status (what it has, internally, for counts)."""
    where, params = _where(organization_id, filters)
    return f"SELECT r.status, count(*) AS runs FROM workflow_runs r WHERE {' AND '.join(where)} GROUP BY r.status", params


AUTHENTICATE = ("SELECT 1 FROM organization_auth_tokens WHERE organization_id = %(org)s AND token = %(token)s "
                "AND token_type = 'api' AND valid AND deleted_at IS NULL LIMIT 1")
