"""The agent: the front door of CallCenterAI (``POST /classify`` and the chat page at ``/``).

For each ticket, in this order: input limits; PII scrubbing (structured identifiers, then
person names in the detected language); language, length and complexity; the routing policy
(:mod:`callcenterai.agent.routing`); the model services over HTTP, with timeouts and a circuit
breaker each; the answer with an explanation of the choice. Only scrubbed text leaves this
function: the model services, the logs and the metrics never see the raw ticket.

If the model the policy wanted fails, the other one answers and the explanation and
``callcenterai_fallbacks`` say so; if both fail, 503. A forced model that fails is a 503 too:
the caller asked for that model, not for any answer.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import Depends, FastAPI, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import APIKeyHeader

from callcenterai.agent import pii
from callcenterai.agent.decision import Decision, decide
from callcenterai.agent.routing import TFIDF, TRANSFORMER, needs_transformer, plan_route
from callcenterai.agent.ticket import Scrubbed
from callcenterai.config import Settings, get_settings
from callcenterai.services.common import check_text, install_common
from callcenterai.services.downstream import DownstreamError, ModelClient
from callcenterai.services.metrics import AgentMetrics
from callcenterai.services.schemas import (
    AgentHealth,
    ClassifyRequest,
    ClassifyResponse,
    ErrorBody,
    Explanation,
    LanguageInfo,
    Prediction,
)

logger = logging.getLogger(__name__)
ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 413, 422, 503)}


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

    async def _call(self, kind: str, text: str, answers: dict, failures: dict) -> None:
        try:
            answers[kind] = await self.clients[kind].predict(text, explain=kind == TFIDF)
        except DownstreamError as exc:
            failures[kind] = exc.reason

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
                    503, f"the forced model is unavailable: {plan.first} ({failures[plan.first]})"
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
            raise HTTPException(503, f"no model service answered: {detail}; retry later")
        decision = decide(plan, signals, self.policy, answers, failures)
        self._observe(decision, scrubbed)
        answer = decision.answer
        return ClassifyResponse(
            label=answer.label,
            confidence=answer.confidence,
            model_used=decision.answered,
            model=answer.model,
            language=LanguageInfo(
                code=scrubbed.language.code, confidence=scrubbed.language.confidence
            ),
            pii=scrubbed.counts,
            scrubbed_text=scrubbed.text,
            channel=request.channel,
            explanation=Explanation(**decision.explanation()),
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
            routing=self.policy.model_dump(),
        )

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()


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


def api_key_guard(settings: Settings):
    """A dependency that requires ``X-API-Key`` when a key is configured (constant-time check)."""
    header = APIKeyHeader(name="X-API-Key", auto_error=False)

    def check(key: str | None = Depends(header)) -> None:
        expected = settings.api_key.get_secret_value() if settings.api_key else None
        # Compared as UTF-8 bytes: compare_digest refuses non-ASCII str (a 500 otherwise).
        given = (key or "").encode("utf-8", "surrogateescape")
        if expected and not (key and secrets.compare_digest(given, expected.encode("utf-8"))):
            raise HTTPException(401, "missing or wrong API key: send it in the X-API-Key header")

    return check


def chat_page(settings: Settings) -> str:
    page = resources.files("callcenterai.services").joinpath("static/chat.html").read_text("utf-8")
    return page.replace("{{AUTH}}", "true" if settings.api_key else "false")


def create_agent_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # httpx logs every downstream call at INFO; the agent logs one line per ticket instead.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    metrics = AgentMetrics("agent")
    agent = Agent(settings, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.pii_person_names:
            # Load the name models now (seconds), not during the first customer's request.
            await asyncio.get_running_loop().run_in_executor(None, pii.warm_up)
        yield
        await agent.close()

    app = FastAPI(
        title="CallCenterAI agent",
        description="Scrubs PII, routes each ticket to the TF-IDF or the transformer service, "
        "and explains the choice. Chat page at `/`.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.agent = agent
    install_common(app, metrics)
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

    @app.get("/health", response_model=AgentHealth)
    async def health() -> AgentHealth:
        """Liveness (always 200 while the agent runs) and the state of both model services."""
        return await agent.health()

    @app.get("/ready", response_model=AgentHealth, responses={503: {"model": AgentHealth}})
    async def ready() -> JSONResponse:
        """200 when at least one model service is ready, else 503."""
        body = await agent.health()
        return JSONResponse(body.model_dump(), status_code=503 if body.status == "down" else 200)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def chat() -> HTMLResponse:
        return HTMLResponse(page)

    return app
