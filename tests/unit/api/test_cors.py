"""Browsers on the origins of RUNSEARCH_CORS_ORIGINS may call the listing with the key header; others, and every
origin by default, get no CORS grant. (A preflight is answered before any search, so no OpenSearch is needed.)"""

from __future__ import annotations

from fastapi.testclient import TestClient

from runsearch.api.app import create_app
from runsearch.settings import Settings

DASHBOARD = "https://dash.example"


def _preflight(settings: Settings, origin: str) -> dict[str, str]:
    with TestClient(create_app(settings)) as client:
        response = client.options("/v1/agents/runs", headers={
            "Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-api-key"})
        return dict(response.headers)


def test_listed_origins_may_call_with_the_key_header() -> None:
    settings = Settings(opensearch_url="http://127.0.0.1:9", cors_origins=[DASHBOARD])  # type: ignore[call-arg]
    granted = _preflight(settings, DASHBOARD)
    assert granted["access-control-allow-origin"] == DASHBOARD
    assert "x-api-key" in granted["access-control-allow-headers"] and granted["access-control-allow-methods"] == "GET"
    assert "access-control-allow-origin" not in _preflight(settings, "https://elsewhere.example")


def test_no_origin_is_granted_by_default() -> None:
    assert "access-control-allow-origin" not in _preflight(Settings(opensearch_url="http://127.0.0.1:9"), DASHBOARD)  # type: ignore[call-arg]
