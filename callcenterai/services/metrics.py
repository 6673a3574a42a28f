"""The one metrics helper shared by every service: request, error, prediction and model metrics.

Label values come from small fixed sets only: route templates (not raw paths), status codes,
error types, model names and the model's own labels. Ticket text, client addresses and PII never
become a label.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from starlette.responses import JSONResponse

logger = logging.getLogger(__name__)

# Request latency buckets (seconds) per kind of service: TF-IDF answers in milliseconds, the
# transformer in tens of milliseconds, the agent adds its downstream calls.
LATENCY_BUCKETS = {
    "tfidf": (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1.0),
    "transformer": (0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0),
    "agent": (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0),
}
CONFIDENCE_BUCKETS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
KNOWN_METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}


def endpoint_of(scope) -> str:
    """The matched route's template (``/predict``), or ``unmatched``: never a raw path."""
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class ServiceMetrics:
    """Prometheus metrics of one service, in a registry of its own (one per app instance)."""

    def __init__(self, service: str):
        self.service = service
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "callcenterai_requests",
            "HTTP requests by endpoint (route template) and status code.",
            ["service", "endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "callcenterai_request_duration_seconds",
            "HTTP request latency.",
            ["service", "endpoint"],
            buckets=LATENCY_BUCKETS.get(service, LATENCY_BUCKETS["agent"]),
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "callcenterai_requests_in_flight",
            "Requests being served.",
            ["service"],
            registry=self.registry,
        )
        self.errors = Counter(
            "callcenterai_errors",
            "Requests that failed, by endpoint and error type.",
            ["service", "endpoint", "type"],
            registry=self.registry,
        )
        self.predictions = Counter(
            "callcenterai_predictions",
            "Predicted categories.",
            ["service", "model", "label"],
            registry=self.registry,
        )
        self.confidence = Histogram(
            "callcenterai_prediction_confidence",
            "Probability of the predicted category.",
            ["service", "model"],
            buckets=CONFIDENCE_BUCKETS,
            registry=self.registry,
        )
        self.model_info = Info(
            "callcenterai_model",
            "The model being served.",
            ["service"],
            registry=self.registry,
        )

    def set_model(self, kind: str, name: str, version: str, uri: str) -> None:
        self.model_info.labels(self.service).info(
            {"kind": kind, "name": name, "version": str(version), "uri": uri}
        )

    def observe_predictions(self, model: str, labels: Sequence[str], confidences) -> None:
        for label, confidence in zip(labels, confidences):
            self.predictions.labels(self.service, model, label).inc()
            self.confidence.labels(self.service, model).observe(float(confidence))

    def error(self, endpoint: str, kind: str) -> None:
        self.errors.labels(self.service, endpoint, kind).inc()

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class ModelMetrics(ServiceMetrics):
    """A model service's metrics: the common ones, and its following of the registry alias."""

    def __init__(self, service: str):
        super().__init__(service)
        self.reloads = Counter(
            "callcenterai_model_reloads",
            "New versions of the followed registry alias, by outcome (loaded, failed, "
            "registry_error: the registry could not be asked).",
            ["service", "outcome"],
            registry=self.registry,
        )
        self.reload_failed = Gauge(
            "callcenterai_model_reload_failed",
            "1 while the version the alias points to failed to load (the previous model keeps "
            "serving), else 0.",
            ["service"],
            registry=self.registry,
        )
        self.reload_failed.labels(service).set(0)
        self.micro_batch_dropped = Counter(
            "callcenterai_micro_batch_dropped",
            "Single-ticket /predict requests the micro-batcher did not compute, by reason: "
            "queue_full (answered 503 with Retry-After), cancelled (the client was gone before "
            "its turn).",
            ["service", "reason"],
            registry=self.registry,
        )
        for reason in ("queue_full", "cancelled"):
            self.micro_batch_dropped.labels(service, reason)


AGENT_LANGUAGES = ("en", "fr", "ar", "und")


