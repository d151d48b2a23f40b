"""The columns of each source table that runsearch uses, as Debezium's JSON converter encodes them.

Validation is strict (no coercion): a column of the wrong type breaks the contract and sends the
event to the dead-letter topic. Unknown extra columns are ignored, as the platform adds columns;
missing optional ones are null. Timestamps are integer microseconds since the epoch (UTC); json
columns are their raw JSON text; integers are PostgreSQL's (at most 64 bits).

A text or json column may hold Debezium's unavailable-value placeholder instead of a value (an
unchanged TOASTed value under `REPLICA IDENTITY DEFAULT`). `FEEDS` says which kept fields each such
column determines, for `unavailable` to keep what the index holds.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar, get_args, get_origin

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from runsearch.contract import StoredWorkflowRun
from runsearch.digest import sha256
from runsearch.errors import DataError

EPOCH = datetime(1970, 1, 1)
MICROSECOND = timedelta(microseconds=1)
# Python's datetime spans years 1-9999; PostgreSQL's timestamps reach year 294276 and have `infinity` and
# `-infinity` (Debezium: 9223372036825200000 and -9223372036832400000).
MAX_MICROS = (datetime.max - EPOCH) // MICROSECOND
MIN_MICROS = (datetime.min - EPOCH) // MICROSECOND
# Ids and statuses become OpenSearch document ids (at most 512 bytes) and keyword terms; the platform's are ~30 bytes.
MAX_KEYWORD_BYTES = 255
# The API accepts error_code filters of at most 500 characters: a longer code can never be asked for,
# and indexing it as a keyword could exceed Lucene's 32,766-byte term limit.
MAX_ERROR_CODE_CHARS = 500
# Columns of the platform's `json` type: the connector sends their JSON text as a string.
RUN_JSON_COLUMNS = ("extra_http_headers", "cdp_connect_headers", "failure_category", "script_run")
JSON_COLUMNS = frozenset({*RUN_JSON_COLUMNS, "errors"})
RUN_TIMESTAMPS = ("queued_at", "started_at", "finished_at", "created_at", "modified_at")


def too_long(value: str) -> bool:
    """Longer than a keyword term may be. A UTF-8 character takes at most 4 bytes: most values are too short to need
    encoding."""
    return len(value) * 4 > MAX_KEYWORD_BYTES and len(value.encode()) > MAX_KEYWORD_BYTES


def _bounded_keyword(value: str) -> str:
    if too_long(value):
        raise ValueError(f"longer than {MAX_KEYWORD_BYTES} bytes")
    return value


Keyword = Annotated[str, AfterValidator(_bounded_keyword)]  # ids and statuses: indexed as keyword terms
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]  # PostgreSQL's integer types; OpenSearch's `long`
Path = tuple[str, ...]  # where a kept field sits in a row's data


class ContractError(DataError):
    """A row whose columns decode but whose content breaks the contract."""


class Row(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    # Which kept fields (paths into `data()`) each text or json column determines.
    FEEDS: ClassVar[dict[str, tuple[Path, ...]]] = {}

    def data(self) -> dict[str, Any]:
        """What the index keeps of this row."""
        raise NotImplementedError


def timestamp(micros: int | None) -> datetime | None:
    """Naive UTC, as the platform's `timestamp without time zone` columns and its responses are. Instants past
    Python's years 1-9999 (`infinity`, `-infinity`, year 10000 and later) are the nearest one it has, as psycopg2
    and asyncpg load them; the platform's psycopg 3 cannot load them at all (its page fails)."""
    return None if micros is None else EPOCH + min(max(micros, MIN_MICROS), MAX_MICROS) * MICROSECOND


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
    workflow_run_id: Keyword
    workflow_id: Keyword
    workflow_permanent_id: Keyword
    organization_id: Keyword
    browser_session_id: str | None = None
    browser_profile_id: str | None = None
    debug_session_id: str | None = None
    status: Keyword  # any value: one the contract does not know yet is served as stored
    extra_http_headers: str | None = None
    cdp_connect_headers: str | None = None
    proxy_location: str | None = None
    webhook_callback_url: str | None = None
    webhook_failure_reason: str | None = None
    totp_verification_url: str | None = None
    totp_identifier: str | None = None
    failure_reason: str | None = None
    failure_category: str | None = None
    parent_workflow_run_id: Keyword | None = None
    max_screenshot_scrolling_times: Int64 | None = None
    max_elapsed_time_minutes: Int64 | None = None
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
    credits_used: Int64 | None = None
    cached_credits_used: Int64 | None = None
    queued_at: Int64 | None = None
    started_at: Int64 | None = None
    finished_at: Int64 | None = None
    created_at: Int64
    modified_at: Int64

    def data(self) -> dict[str, Any]:
        proxy = self.proxy_location
        if proxy is not None and proxy.lstrip().startswith("{"):
            proxy = _json_column(self, "proxy_location")
        # The columns as validated (`__dict__`: model_dump's copy costs a tenth of a run's decoding), under the
        # response's names and types; the rest of the row is ignored by the response model.
        fields = {
            **self.__dict__,
            "max_screenshot_scrolls": self.max_screenshot_scrolling_times,
            "proxy_location": proxy,
            "ignore_inherited_workflow_system_prompt": bool(self.ignore_inherited_workflow_system_prompt),
            "credits_used": self.credits_used or 0,
            "cached_credits_used": self.cached_credits_used or 0,
            **{c: _json_column(self, c) for c in RUN_JSON_COLUMNS},
            **{c: timestamp(getattr(self, c)) for c in RUN_TIMESTAMPS},
        }
        try:
            response = StoredWorkflowRun.model_validate(fields).model_dump(mode="json")
        except ValidationError as err:
            raise ContractError(f"run cannot be rendered as a WorkflowRun: {describe(err)}") from None
        return {"response": response, "headers_text": self.extra_http_headers, "created_at_us": self.created_at}


