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


def install_common(app: FastAPI, metrics: ServiceMetrics) -> None:
    """Error handlers, the metrics middleware and ``GET /metrics``."""

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

    app.add_middleware(MetricsMiddleware, metrics=metrics)
