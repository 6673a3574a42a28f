"""What every service shares: input limits, error responses and the /metrics route.

Errors are JSON ``{"detail": "..."}`` with a status a client can act on; no stack trace leaves
the process, and logs name the error type, never the ticket text.
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from callcenterai.config import Settings
from callcenterai.services.metrics import MetricsMiddleware, ServiceMetrics, endpoint_of
from callcenterai.services.schemas import declare_limits


def check_text(text: str, settings: Settings, field: str = "text") -> None:
    if not text.strip():
        raise HTTPException(422, f"{field} is empty: send the ticket's text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate such as "\ud800" in the JSON
        raise HTTPException(
            422, f"{field} is not valid Unicode text (character {exc.start} is a lone surrogate)"
        ) from None
    if len(text) > settings.max_text_chars:
        raise HTTPException(
            413, f"{field} has {len(text)} characters; the limit is {settings.max_text_chars}"
        )


def check_batch(texts: list[str], settings: Settings) -> None:
    if not texts:
        raise HTTPException(422, "texts is empty: send at least one ticket")
    if len(texts) > settings.max_batch_size:
        raise HTTPException(
            413, f"{len(texts)} texts in one batch; limit is {settings.max_batch_size}"
        )
    for index, text in enumerate(texts):
        check_text(text, settings, field=f"texts[{index}]")


def _endpoint(request: Request) -> str:
    return endpoint_of(request.scope)


def _validation_message(exc: RequestValidationError) -> tuple[int, str]:
    errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in errors):
        return 400, "the request body is not valid JSON"
    parts = []
    for error in errors[:3]:
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return 422, "; ".join(parts)


def body_limit(settings: Settings, texts: int = 1) -> int:
    """The most bytes a request body may have: ``texts`` tickets of the longest allowed text,
    each character as JSON's longest escape (12 bytes: a character beyond the BMP, such as an
    emoji, is a surrogate pair ``\\ud83d\\ude00`` in ASCII-only JSON, the default of Python's
    ``json.dumps``), and room for the rest of the body."""
    return 12 * settings.max_text_chars * texts + 16_384


class BodyLimitMiddleware:
    """ASGI middleware: a body over ``max_bytes`` is refused with 413 while it is being read
    (``Content-Length`` first, then the bytes actually received), before it is parsed and before
    the API-key check, so a 100 MB body never reaches memory."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    def _detail(self) -> str:
        return (
            f"the request body is over {self.max_bytes} bytes; send one ticket of at most the limit"
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await JSONResponse({"detail": self._detail()}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def limited():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:  # a chunked body without Content-Length
                    raise HTTPException(413, self._detail())
            return message

        await self.app(scope, limited, send)


def declare_input_limits(app: FastAPI, settings: Settings) -> None:
    """Serve an OpenAPI schema that states this process's limits (``max_text_chars``,
    ``max_batch_size``): they are settings, and generated clients should know the ones in force."""
    generate = app.openapi  # FastAPI's, which builds the schema once and keeps it

    def openapi() -> dict:
        return declare_limits(generate(), settings.max_text_chars, settings.max_batch_size)

    app.openapi = openapi


def install_common(app: FastAPI, metrics: ServiceMetrics, max_body_bytes: int) -> None:
    """Error handlers, the body-size limit, the metrics middleware and ``GET /metrics``."""

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError):
        status, message = _validation_message(exc)
        metrics.error(_endpoint(request), "invalid_json" if status == 400 else "validation")
        return JSONResponse({"detail": message}, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code >= 400:
            metrics.error(_endpoint(request), f"http_{exc.status_code}")
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)  # inside the metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics)
