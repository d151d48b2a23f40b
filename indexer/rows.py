"""The columns of each source table that runsearch uses, as Debezium's JSON converter encodes them.

Validation is strict (no coercion): a column of the wrong type breaks the contract and sends the
event to the dead-letter topic. Unknown extra columns are ignored, as the platform adds columns.
Timestamps are integer microseconds since the epoch (UTC); json columns are their raw JSON text.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from runsearch.contract import WorkflowRun
from runsearch.digest import sha256

EPOCH = datetime(1970, 1, 1)
# Ids become OpenSearch document ids (at most 512 bytes) and keyword terms; the platform's are ~30 bytes.
MAX_ID_BYTES = 255
# The API accepts error_code filters of at most 500 characters: a longer code can never be asked for,
# and indexing it as a keyword could exceed Lucene's 32,766-byte term limit.
MAX_ERROR_CODE_CHARS = 500
# Columns of the platform's `json` type: the connector sends their JSON text as a string.
RUN_JSON_COLUMNS = ("extra_http_headers", "cdp_connect_headers", "failure_category", "script_run")
JSON_COLUMNS = frozenset({*RUN_JSON_COLUMNS, "errors"})


def _bounded_id(value: str) -> str:
    if len(value.encode()) > MAX_ID_BYTES:
        raise ValueError(f"longer than {MAX_ID_BYTES} bytes")
    return value


Id = Annotated[str, AfterValidator(_bounded_id)]


class ContractError(ValueError):
    """A row whose columns decode but whose content breaks the contract."""


class Row(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    def data(self) -> dict[str, Any]:
        """What the index keeps of this row."""
        raise NotImplementedError


def _timestamp(micros: int | None) -> datetime | None:
    # Naive UTC, as the platform's `timestamp without time zone` columns and its responses are.
    return None if micros is None else EPOCH + timedelta(microseconds=micros)


def _json_column(row: Row, column: str) -> Any:
    text = getattr(row, column)
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ContractError(f"json column {column!r} does not hold JSON") from None


def describe(error: ValidationError) -> str:
    """A validation error without the offending values (they may be secrets)."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in error.errors())


class WorkflowRunRow(Row):
    workflow_run_id: Id
    workflow_id: Id
    workflow_permanent_id: Id
    organization_id: Id
    browser_session_id: str | None = None
    browser_profile_id: str | None = None
    debug_session_id: str | None = None
    status: str
    extra_http_headers: str | None = None
    cdp_connect_headers: str | None = None
    proxy_location: str | None = None
    webhook_callback_url: str | None = None
    webhook_failure_reason: str | None = None
    totp_verification_url: str | None = None
    totp_identifier: str | None = None
    failure_reason: str | None = None
    failure_category: str | None = None
    parent_workflow_run_id: Id | None = None
    max_screenshot_scrolling_times: int | None = None
    max_elapsed_time_minutes: int | None = None
    browser_address: str | None = None
    run_with: str | None = None
    script_run: str | None = None
    job_id: str | None = None
    depends_on_workflow_run_id: str | None = None
    sequential_key: str | None = None
    ai_fallback: bool | None = None
    code_gen: bool | None = None
    trigger_type: str | None = None
    workflow_schedule_id: str | None = None
    ignore_inherited_workflow_system_prompt: bool | None = None
    copilot_session_id: str | None = None
    credits_used: int | None = None
    cached_credits_used: int | None = None
    queued_at: int | None = None
    started_at: int | None = None
    finished_at: int | None = None
    created_at: int
    modified_at: int

    def data(self) -> dict[str, Any]:
        proxy = self.proxy_location
        if proxy is not None and proxy.lstrip().startswith("{"):
            proxy = _json_column(self, "proxy_location")
        fields = self.model_dump(exclude={"max_screenshot_scrolling_times"})
        fields.update(
            max_screenshot_scrolls=self.max_screenshot_scrolling_times,
            proxy_location=proxy,
            ignore_inherited_workflow_system_prompt=bool(self.ignore_inherited_workflow_system_prompt),
            credits_used=self.credits_used or 0,
            cached_credits_used=self.cached_credits_used or 0,
            **{c: _json_column(self, c) for c in RUN_JSON_COLUMNS},
            **{c: _timestamp(getattr(self, c)) for c in ("queued_at", "started_at", "finished_at", "created_at", "modified_at")},
        )
        try:
            response = WorkflowRun.model_validate(fields).model_dump(mode="json")
        except ValidationError as err:
            raise ContractError(f"run cannot be rendered as a WorkflowRun: {describe(err)}") from None
        return {"response": response, "headers_text": self.extra_http_headers, "created_at_us": self.created_at}


class WorkflowRow(Row):
    workflow_id: Id
    title: str | None = None

    def data(self) -> dict[str, Any]:
        return {"title": self.title}


class WorkflowParameterRow(Row):
    workflow_parameter_id: Id
    key: str
    description: str | None = None
    deleted_at: int | None = None

    def data(self) -> dict[str, Any]:
        return {"key": self.key, "description": self.description, "active": self.deleted_at is None}


class WorkflowRunParameterRow(Row):
    workflow_run_id: Id
    workflow_parameter_id: Id
    value: str | None = None

    def data(self) -> dict[str, Any]:
        return {"value": self.value}


class TaskRow(Row):
    task_id: Id
    workflow_run_id: Id | None = None
    errors: str | None = None

    def data(self) -> dict[str, Any]:
        errors = _json_column(self, "errors")
        if errors is not None and not isinstance(errors, list):
            raise ContractError("tasks.errors is not a JSON array")
        codes = {e["error_code"] for e in errors or () if isinstance(e, dict) and isinstance(e.get("error_code"), str)
                 and len(e["error_code"]) <= MAX_ERROR_CODE_CHARS}
        return {"run_id": self.workflow_run_id, "codes": sorted(codes)}


class AuthTokenRow(Row):
    id: Id
    organization_id: Id
    token_type: str
    token: str
    valid: bool
    deleted_at: int | None = None

    def data(self) -> dict[str, Any]:
        # Only a digest of the token is ever kept.
        return {"token_sha256": sha256(self.token), "organization_id": self.organization_id,
                "active": self.token_type == "api" and self.valid and self.deleted_at is None}


ROW_MODELS: dict[str, type[Row]] = {
    "workflow_runs": WorkflowRunRow,
    "workflows": WorkflowRow,
    "workflow_parameters": WorkflowParameterRow,
    "workflow_run_parameters": WorkflowRunParameterRow,
    "tasks": TaskRow,
    "organization_auth_tokens": AuthTokenRow,
}

PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "workflow_runs": ("workflow_run_id",),
    "workflows": ("workflow_id",),
    "workflow_parameters": ("workflow_parameter_id",),
    "workflow_run_parameters": ("workflow_run_id", "workflow_parameter_id"),
    "tasks": ("task_id",),
    "organization_auth_tokens": ("id",),
}
