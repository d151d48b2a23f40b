"""The HTTP API: `GET /v1/agents/runs` (at every path the platform serves it: `PATHS`), health and metrics."""

# No `from __future__ import annotations` here: FastAPI must resolve the annotations of the nested handlers.
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import TransportError
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runsearch import clients, mappings
from runsearch.api import docs, search_retry
from runsearch.api.answers import GZIP_LEVEL, Answer, Answers
from runsearch.api.auth import Authenticator, InvalidCredentials
from runsearch.api.limits import RequestLimits
from runsearch.api.query import (
    PAGE_PARAMS,
    SEARCH_PARAMS,
    WHOLE,
    BadCursor,
    OtherSchema,
    PageTooDeep,
    after,
    encode_cursor,
    run_responses,
    translate,
)
from runsearch.api.stats import BadTimeline, RunStats, Timeline, read, stats_body
from runsearch.contract import WorkflowRun
from runsearch.errors import RunsearchError
from runsearch.mappings import Names
from runsearch.settings import DEVELOPMENT_JWT_SECRET, Settings, get_settings

log = logging.getLogger("runsearch.api")

LATENCY = Histogram("runsearch_api_request_seconds", "API request latency by route and status", ["route", "status"],
                    buckets=(0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))


class Unavailable(RunsearchError):
    """OpenSearch cannot answer now: a 503."""


