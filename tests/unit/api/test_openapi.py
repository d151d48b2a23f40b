"""The served /openapi.json describes the operation as the platform documents it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from runsearch.api.app import create_app
from runsearch.settings import Settings

PARAMETERS = {  # name -> (in, schema without descriptions), as the platform's OpenAPI has them
    "page": ("query", {"type": "integer", "minimum": 1, "default": 1, "title": "Page"}),
    "page_size": ("query", {"type": "integer", "minimum": 1, "default": 10, "title": "Page Size"}),
    "status": ("query", {"anyOf": [{"type": "array", "items": {"$ref": "#/components/schemas/WorkflowRunStatus"}},
                                   {"type": "null"}], "title": "Status"}),
    "search_key": ("query", {"anyOf": [{"type": "string", "maxLength": 500}, {"type": "null"}], "title": "Search Key",
                             "examples": ["login_url", "credential_value", "wr_abc123"]}),
    "error_code": ("query", {"anyOf": [{"type": "string", "maxLength": 500}, {"type": "null"}], "title": "Error Code",
                             "examples": ["INVALID_CREDENTIALS", "LOGIN_FAILED", "CAPTCHA_DETECTED"]}),
    "x-api-key": ("header", {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "X-Api-Key"}),
}
REQUIRED = ["workflow_run_id", "workflow_id", "workflow_permanent_id", "organization_id", "status", "created_at", "modified_at"]


def spec() -> dict:
    with TestClient(create_app(Settings(opensearch_url="http://127.0.0.1:9"))) as client:
        return client.get("/openapi.json").json()


def test_operation_matches_the_platform() -> None:
    doc = spec()
    operation = doc["paths"]["/v1/agents/runs"]["get"]
    assert operation["operationId"] == "get_workflow_runs_v1_workflows_runs_get"
    assert operation["summary"] == "Get all runs" and operation["tags"] == ["Runs"]
    assert operation["x-fern-sdk-method-name"] == "get_workflow_runs"  # the name the platform's generated SDKs use
    got = {p["name"]: (p["in"], {k: v for k, v in p["schema"].items() if k != "description"}) for p in operation["parameters"]}
    assert got == PARAMETERS
    assert all(not p["required"] for p in operation["parameters"])
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"type": "array", "items": {"$ref": "#/components/schemas/WorkflowRun"},
                  "title": "Response Get Workflow Runs V1 Workflows Runs Get"}
    assert operation["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HTTPValidationError"}
    assert "/v1/workflows/runs" not in doc["paths"]  # the older path answers but is not documented twice


def test_schemas_match_the_platform() -> None:
    schemas = spec()["components"]["schemas"]
    run = schemas["WorkflowRun"]
    assert run["required"] == REQUIRED and len(run["properties"]) == 40
    assert run["properties"]["proxy_location"]["anyOf"] == [
        {"$ref": "#/components/schemas/ProxyLocation"}, {"$ref": "#/components/schemas/GeoTarget"},
        {"additionalProperties": True, "type": "object"}, {"type": "null"}]
    assert run["properties"]["credits_used"] == {"type": "integer", "title": "Credits Used", "default": 0}
    assert run["properties"]["created_at"] == {"type": "string", "format": "date-time", "title": "Created At"}
    assert schemas["WorkflowRunStatus"]["enum"] == ["created", "queued", "running", "failed", "terminated", "canceled",
                                                    "timed_out", "completed", "paused"]
    assert schemas["WorkflowRunTriggerType"]["enum"] == ["manual", "api", "scheduled", "webhook"]
    assert len(schemas["ProxyLocation"]["enum"]) == 28 and schemas["ProxyLocation"]["enum"][-1] == "NONE"
    assert schemas["GeoTarget"]["required"] == ["country"]
    assert schemas["GeoTarget"]["properties"]["country"]["maxLength"] == 2
    assert set(schemas["ScriptRunResponse"]["properties"]) == {"ai_fallback_triggered", "script_id", "script_revision_id"}
    assert schemas["HTTPValidationError"]["properties"]["detail"]["items"] == {"$ref": "#/components/schemas/ValidationError"}
