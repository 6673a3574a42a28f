"""The agent: the front door of CallCenterAI (``POST /classify`` and the chat page at ``/``).

For each ticket, in this order: input limits; PII scrubbing (structured identifiers, then
person names in the detected language); language, length and complexity; the routing policy
(:mod:`callcenterai.agent.routing`); the model services over HTTP, with timeouts and a circuit
breaker each; the answer with an explanation of the choice. Only scrubbed text leaves this
function: the model services, the logs and the metrics never see the raw ticket.

If the model the policy wanted fails, the other one answers and the explanation and
``callcenterai_fallbacks`` say so; if both fail, 503. A forced model that fails is a 503 too:
the caller asked for that model, not for any answer. Such a 503 says when to retry
(``Retry-After``: what is left of the breaker's pause, or a couple of seconds).

Every answered ticket is recorded in the ticket store (:mod:`callcenterai.tickets`), scrubbed
text only, off the response path; its id comes back with the answer. A person corrects a
category with ``POST /tickets/{id}/feedback`` and works through ``GET /tickets/review``, the
tickets that need a human, most uncertain first.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import uuid
from contextlib import asynccontextmanager
from datetime import timedelta
from importlib import resources
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Path, Query
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import APIKeyHeader

from callcenterai.agent import pii
from callcenterai.agent.decision import Decision, decide
from callcenterai.agent.routing import TFIDF, TRANSFORMER, needs_transformer, plan_route
from callcenterai.agent.ticket import Scrubbed
from callcenterai.config import Settings, get_settings
from callcenterai.drift import Profile, compare, live_profile, load_reference
from callcenterai.errors import CallCenterAIError, ConfigurationError, one_line
from callcenterai.services.common import (
    body_limit,
    check_text,
    declare_input_limits,
    install_common,
)
from callcenterai.services.downstream import DownstreamError, ModelClient
from callcenterai.services.metrics import AgentMetrics
from callcenterai.services.schemas import (
    CURSOR_PATTERN,
    TICKET_ID_PATTERN,
    AgentHealth,
    Alternative,
    ClassifyRequest,
    ClassifyResponse,
    ErrorBody,
    Explanation,
    FeedbackRequest,
    FeedbackResponse,
    LanguageInfo,
    ModelRef,
    Prediction,
    ReviewPage,
    StoredTicket,
    StoreHealth,
)
from callcenterai.tickets.schema import Ticket
from callcenterai.tickets.store import (
    BadCursorError,
    StoreError,
    TicketStore,
    UnknownLabelError,
    UnknownTicketError,
    now,
    unknown_ticket,
)
from callcenterai.tickets.writer import TicketWriter

logger = logging.getLogger(__name__)
ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 413, 422, 503)}
TICKET_ERRORS = {code: {"model": ErrorBody} for code in (401, 404, 422, 503)}
FEEDBACK_ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 404, 413, 422, 503)}
# Added to the ``[{"APIKeyHeader": []}]`` FastAPI declares for a route that reads the key: "or no
# key" (OpenAPI's empty requirement), for the probes that answer everyone and say more with it.
OPTIONAL_KEY = {"security": [{}]}
ALTERNATIVES = 3
TicketId = Annotated[str, Path(pattern=TICKET_ID_PATTERN, description="From /classify.")]
STORE_RETRY_AFTER_S = "5"


def alternatives(probabilities: dict[str, float], top: int = ALTERNATIVES) -> list[Alternative]:
    ranked = sorted(probabilities.items(), key=lambda item: (-item[1], item[0]))[:top]
    return [Alternative(label=label, probability=round(p, 4)) for label, p in ranked]


def store_unavailable(exc: Exception) -> HTTPException:
    return HTTPException(503, f"{exc}; retry later", headers={"Retry-After": STORE_RETRY_AFTER_S})


def stored_ticket(ticket: Ticket) -> StoredTicket:
    return StoredTicket(
        ticket_id=ticket.id,
        created_at=ticket.created_at,
        text=ticket.text,
        channel=ticket.channel,
        language=LanguageInfo(code=ticket.language, confidence=ticket.language_confidence),
        label=ticket.label,
        confidence=ticket.confidence,
        alternatives=alternatives(ticket.probabilities),
        model_used=ticket.model_kind,
        model=ModelRef(name=ticket.model_name, version=ticket.model_version),
        reason=ticket.explanation,
        review_reasons=ticket.review_reason.split(",") if ticket.review_reason else [],
        tfidf_label=ticket.tfidf_label,
        transformer_label=ticket.transformer_label,
        correction=ticket.correction.label if ticket.correction else None,
    )


class Agent:
    """The classification flow, over two model clients; the routes stay thin."""

    def __init__(self, settings: Settings, metrics: AgentMetrics):
        self.settings, self.metrics = settings, metrics
        self.policy = settings.route
        common = dict(
            breaker_failures=settings.breaker_failures,
            breaker_reset_s=settings.breaker_reset_s,
            metrics=metrics,
        )
        self.clients = {
            TFIDF: ModelClient(TFIDF, settings.tfidf_url, settings.tfidf_timeout_s, **common),
            TRANSFORMER: ModelClient(
                TRANSFORMER, settings.transformer_url, settings.transformer_timeout_s, **common
            ),
        }
        self.models_seen: dict[str, tuple[str, str]] = {}  # kind -> (name, version) last seen
        self._shadows: set[asyncio.Task] = set()
        self._references: dict[tuple[str, str], Profile | None] = {}
        self.writer: TicketWriter | None = None
        if settings.store_enabled:
            self.writer = TicketWriter(
                TicketStore(settings.ticket_store_url),
                queue_size=settings.store_queue_size,
                retention_days=settings.store_retention_days,
                on_result=lambda outcome, rows: metrics.store_writes.labels(outcome).inc(rows),
                on_state=lambda up: metrics.store_up.set(1 if up else 0),
            )

    async def _call(self, kind: str, text: str, answers: dict, failures: dict) -> None:
        try:
            answers[kind] = await self.clients[kind].predict(text, explain=kind == TFIDF)
        except DownstreamError as exc:
            failures[kind] = exc.reason

    def _retry_after(self, failures: dict[str, str]) -> dict[str, str]:
        """``Retry-After`` of a 503: when the first of the failed services may answer again."""
        seconds = min(self.clients[kind].retry_after_s for kind in failures)
        return {"Retry-After": str(seconds)}

    async def classify(self, request: ClassifyRequest) -> ClassifyResponse:
        # CPU work (the name model takes a few ms): off the event loop, so that other tickets'
        # downstream calls go on meanwhile.
        scrubbed = await asyncio.get_running_loop().run_in_executor(
            None, Scrubbed, request.text, self.settings.pii_person_names
        )
        if len(scrubbed.text) > self.settings.max_text_chars:
            # Masks can be longer than what they replace ("::1" -> "[IP_ADDRESS]"): what is sent
            # downstream must fit the model services' limit, which is the same setting.
            raise HTTPException(
                413,
                f"text has {len(scrubbed.text)} characters once personal data is masked; the "
                f"limit is {self.settings.max_text_chars}",
            )
        signals = scrubbed.signals
        self.metrics.observe_ticket(signals.language, scrubbed.counts)
        plan = plan_route(signals, self.policy, request.force_model)
        answers: dict[str, Prediction] = {}
        failures: dict[str, str] = {}
        text = scrubbed.text

        await self._call(plan.first, text, answers, failures)
        if plan.forced:
            if failures:
                raise HTTPException(
                    503,
                    f"the forced model is unavailable: {plan.first} ({failures[plan.first]})",
                    headers=self._retry_after(failures),
                )
        elif plan.first == TFIDF:
            consult = TFIDF not in answers or needs_transformer(
                plan, answers[TFIDF].confidence, self.policy
            )
            if consult:
                await self._call(TRANSFORMER, text, answers, failures)
        elif failures:  # the transformer was wanted and failed: TF-IDF is the fallback
            await self._call(TFIDF, text, answers, failures)

        if not answers:
            detail = ", ".join(f"{kind} ({reason})" for kind, reason in failures.items())
            raise HTTPException(
                503,
                f"no model service answered: {detail}; retry later",
                headers=self._retry_after(failures),
            )
        decision = decide(plan, signals, self.policy, answers, failures)
        self._observe(decision, scrubbed)
        answer = decision.answer
        explanation = decision.explanation()
        ticket_id = self._record(decision, scrubbed, request.channel, explanation["reason"])
        return ClassifyResponse(
            ticket_id=ticket_id,
            label=answer.label,
            confidence=answer.confidence,
            alternatives=alternatives(answer.probabilities),
            model_used=decision.answered,
            model=answer.model,
            language=LanguageInfo(
                code=scrubbed.language.code, confidence=scrubbed.language.confidence
            ),
            pii=scrubbed.counts,
            scrubbed_text=scrubbed.text,
            channel=request.channel,
            explanation=Explanation(**explanation),
        )

    def _record(self, decision: Decision, scrubbed: Scrubbed, channel, reason: str) -> str | None:
        """Queue the ticket for the store (scrubbed text only); its id, or None if the store is
        off. Never waits for the database."""
        if self.writer is None:
            return None
        answer, answers = decision.answer, decision.answers
        for kind, given in answers.items():
            self.models_seen[kind] = (given.model.name, str(given.model.version))
        review = decision.review_reasons(self.settings.review_min_confidence)
        ticket_id = uuid.uuid4().hex
        self.writer.submit(
            {
                "id": ticket_id,
                "created_at": now(),
                "text": scrubbed.text,
                "channel": channel,
                "language": scrubbed.language.code,
                "language_confidence": float(scrubbed.language.confidence),
                "pii": scrubbed.counts,
                "label": answer.label,
                "confidence": float(answer.confidence),
                "probabilities": answer.probabilities,
                "model_kind": decision.answered,
                "model_name": answer.model.name,
                "model_version": str(answer.model.version),
                "route_reason": decision.route_reason,
                "explanation": reason,
                "tfidf_label": answers[TFIDF].label if TFIDF in answers else None,
                "tfidf_confidence": answers[TFIDF].confidence if TFIDF in answers else None,
                "transformer_label": answers[TRANSFORMER].label if TRANSFORMER in answers else None,
                "transformer_confidence": (
                    answers[TRANSFORMER].confidence if TRANSFORMER in answers else None
                ),
                "unknown_word_share": (
                    answers[TFIDF].unknown_word_share if TFIDF in answers else None
                ),
                "review_reason": ",".join(review) or None,
                "uncertainty": 1.0 - float(answer.confidence),
            }
        )
        self.metrics.store_backlog.set(self.writer.backlog)
        self._maybe_shadow(decision.answered, scrubbed.text, answer, ticket_id)
        return ticket_id

    # -- the shadow challenger ------------------------------------------------------------------

    def _maybe_shadow(self, kind: str, text: str, answer: Prediction, ticket_id: str) -> None:
        """Send a share of tickets to the staging model too, in a task the answer never waits
        for; its answer is stored beside production's."""
        share = self.settings.shadow_share
        if share <= 0 or random.random() >= share:  # nosec B311 - sampling, not security
            return
        if len(self._shadows) >= self.settings.shadow_max_in_flight:
            self.metrics.shadow.labels(kind, "busy").inc()
            return
        task = asyncio.get_running_loop().create_task(self._shadow(kind, text, answer, ticket_id))
        self._shadows.add(task)
        task.add_done_callback(self._shadows.discard)

    async def _shadow(self, kind: str, text: str, answer: Prediction, ticket_id: str) -> None:
        try:
            challenger = await self.clients[kind].challenger(text)
        except DownstreamError:
            self.metrics.shadow.labels(kind, "failed").inc()
            return
        if challenger is None:
            self.metrics.shadow.labels(kind, "no_challenger").inc()
            return
        agree = challenger.label == answer.label
        self.metrics.shadow.labels(kind, "agree" if agree else "disagree").inc()
        self.writer.submit(
            {
                "ticket_id": ticket_id,
                "created_at": now(),
                "model_kind": kind,
                "model_name": challenger.model.name,
                "challenger_version": str(challenger.model.version),
                "production_version": str(answer.model.version),
                "label": challenger.label,
                "confidence": float(challenger.confidence),
                "production_label": answer.label,
            },
            table="shadow",
        )

    # -- the ticket store: corrections and the review queue ---------------------------------------

    def _store(self) -> TicketWriter:
        if self.writer is None:
            raise HTTPException(
                503, "the ticket store is switched off (CALLCENTERAI_STORE_ENABLED=false)"
            )
        return self.writer

    def feedback(self, ticket_id: str, label: str) -> FeedbackResponse:
        writer = self._store()
        writer.flush()  # a ticket answered a moment ago may still be on its way to the store
        try:
            result = writer.store.correct(ticket_id, label)
        except UnknownTicketError as exc:
            raise HTTPException(404, str(exc)) from None
        except UnknownLabelError as exc:
            raise HTTPException(422, str(exc)) from None
        except StoreError as exc:
            raise store_unavailable(exc) from None
        right = result.label == result.predicted
        self.metrics.feedback.labels(result.status, "agreed" if right else "corrected").inc()
        logger.info("feedback: %s (model was %s)", result.status, "right" if right else "wrong")
        return FeedbackResponse(
            ticket_id=result.ticket_id,
            label=result.label,
            predicted=result.predicted,
            model_was_right=right,
            status=result.status,
            previous=result.previous,
        )

    def review(self, limit: int, cursor: str | None) -> ReviewPage:
        writer = self._store()
        writer.flush()
        try:
            tickets, next_cursor = writer.store.review_page(limit, cursor)
            waiting = writer.store.review_count()
        except BadCursorError as exc:
            raise HTTPException(422, str(exc)) from None
        except StoreError as exc:
            raise store_unavailable(exc) from None
        self.metrics.review_queue.set(waiting)
        return ReviewPage(
            tickets=[stored_ticket(t) for t in tickets], next_cursor=next_cursor, waiting=waiting
        )

    def ticket(self, ticket_id: str) -> StoredTicket:
        writer = self._store()
        writer.flush()
        try:
            ticket = writer.store.get(ticket_id)
        except StoreError as exc:
            raise store_unavailable(exc) from None
        if ticket is None:
            raise HTTPException(404, str(unknown_ticket(ticket_id)))
        return stored_ticket(ticket)

    # -- drift --------------------------------------------------------------------------------

    def _reference(self, name: str, version: str) -> Profile | None:
        key = (name, version)
        if key not in self._references:
            try:
                self._references[key] = load_reference(name, version, self.settings.tracking_uri)
            except CallCenterAIError as exc:  # a model from a folder, or trained before drift
                logger.warning("drift: no reference profile for %s v%s: %s", *key, one_line(exc))
                self._references[key] = None
        return self._references[key]

    def update_drift(self) -> dict[str, dict[str, float]]:
        """Compare the recent tickets with each model's reference; set the gauges."""
        if self.writer is None:
            return {}
        until = now()
        since = until - timedelta(hours=self.settings.drift_window_hours)
        results = {}
        for kind, (name, version) in list(self.models_seen.items()):
            reference = self._reference(name, version)
            if reference is None:
                continue
            try:
                live = live_profile(self.writer.store, kind, since, until)
            except StoreError as exc:
                logger.warning("drift: %s", one_line(exc))
                return results
            self.metrics.drift_tickets.labels(kind).set(live.tickets)
            if live.tickets < self.settings.drift_min_tickets:
                continue
            results[kind] = compare(reference, live)
            for feature, value in results[kind].items():
                self.metrics.drift.labels(kind, feature).set(value)
        return results

    async def watch_drift(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.settings.drift_interval_s)
            try:
                await loop.run_in_executor(None, self.update_drift)
            except Exception as exc:  # noqa: BLE001 - monitoring must never stop the agent
                logger.error("drift: unexpected %s", type(exc).__name__)

    def store_health(self) -> StoreHealth:
        if self.writer is None:
            return StoreHealth(status="off")
        return StoreHealth(
            status="ok" if self.writer.up else "down",
            backlog=self.writer.backlog,
            error=self.writer.error,
        )

    def _observe(self, decision: Decision, scrubbed: Scrubbed) -> None:
        """Metrics and the one log line of a ticket (no text, no PII)."""
        if decision.fallback:
            failed = decision.failed
            self.metrics.fallbacks.labels(
                failed, decision.answered, decision.failures[failed]
            ).inc()
        self.metrics.routes.labels(decision.answered, decision.route_reason).inc()
        answer = decision.answer
        self.metrics.observe_predictions(decision.answered, [answer.label], [answer.confidence])
        logger.info(
            "classified: model=%s reason=%s language=%s words=%d pii=%s",
            decision.answered,
            decision.route_reason,
            decision.signals.language,
            decision.signals.words,
            sum(scrubbed.counts.values()),
        )

    async def health(self) -> AgentHealth:
        states = await asyncio.gather(*(client.health() for client in self.clients.values()))
        downstream = dict(zip(self.clients, states))
        ready = sum(state["ready"] for state in states)
        return AgentHealth(
            status="ok" if ready == 2 else "degraded" if ready else "down",
            notice=notice(downstream),
            downstream=downstream,
            pii_person_names=self.settings.pii_person_names and pii.names_available(),
            store=self.store_health(),
            routing=self.policy.model_dump(),
        )

    def start(self) -> None:
        if self.writer is not None:
            self.writer.start()

    async def close(self) -> None:
        if self._shadows:  # let shadow calls in flight finish (each is bounded by its timeout)
            await asyncio.gather(*self._shadows, return_exceptions=True)
        for client in self.clients.values():
            await client.close()
        if self.writer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.writer.close)