class AccessLog:
    """Latency metric and one log line per request. A plain ASGI middleware: Starlette's
    `BaseHTTPMiddleware` costs about a millisecond per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            path = route.path if route is not None else "unmatched"
            LATENCY.labels(path, str(status)).observe(elapsed)
            # Path template only: query strings and headers may hold keys or searched values.
            log.info("request", extra={"fields": {"method": scope["method"], "route": path, "status": status,
                                                  "ms": round(elapsed * 1000, 2)}})


class DevelopmentSecret(RunsearchError):
    """The API would accept keys signed with the secret everyone can read in the source."""


LOOPBACK = ("127.0.0.1", "localhost", "::1")
# The platform answers the listing at its older path too, under its legacy `/api` prefix as well, and with a trailing
# slash: each is answered here as is (a redirect would lose the key header with some clients).
PATHS = [f"{prefix}/v1/{path}{slash}" for prefix in ("", "/api") for path in ("agents/runs", "workflows/runs")
         for slash in ("", "/")]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if settings.jwt_secret.get_secret_value() == DEVELOPMENT_JWT_SECRET and settings.bind_host not in LOOPBACK:
        raise DevelopmentSecret(f"the API binds to {settings.bind_host} with the development JWT secret: set "
                                "RUNSEARCH_JWT_SECRET to the platform's (it signs the API keys)")
    names = Names(settings.index_prefix)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        os = clients.async_opensearch(settings, settings.search_timeout_seconds)
        app.state.os = os
        app.state.answers = Answers(settings.answer_cache_seconds, settings.answer_cache_bytes)
        app.state.auth = Authenticator(os, names.read_alias("keys"), settings.jwt_secret.get_secret_value(),
                                       settings.auth_cache_seconds)
        yield
        await os.close()

    app = FastAPI(title="runsearch", version="1.0.0", lifespan=lifespan,
                  description="Fast search of the platform's workflow runs, answering GET /v1/agents/runs.")

    async def organization(request: Request, x_api_key: docs.ApiKey = None) -> str:
        authenticator: Authenticator = request.app.state.auth
        try:
            return await authenticator.organization(x_api_key)
        except (OpenSearchConnectionError, TransportError) as err:
            raise Unavailable("key lookup") from err

    async def search(request: Request, body: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        """A search of the served runs generation; OpenSearch unreachable or failing (twice) is a 503."""
        try:
            return await search_retry.search(request.app.state.os, names.read_alias("runs"), body, params)
        except (OpenSearchConnectionError, TransportError) as err:
            raise Unavailable("search") from err

    async def get_workflow_runs(
        request: Request,
        asked: Annotated[docs.Listing, Depends(docs.listing)],
        organization_id: Annotated[str, Depends(organization)],
    ) -> Response:
        body = translate(organization_id, asked.filters, asked.page, asked.page_size, settings.max_result_window)
        answers: Answers = request.app.state.answers
        gzip_accepted = "gzip" in request.headers.get("accept-encoding", "")  # as the gzip middleware decides
        key = answers.key(body, gzip_accepted)
        if (cached := answers.get(key)) is not None:
            return cached.response()
        found = await search(request, body, SEARCH_PARAMS)
        # Each run is stored as the JSON text of the response object: joined as is, never re-encoded.
        answer = Answer.of(b"[" + b",".join(run_responses(found)) + b"]", gzip_accepted, settings.gzip_minimum_bytes)
        answers.put(key, answer)
        return answer.response()

    @app.get("/v1/agents/runs/stats", response_model=RunStats, tags=["Runs"], summary="Counts of the runs of a listing",
             description=docs.STATS_DESCRIPTION, operation_id="get_workflow_run_stats")
    async def get_workflow_run_stats(
        request: Request,
        asked: Annotated[docs.StatsRequest, Depends(docs.stats_request)],
        organization_id: Annotated[str, Depends(organization)],
    ) -> RunStats:
        if (asked.start is None) != (asked.end is None):
            raise BadTimeline("give both `from` and `to` for a timeline, or neither")
        timeline = None if asked.start is None or asked.end is None else \
            Timeline.of(asked.start, asked.end, asked.interval, asked.time_zone)
        found = await search(request, stats_body(organization_id, asked.filters, asked.error_codes, timeline),
                             WHOLE)
        return read(found, timeline)

    @app.get("/v1/agents/runs/pages", response_model=docs.RunPage, tags=["Runs"], summary="Walk every run of a listing",
             description=docs.PAGES_DESCRIPTION, operation_id="get_workflow_run_pages")
    async def get_workflow_run_pages(
        request: Request,
        asked: Annotated[docs.PagesRequest, Depends(docs.pages_request)],
        organization_id: Annotated[str, Depends(organization)],
    ) -> Response:
        found = await search(request, after(organization_id, asked.filters, asked.cursor, asked.page_size),
                             PAGE_PARAMS)
        hits = found.get("hits", {}).get("hits", ())
        following = encode_cursor(hits[-1]["sort"]) if len(hits) == asked.page_size else None
        runs = b",".join(run_responses(found))  # the responses' JSON text, joined as is
        return Response(b'{"runs":[' + runs + b'],"next_cursor":' + orjson.dumps(following) + b"}",
                        media_type="application/json")

    @app.exception_handler(BadCursor)
    async def bad_cursor(_: Request, err: BadCursor) -> JSONResponse:
        return JSONResponse({"detail": [{"type": "value_error", "loc": ["query", "cursor"], "msg": str(err)}]},
                            status_code=422)

    @app.exception_handler(BadTimeline)
    async def bad_timeline(_: Request, err: BadTimeline) -> JSONResponse:
        return JSONResponse({"detail": [{"type": "value_error", "loc": ["query"], "msg": str(err)}]}, status_code=422)

    route: dict[str, Any] = dict(response_model=list[WorkflowRun], tags=["Runs"], summary="Get all runs",
                                 description=docs.DESCRIPTION, operation_id="get_workflow_runs_v1_workflows_runs_get",
                                 openapi_extra={"x-fern-sdk-method-name": "get_workflow_runs"})  # the platform's SDKs
    for path in PATHS:
        app.get(path, include_in_schema=path == "/v1/agents/runs", **route)(get_workflow_runs)

    @app.exception_handler(InvalidCredentials)
    async def invalid_credentials(_: Request, __: InvalidCredentials) -> JSONResponse:
        return JSONResponse({"detail": "Invalid credentials"}, status_code=403)

    @app.exception_handler(Unavailable)
    async def unavailable(_: Request, err: Unavailable) -> JSONResponse:
        cause = err.__cause__
        # The status and OpenSearch's error type say whether a node was unreachable or a search failed on the copies
        # left; its message may quote the query (searched values), so it is not logged.
        log.warning("search unavailable", extra={"fields": {
            "call": str(err), "error": type(cause).__name__,
            "status": getattr(cause, "status_code", None), "opensearch_error": getattr(cause, "error", None)}})
        return JSONResponse({"detail": "Search is temporarily unavailable; retry shortly"}, status_code=503)

    @app.exception_handler(OtherSchema)
    async def other_schema(_: Request, __: OtherSchema) -> JSONResponse:
        log.error("the served generation has another version's mappings: run `runsearch reindex` with this version")
        return JSONResponse({"detail": "Search is being upgraded; retry later"}, status_code=503)

    @app.exception_handler(PageTooDeep)
    async def page_too_deep(request: Request, err: PageTooDeep) -> JSONResponse:
        detail = [{"type": "value_error", "loc": ["query", "page"], "msg": str(err), "input": request.query_params.get("page"),
                   "ctx": {"max_result_window": settings.max_result_window}}]
        return JSONResponse({"detail": detail}, status_code=422)

    dashboard = resources.files(__package__).joinpath("dashboard.html").read_text()

    @app.get("/dashboard", include_in_schema=False)
    async def get_dashboard() -> HTMLResponse:
        """A page over the three endpoints (api/dashboard.html): no build step, nothing loaded from elsewhere."""
        return HTMLResponse(dashboard)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        os = request.app.state.os
        try:
            # Served, and built with this version's mappings (an older generation's runs cannot be read: 503s).
            ready = bool(await os.indices.exists_alias(name=names.read_alias("keys"))) and \
                bool(await os.indices.exists_alias(name=names.read_alias("runs"))) and \
                all(mappings.stamp(index["mappings"]) == mappings.schema()
                    for index in (await os.indices.get_mapping(index=names.read_alias("runs"))).values())
        except (OpenSearchConnectionError, TransportError):
            ready = False
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    if settings.cors_origins:
        # A dashboard on another origin: simple GETs with the key header, nothing credentialed by cookies.
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET"],
                           allow_headers=["x-api-key"], max_age=600)
    # Pages of runs shrink 9-18x (11.9 KB -> 1.35 KB for 10 runs) for clients that ask; level 5: 0.08 ms for 10 runs,
    # 0.6 ms for 100 (level 9, Starlette's default, 1.9 ms for 4.9 KB instead of 6.0 KB). README: "Compression".
    # The listing's answers come compressed already (`Answer`, compressed once for every poll the cache answers).
    app.add_middleware(GZipMiddleware, minimum_size=settings.gzip_minimum_bytes, compresslevel=GZIP_LEVEL)
    app.add_middleware(RequestLimits)
    app.add_middleware(AccessLog)  # added last: outermost, so refused requests are logged and measured too
    return app