def _text_columns(model: type[Row]) -> list[str]:
    """The columns of `model` that hold text (str, possibly constrained or nullable)."""
    def base(annotation: Any) -> Any:
        return get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation
    return [c for c, f in model.model_fields.items() if str in {base(a) for a in (f.annotation, *get_args(f.annotation))}]


# Every text or json column of a run is the response field of its name; the header text is also searched raw.
WorkflowRunRow.FEEDS = {
    column: (("response", column),) + ((("headers_text",),) if column == "extra_http_headers" else ())
    for column in _text_columns(WorkflowRunRow) if column != "workflow_run_id"
}


class WorkflowRow(Row):
    workflow_id: Keyword
    title: str | None = None

    FEEDS = {"title": (("title",),)}

    def data(self) -> dict[str, Any]:
        return {"title": self.title}


class WorkflowParameterRow(Row):
    workflow_parameter_id: Keyword
    key: str
    description: str | None = None
    deleted_at: Int64 | None = None

    FEEDS = {"key": (("key",),), "description": (("description",),)}

    def data(self) -> dict[str, Any]:
        return {"key": self.key, "description": self.description, "active": self.deleted_at is None}


class WorkflowRunParameterRow(Row):
    workflow_run_id: Keyword
    workflow_parameter_id: Keyword
    value: str | None = None

    FEEDS = {"value": (("value",),)}

    def data(self) -> dict[str, Any]:
        return {"value": self.value}


class TaskRow(Row):
    task_id: Keyword
    workflow_run_id: Keyword | None = None
    errors: str | None = None

    FEEDS = {"workflow_run_id": (("run_id",),), "errors": (("codes",),)}

    def data(self) -> dict[str, Any]:
        errors = _json_column(self, "errors")
        if errors is not None and not isinstance(errors, list):
            raise ContractError("tasks.errors is not a JSON array")
        codes = {e["error_code"] for e in errors or () if isinstance(e, dict) and isinstance(e.get("error_code"), str)
                 and len(e["error_code"]) <= MAX_ERROR_CODE_CHARS}
        return {"run_id": self.workflow_run_id, "codes": sorted(codes)}


class AuthTokenRow(Row):
    id: Keyword
    organization_id: Keyword
    token_type: str
    token: str
    valid: bool
    deleted_at: Int64 | None = None

    FEEDS = {"organization_id": (("organization_id",),), "token_type": (("active",),), "token": (("token_sha256",),)}

    def data(self) -> dict[str, Any]:
        # Only a digest of the token is ever kept.
        return {"token_sha256": sha256(self.token), "organization_id": self.organization_id,
                "active": self.token_type == "api" and self.valid and self.deleted_at is None}