def notice(downstream: dict[str, dict]) -> str | None:
    """One sentence for the chat page when a model service cannot answer."""
    waiting = [kind for kind, state in downstream.items() if not state["ready"]]
    if not waiting or len(waiting) == len(downstream):
        return None if not waiting else "No model is ready: tickets cannot be classified yet."
    kind, other = waiting[0], next(k for k in downstream if k not in waiting)
    status = downstream[kind]["status"]
    why = {
        "waiting": "has no model yet (it is being trained)",
        "loading": "is loading its model",
    }.get(status, "is not available")
    service = {TFIDF: "TF-IDF", TRANSFORMER: "transformer"}[kind]
    answering = {TFIDF: "TF-IDF", TRANSFORMER: "the transformer"}[other]
    return f"The {service} service {why}: {answering} answers every ticket until it is ready."


def key_matches(settings: Settings, key: str | None) -> bool:
    """Whether ``key`` is the configured API key (constant-time); always true without one."""
    if settings.api_key is None:
        return True
    # Compared as UTF-8 bytes: compare_digest refuses non-ASCII str (a 500 otherwise).
    given = (key or "").encode("utf-8", "surrogateescape")
    return bool(key) and secrets.compare_digest(
        given, settings.api_key.get_secret_value().encode("utf-8")
    )


