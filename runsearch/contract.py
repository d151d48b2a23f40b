"""The platform's public response contract: `WorkflowRun` and its enums, as its OpenAPI documents them.

The indexer renders each run into this shape once, at index time (`StoredWorkflowRun`); the API returns
the stored objects as they are and uses `WorkflowRun` for its OpenAPI document.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field


class WorkflowRunStatus(str, Enum):
    created = "created"
    queued = "queued"
    running = "running"
    failed = "failed"
    terminated = "terminated"
    canceled = "canceled"
    timed_out = "timed_out"
    completed = "completed"
    paused = "paused"


class WorkflowRunTriggerType(str, Enum):
    """How a workflow run was initiated.

    - manual: User clicked "Run" in the UI
    - api: Direct API call to the run endpoint
    - scheduled: Triggered by a cron schedule
    - webhook: Triggered by an external system via the webhook endpoint"""

    manual = "manual"
    api = "api"
    scheduled = "scheduled"
    webhook = "webhook"


ProxyLocation = Enum(  # type: ignore[misc]  # names such as "US-CA" are not identifiers, hence the functional form
    "ProxyLocation",
    {name: name for name in (
        "RESIDENTIAL", "US-CA", "US-NY", "US-TX", "US-FL", "US-WA", "RESIDENTIAL_ES", "RESIDENTIAL_IE",
        "RESIDENTIAL_GB", "RESIDENTIAL_IN", "RESIDENTIAL_JP", "RESIDENTIAL_FR", "RESIDENTIAL_DE", "RESIDENTIAL_NZ",
        "RESIDENTIAL_ZA", "RESIDENTIAL_AR", "RESIDENTIAL_AU", "RESIDENTIAL_BR", "RESIDENTIAL_TR", "RESIDENTIAL_CA",
        "RESIDENTIAL_MX", "RESIDENTIAL_IT", "RESIDENTIAL_NL", "RESIDENTIAL_PH", "RESIDENTIAL_KR", "RESIDENTIAL_SA",
        "RESIDENTIAL_ISP", "NONE",
    )},
    type=str,
)


class GeoTarget(BaseModel):
    """Granular proxy geo-targeting request with country, optional subdivision, and optional city."""

    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2 country code (e.g., 'US', 'GB', 'DE')",
                         examples=["US", "GB", "DE", "FR"])
    subdivision: str | None = Field(None, max_length=10, examples=["CA", "NY", "TX", "ENG"],
                                    description="ISO 3166-2 subdivision code without country prefix (e.g., 'CA' for "
                                                "California, 'NY' for New York)")
    city: str | None = Field(None, max_length=100, examples=["New York", "Los Angeles", "London", "Berlin"],
                             description="City name in English from GeoNames (e.g., 'New York', 'Los Angeles', 'London')")


class ScriptRunResponse(BaseModel):
    ai_fallback_triggered: bool = False
    script_id: str | None = None
    script_revision_id: str | None = None


class WorkflowRun(BaseModel):
    workflow_run_id: str
    workflow_id: str
    workflow_permanent_id: str
    organization_id: str
    browser_session_id: str | None = None
    browser_profile_id: str | None = None
    debug_session_id: str | None = None
    status: WorkflowRunStatus
    extra_http_headers: dict[str, str] | None = None
    cdp_connect_headers: dict[str, str] | None = None
    proxy_location: ProxyLocation | GeoTarget | dict[str, Any] | None = None
    webhook_callback_url: str | None = None
    webhook_failure_reason: str | None = None
    totp_verification_url: str | None = None
    totp_identifier: str | None = None
    failure_reason: str | None = None
    failure_category: list[dict[str, Any]] | None = None
    parent_workflow_run_id: str | None = None
    workflow_title: str | None = None
    max_screenshot_scrolls: int | None = None
    max_elapsed_time_minutes: int | None = None
    browser_address: str | None = None
    run_with: str | None = None
    script_run: ScriptRunResponse | None = None
    job_id: str | None = None
    depends_on_workflow_run_id: str | None = None
    sequential_key: str | None = None
    ai_fallback: bool | None = None
    code_gen: bool | None = None
    trigger_type: WorkflowRunTriggerType | None = None
    workflow_schedule_id: str | None = None
    ignore_inherited_workflow_system_prompt: bool = False
    copilot_session_id: str | None = None
    credits_used: int = 0
    cached_credits_used: int = 0
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    created_at: datetime
    modified_at: datetime


class StoredWorkflowRun(WorkflowRun):
    """A run as runsearch stores and serves it. A `status`, `trigger_type` or `proxy_location` name the platform
    added after this contract was written is kept as the string stored, so a platform upgrade never drops a run
    and needs no reindex; known values render exactly as `WorkflowRun` renders them."""

    status: str  # type: ignore[assignment]
    trigger_type: str | None = None  # type: ignore[assignment]
    proxy_location: GeoTarget | dict[str, Any] | str | None = None  # type: ignore[assignment]
