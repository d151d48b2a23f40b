"""The baseline endpoints: `GET /v1/agents/runs` answered the way the platform does today, with SQL on
PostgreSQL, behind the same server (FastAPI on uvicorn), request parameters and JSON response as runsearch; and the
counts its SQL can give for `/v1/agents/runs/stats` (total and by status)."""

# No `from __future__ import annotations` here: FastAPI must resolve the annotations of the nested handlers.
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from runsearch.api import docs
from runsearch.api.auth import InvalidCredentials, claims
from runsearch.bench.platform import AUTHENTICATE, count_by_status, list_runs, row_from_database
from runsearch.indexer.rows import WorkflowRunRow


def render(record: dict[str, Any]) -> dict[str, Any]:
    """A selected row as the platform's WorkflowRun (the same rendering runsearch's indexer does)."""
    title = record.pop("workflow_title")
    run = WorkflowRunRow.model_validate(row_from_database(record)).data()["response"]
    run["workflow_title"] = title
    return run


def create_baseline_app(dsn: str, jwt_secret: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncConnectionPool(dsn, min_size=4, max_size=16, kwargs={"row_factory": dict_row}) as pool:
            app.state.pool = pool
            yield

    app = FastAPI(title="platform baseline", lifespan=lifespan)

    async def organization(request: Request, x_api_key: docs.ApiKey = None) -> str:
        org = claims(x_api_key, jwt_secret).organization
        async with request.app.state.pool.connection() as conn:
            found = await (await conn.execute(AUTHENTICATE, {"org": org, "token": x_api_key})).fetchone()
        if found is None:
            raise InvalidCredentials
        return org

    @app.get("/v1/agents/runs")
    async def get_workflow_runs(
        request: Request,
        asked: Annotated[docs.Listing, Depends(docs.listing)],
        organization_id: Annotated[str, Depends(organization)],
    ) -> Response:
        sql, params = list_runs(organization_id, asked.filters, asked.page, asked.page_size)
        async with request.app.state.pool.connection() as conn:
            rows = await (await conn.execute(sql, params)).fetchall()
        return Response(orjson.dumps([render(r) for r in rows]), media_type="application/json")

    @app.get("/v1/agents/runs/stats")
    async def get_workflow_run_stats(
        request: Request,
        asked: Annotated[docs.StatsRequest, Depends(docs.stats_request)],
        organization_id: Annotated[str, Depends(organization)],
    ) -> dict[str, Any]:
        """The counts the platform's SQL can give: the total and by status (`COUNT(*) ... GROUP BY status`)."""
        sql, params = count_by_status(organization_id, asked.filters)
        async with request.app.state.pool.connection() as conn:
            rows = await (await conn.execute(sql, params)).fetchall()
        by_status = {r["status"]: r["runs"] for r in rows}
        return {"total": sum(by_status.values()), "by_status": by_status}

    @app.exception_handler(InvalidCredentials)
    async def invalid_credentials(_: Request, __: InvalidCredentials) -> JSONResponse:
        return JSONResponse({"detail": "Invalid credentials"}, status_code=403)

    return app