API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False)


def api_key_guard(settings: Settings):
    """A dependency that requires ``X-API-Key`` when a key is configured."""

    def check(key: str | None = Depends(API_KEY_HEADER)) -> None:
        if not key_matches(settings, key):
            raise HTTPException(401, "missing or wrong API key: send it in the X-API-Key header")

    return check


def check_authentication(settings: Settings) -> None:
    """Fail closed when a key is required and missing; say loudly when the agent is open."""
    if settings.api_key is not None:
        return
    if settings.require_api_key:
        raise ConfigurationError(
            "CALLCENTERAI_REQUIRE_API_KEY is true but CALLCENTERAI_API_KEY is unset or empty: "
            "refusing to serve without authentication; set the key (in Kubernetes: the Secret "
            "named by agent.apiKey.existingSecret) or unset CALLCENTERAI_REQUIRE_API_KEY"
        )
    logger.warning(
        "no API key set (CALLCENTERAI_API_KEY): /classify and /tickets accept anyone; "
        "set one for any deployment beyond this machine"
    )


def chat_page(settings: Settings) -> str:
    page = resources.files("callcenterai.services").joinpath("static/chat.html").read_text("utf-8")
    return page.replace("{{AUTH}}", "true" if settings.api_key else "false")


def create_agent_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    check_authentication(settings)
    # httpx logs every downstream call at INFO; the agent logs one line per ticket instead.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    metrics = AgentMetrics("agent")
    agent = Agent(settings, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        agent.start()
        if settings.pii_person_names:
            # Load the name models now (seconds), not during the first customer's request.
            await asyncio.get_running_loop().run_in_executor(None, pii.warm_up)
        watcher = None
        if settings.drift_interval_s > 0 and agent.writer is not None:
            watcher = asyncio.create_task(agent.watch_drift())
        yield
        if watcher is not None:
            watcher.cancel()
        await agent.close()

    app = FastAPI(
        title="CallCenterAI agent",
        description="Scrubs PII, routes each ticket to the TF-IDF or the transformer service, "
        "and explains the choice. Chat page at `/`.",
        version="0.1.0",
        lifespan=lifespan,
        # With a key, the schema (every route and limit) is not for anyone who asks.
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url="/redoc" if settings.docs_enabled else None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.state.agent = agent
    install_common(app, metrics, body_limit(settings))
    declare_input_limits(app, settings)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key"],
        )
    page = chat_page(settings)

    @app.post(
        "/classify",
        response_model=ClassifyResponse,
        responses=ERRORS,
        dependencies=[Depends(api_key_guard(settings))],
    )
    async def classify(request: ClassifyRequest) -> ClassifyResponse:
        """Scrub, analyse, route and classify one ticket; the answer explains the choice."""
        check_text(request.text, settings)
        return await agent.classify(request)

    guard = [Depends(api_key_guard(settings))]

    @app.post(
        "/tickets/{ticket_id}/feedback",
        response_model=FeedbackResponse,
        responses=FEEDBACK_ERRORS,
        dependencies=guard,
    )
    def feedback(ticket_id: TicketId, body: FeedbackRequest) -> FeedbackResponse:
        """Record the correct category of a ticket (replaying the same one changes nothing)."""
        return agent.feedback(ticket_id, body.label)

    @app.get(
        "/tickets/review", response_model=ReviewPage, responses=TICKET_ERRORS, dependencies=guard
    )
    def review(
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Query(max_length=80, pattern=CURSOR_PATTERN)] = None,
    ) -> ReviewPage:
        """Tickets that need a human, most uncertain first (a page, and the next page's cursor)."""
        return agent.review(limit, cursor)

    @app.get(
        "/tickets/{ticket_id}",
        response_model=StoredTicket,
        responses=TICKET_ERRORS,
        dependencies=guard,
    )
    def ticket(ticket_id: TicketId) -> StoredTicket:
        """One stored ticket: its scrubbed text, its answer and its correction."""
        return agent.ticket(ticket_id)

    async def health_for(key: str | None) -> AgentHealth:
        """Everything with the key (or without a key configured); else only the status and the
        notice: internal URLs, versions, breaker and routing thresholds are not public."""
        body = await agent.health()
        return body if key_matches(settings, key) else AgentHealth.public(body)

    @app.get("/health", response_model=AgentHealth, openapi_extra=OPTIONAL_KEY)
    async def health(key: Annotated[str | None, Depends(API_KEY_HEADER)] = None) -> AgentHealth:
        """Liveness (always 200 while the agent runs) and the state of both model services."""
        return await health_for(key)

    @app.get(
        "/ready",
        response_model=AgentHealth,
        responses={503: {"model": AgentHealth}},
        openapi_extra=OPTIONAL_KEY,
    )
    async def ready(key: Annotated[str | None, Depends(API_KEY_HEADER)] = None) -> JSONResponse:
        """200 when at least one model service is ready, else 503."""
        body = await health_for(key)
        return JSONResponse(body.model_dump(), status_code=503 if body.status == "down" else 200)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def chat() -> HTMLResponse:
        return HTMLResponse(page)

    return app
