"""Request size limits, checked before anything else runs: a URL or headers far beyond what any valid
request needs are refused at once, without authentication or a search. Plain ASGI, as cheap as the check.

The largest valid URL (`/v1/agents/runs/pages`) holds a 500-character `search_key` and `error_code` of 4-byte
characters, each percent-encoded, and a 2,000-character cursor (URL-safe base64): about 14 KB, hence 32 KiB."""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_URL_BYTES = 32 * 1024
MAX_HEADER_BYTES = 16 * 1024


class RequestLimits:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if len(scope.get("raw_path", b"")) + len(scope.get("query_string", b"")) > MAX_URL_BYTES:
                await _refuse(send, 414, f"URL longer than {MAX_URL_BYTES} bytes")
                return
            if sum(len(k) + len(v) for k, v in scope["headers"]) > MAX_HEADER_BYTES:
                await _refuse(send, 431, f"request headers longer than {MAX_HEADER_BYTES} bytes")
                return
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = orjson.dumps({"detail": detail})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