class AgentMetrics(ServiceMetrics):
    """The agent's own metrics on top of the common ones: routing, fallbacks, PII, languages and
    downstream calls. Languages outside :data:`AGENT_LANGUAGES` count as ``other``."""

    def __init__(self, service: str = "agent"):
        super().__init__(service)
        self.routes = Counter(
            "callcenterai_routing_decisions",
            "Tickets answered, by the model that answered and the routing reason.",
            ["model", "reason"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "callcenterai_fallbacks",
            "Answers given by the other model because a downstream call failed.",
            ["failed", "answered", "reason"],
            registry=self.registry,
        )
        self.pii = Counter(
            "callcenterai_pii_entities",
            "PII entities scrubbed, by type (never their values).",
            ["type"],
            registry=self.registry,
        )
        self.languages = Counter(
            "callcenterai_ticket_languages",
            "Tickets by detected language.",
            ["language"],
            registry=self.registry,
        )
        self.downstream_latency = Histogram(
            "callcenterai_downstream_duration_seconds",
            "Latency of calls to the model services.",
            ["downstream"],
            buckets=LATENCY_BUCKETS["transformer"],
            registry=self.registry,
        )
        self.downstream_errors = Counter(
            "callcenterai_downstream_errors",
            "Failed calls to the model services, by reason.",
            ["downstream", "reason"],
            registry=self.registry,
        )
        self.breaker_open = Gauge(
            "callcenterai_circuit_open",
            "1 while the circuit breaker of a model service is open.",
            ["downstream"],
            registry=self.registry,
        )

        self.store_writes = Counter(
            "callcenterai_store_writes",
            "Rows (tickets, shadow predictions) handed to the ticket store, by outcome: stored, "
            "failed (database error), dropped (write queue full). The answer is given either way.",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ("stored", "failed", "dropped"):
            self.store_writes.labels(outcome)
        self.store_up = Gauge(
            "callcenterai_store_up",
            "1 while the ticket store's schema is in place and its last write succeeded.",
            registry=self.registry,
        )
        self.store_backlog = Gauge(
            "callcenterai_store_backlog",
            "Tickets waiting to be written to the ticket store.",
            registry=self.registry,
        )
        self.feedback = Counter(
            "callcenterai_feedback",
            "Corrections received, by result (recorded, updated, unchanged) and whether the "
            "model had been right (agreed) or not.",
            ["result", "verdict"],
            registry=self.registry,
        )
        self.shadow = Counter(
            "callcenterai_shadow_predictions",
            "Shadow calls to the staging model (the challenger), by model and result: agree or "
            "disagree with production, no_challenger, failed, busy (too many in flight).",
            ["model", "result"],
            registry=self.registry,
        )
        self.drift = Gauge(
            "callcenterai_drift",
            "Jensen-Shannon distance (0: same, 1: disjoint) between the recent tickets and the "
            "model's reference profile, by feature (language, words, confidence, label, "
            "unknown_words).",
            ["model", "feature"],
            registry=self.registry,
        )
        self.drift_tickets = Gauge(
            "callcenterai_drift_window_tickets",
            "Tickets in the drift window the model was asked about.",
            ["model"],
            registry=self.registry,
        )
        self.review_queue = Gauge(
            "callcenterai_review_queue",
            "Tickets waiting for a human in the review queue (updated when the queue is read).",
            registry=self.registry,
        )

    def observe_ticket(self, language: str, pii_counts: dict[str, int]) -> None:
        self.languages.labels(language if language in AGENT_LANGUAGES else "other").inc()
        for entity, count in pii_counts.items():
            self.pii.labels(entity).inc(count)


class MetricsMiddleware:
    """ASGI middleware: counts requests, times them and tracks in-flight ones.

    The endpoint label is the matched route's template (``/predict``), or ``unmatched``, so an
    attacker probing random paths cannot create new time series. An unexpected exception becomes
    a 500 JSON answer, an error count and one log line naming its type: without this, Starlette
    would log the whole traceback, whose messages may quote the input.
    """

    def __init__(self, app, metrics: ServiceMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": None}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        service = self.metrics.service
        self.metrics.in_flight.labels(service).inc()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:  # noqa: BLE001 - no trace leaves the service
            self.error(endpoint_of(scope), type(exc).__name__)
            logger.error("unexpected %s on %s", type(exc).__name__, endpoint_of(scope))
            if status["code"] is None:
                status["code"] = 500
                await JSONResponse({"detail": "internal error; see the service log"}, 500)(
                    scope, receive, send
                )
        finally:
            endpoint = endpoint_of(scope)
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
            self.metrics.in_flight.labels(service).dec()
            self.metrics.latency.labels(service, endpoint).observe(time.perf_counter() - started)
            code = str(status["code"] or 500)
            self.metrics.requests.labels(service, endpoint, method, code).inc()

    def error(self, endpoint: str, kind: str) -> None:
        self.metrics.error(endpoint, kind)
